//! Latency distributions as mergeable histograms over fixed log buckets: an hour's histogram
//! and another's add bucket by bucket, so a day's or a month's percentiles come from merged
//! hours, and land in the same bucket as the exact value (nearest-rank on the same counts).
//!
//! Buckets are HDR-style: one per millisecond below 16 ms, then 8 per power of two (each at
//! most 12.5 % wide) up to 2^31 ms; larger values count in the last bucket. Stored sparse as
//! text, `index:count` pairs joined by commas, so rows concatenated with a comma between them
//! (SQL `GROUP_CONCAT`/`string_agg`) read back as their merge.

use std::collections::BTreeMap;

/// Values below this have a bucket each.
const LINEAR: u64 = 16;
/// Sub-buckets per power of two, as bits.
const SUB_BITS: u32 = 3;
/// The highest power of two with buckets of its own.
const MAX_EXP: u32 = 31;
/// The index of the last bucket.
pub const LAST: u32 = LINEAR as u32 + (MAX_EXP - 4) * (1 << SUB_BITS) + ((1 << SUB_BITS) - 1);

/// The bucket of `ms` (negative values count as 0).
pub fn bucket_of(ms: i64) -> u32 {
    let v = ms.max(0) as u64;
    if v < LINEAR {
        return v as u32;
    }
    let exp = 63 - v.leading_zeros();
    if exp > MAX_EXP {
        return LAST;
    }
    let sub = ((v >> (exp - SUB_BITS)) & ((1 << SUB_BITS) - 1)) as u32;
    LINEAR as u32 + (exp - 4) * (1 << SUB_BITS) + sub
}

/// The values bucket `index` holds: `[low, high)`.
pub fn bounds(index: u32) -> (i64, i64) {
    if index < LINEAR as u32 {
        return (index as i64, index as i64 + 1);
    }
    let i = index - LINEAR as u32;
    let exp = 4 + i / (1 << SUB_BITS);
    let sub = (i % (1 << SUB_BITS)) as u64;
    let width = 1u64 << (exp - SUB_BITS);
    let low = (1u64 << exp) + sub * width;
    (low as i64, (low + width) as i64)
}

/// Counts per bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    counts: BTreeMap<u32, u64>,
}

impl Histogram {
    pub fn record(&mut self, ms: i64) {
        *self.counts.entry(bucket_of(ms)).or_default() += 1;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (i, n) in &other.counts {
            *self.counts.entry(*i).or_default() += n;
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// The nearest-rank `percent` percentile (the value at rank ⌈n·p/100⌉), as the middle of
    /// its bucket; `None` without samples.
    pub fn percentile(&self, percent: u64) -> Option<i64> {
        let n = self.total();
        if n == 0 {
            return None;
        }
        let rank = (n * percent).div_ceil(100).max(1);
        let mut seen = 0;
        for (i, c) in &self.counts {
            seen += c;
            if seen >= rank {
                let (low, high) = bounds(*i);
                return Some(low + (high - low - 1) / 2);
            }
        }
        unreachable!("rank ≤ total")
    }

    /// `index:count` pairs joined by commas, in bucket order; empty for no samples.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        for (i, n) in &self.counts {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(&format!("{i}:{n}"));
        }
        out
    }

    /// Reads [`encode`](Self::encode)'s text, or several joined by commas (their merge).
    /// Empty pieces are skipped; a malformed piece is an error.
    pub fn decode(text: &str) -> Result<Histogram, String> {
        let mut h = Histogram::default();
        h.add_encoded(text)?;
        Ok(h)
    }

    /// Merges encoded text into this histogram.
    pub fn add_encoded(&mut self, text: &str) -> Result<(), String> {
        for piece in text.split(',').filter(|p| !p.is_empty()) {
            let (i, n) = piece.split_once(':').ok_or_else(|| format!("bad histogram entry `{piece}`"))?;
            let i: u32 = i.parse().map_err(|_| format!("bad histogram bucket `{piece}`"))?;
            let n: u64 = n.parse().map_err(|_| format!("bad histogram count `{piece}`"))?;
            if i > LAST {
                return Err(format!("histogram bucket {i} out of range"));
            }
            *self.counts.entry(i).or_default() += n;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_in_order_and_are_narrow() {
        let mut last = 0;
        for v in (0..5_000).chain([65_535, 65_536, 1 << 30, (1 << 31) + 5, i64::MAX]) {
            let b = bucket_of(v);
            assert!(b >= last, "buckets grow with the value");
            last = b;
            let (low, high) = bounds(b);
            if b < LAST {
                assert!(low <= v && v < high, "{v} in [{low}, {high})");
                assert!((high - low) * 8 <= low.max(8), "bucket {b} is at most 12.5 % wide");
            }
        }
        assert_eq!(bucket_of(-5), 0);
        assert_eq!(bucket_of(i64::MAX), LAST);
        assert_eq!(bounds(bucket_of(16)), (16, 18));
    }

    #[test]
    fn merged_text_reads_back_as_the_merge() {
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        [3, 250, 251, 9_000].into_iter().for_each(|v| a.record(v));
        [250, 40].into_iter().for_each(|v| b.record(v));
        let joined = format!("{},{},", a.encode(), b.encode());
        let mut merged = a.clone();
        merged.merge(&b);
        assert_eq!(Histogram::decode(&joined).unwrap(), merged);
        assert_eq!(merged.total(), 6);
        assert_eq!(Histogram::decode("").unwrap().percentile(50), None);
        assert!(Histogram::decode("1:x").is_err() && Histogram::decode("99999:1").is_err());
    }

    #[test]
    fn percentiles_are_nearest_rank_in_the_exact_values_bucket() {
        let mut h = Histogram::default();
        let values: Vec<i64> = (1..=100).map(|v| v * 37).collect();
        values.iter().for_each(|v| h.record(*v));
        for p in [50, 95, 99, 100] {
            let exact = values[(values.len() * p as usize).div_ceil(100) - 1];
            assert_eq!(bucket_of(h.percentile(p).unwrap()), bucket_of(exact), "p{p}");
        }
    }
}
