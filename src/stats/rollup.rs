//! One rollup cell's numbers: what a set of finished calls adds up to. Cells merge by adding,
//! so an hour's cells make a day's and a query's groups (calls, outcomes, tokens, cost and
//! provider cost, and latency histograms).

use std::collections::BTreeMap;

use super::histogram::Histogram;

/// The parts of a finished call a rollup counts.
#[derive(Debug, Clone, Default)]
pub struct Sample<'a> {
    pub success: bool,
    pub error_class: Option<&'a str>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_tokens: i64,
    pub cache_write_tokens: i64,
    pub reasoning_tokens: i64,
    pub images: i64,
    pub cost: i64,
    /// What the call cost at the provider's price (`cost` minus this is the margin).
    pub provider_cost: i64,
    pub duration_ms: Option<i64>,
    pub ttft_ms: Option<i64>,
}

/// Sums over calls. Token and cost sums saturate rather than wrap (a sum past i64 is beyond any
/// real traffic; a wrapped one would be a lie).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rollup {
    pub calls: i64,
    pub successes: i64,
    pub failures: i64,
    /// Failures per error class (`other` when a failure names none).
    pub failures_by_class: BTreeMap<String, i64>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_tokens: i64,
    pub cache_write_tokens: i64,
    pub reasoning_tokens: i64,
    pub images: i64,
    /// Nano-credits charged.
    pub cost: i64,
    /// Nano-credits the calls cost at the provider's price (administrators' margin).
    pub provider_cost: i64,
    pub duration: Histogram,
    pub ttft: Histogram,
}

impl Rollup {
    pub fn add(&mut self, s: &Sample) {
        self.calls += 1;
        if s.success {
            self.successes += 1;
        } else {
            self.failures += 1;
            *self.failures_by_class.entry(s.error_class.unwrap_or("other").to_string()).or_default() += 1;
        }
        self.input_tokens = self.input_tokens.saturating_add(s.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(s.output_tokens);
        self.cached_tokens = self.cached_tokens.saturating_add(s.cached_tokens);
        self.cache_write_tokens = self.cache_write_tokens.saturating_add(s.cache_write_tokens);
        self.reasoning_tokens = self.reasoning_tokens.saturating_add(s.reasoning_tokens);
        self.images = self.images.saturating_add(s.images);
        self.cost = self.cost.saturating_add(s.cost);
        self.provider_cost = self.provider_cost.saturating_add(s.provider_cost);
        if let Some(d) = s.duration_ms {
            self.duration.record(d);
        }
        if let Some(t) = s.ttft_ms {
            self.ttft.record(t);
        }
    }

    pub fn merge(&mut self, o: &Rollup) {
        self.calls += o.calls;
        self.successes += o.successes;
        self.failures += o.failures;
        for (class, n) in &o.failures_by_class {
            *self.failures_by_class.entry(class.clone()).or_default() += n;
        }
        self.input_tokens = self.input_tokens.saturating_add(o.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(o.output_tokens);
        self.cached_tokens = self.cached_tokens.saturating_add(o.cached_tokens);
        self.cache_write_tokens = self.cache_write_tokens.saturating_add(o.cache_write_tokens);
        self.reasoning_tokens = self.reasoning_tokens.saturating_add(o.reasoning_tokens);
        self.images = self.images.saturating_add(o.images);
        self.cost = self.cost.saturating_add(o.cost);
        self.provider_cost = self.provider_cost.saturating_add(o.provider_cost);
        self.duration.merge(&o.duration);
        self.ttft.merge(&o.ttft);
    }
}

/// Failures per class as stored: `class:count` joined by commas (classes are snake_case
/// names, so neither separator occurs in them); several such texts joined by commas read back
/// as their sum, like histograms.
pub fn encode_classes(classes: &BTreeMap<String, i64>) -> String {
    classes.iter().map(|(c, n)| format!("{c}:{n}")).collect::<Vec<_>>().join(",")
}

pub fn add_encoded_classes(into: &mut BTreeMap<String, i64>, text: &str) -> Result<(), String> {
    for piece in text.split(',').filter(|p| !p.is_empty()) {
        let (class, n) = piece.rsplit_once(':').ok_or_else(|| format!("bad failure class entry `{piece}`"))?;
        let n: i64 = n.parse().map_err(|_| format!("bad failure class count `{piece}`"))?;
        *into.entry(class.to_string()).or_default() += n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_add_and_merge_alike() {
        let ok = Sample {
            success: true,
            input_tokens: 10,
            cost: 7,
            provider_cost: 5,
            duration_ms: Some(120),
            ..Sample::default()
        };
        let bad = Sample { error_class: Some("upstream_error"), duration_ms: Some(30), ..Sample::default() };
        let mut one = Rollup::default();
        [&ok, &bad, &ok].into_iter().for_each(|s| one.add(s));
        let (mut a, mut b) = (Rollup::default(), Rollup::default());
        a.add(&ok);
        b.add(&bad);
        b.add(&ok);
        a.merge(&b);
        assert_eq!(a, one);
        assert_eq!((one.calls, one.successes, one.failures, one.input_tokens, one.cost), (3, 2, 1, 20, 14));
        assert_eq!(one.provider_cost, 10);
        let text = encode_classes(&one.failures_by_class);
        let mut back = BTreeMap::new();
        add_encoded_classes(&mut back, &format!("{text},,{text}")).unwrap();
        assert_eq!(back["upstream_error"], 2);
    }
}
