//! The Prometheus text exposition format (version 0.0.4), written by hand: `# HELP` and
//! `# TYPE` once per family, one line per sample, label values escaped, histograms as
//! cumulative `_bucket{le=..}` lines with `_sum` and `_count`.

use std::fmt::Write;

/// The content type scrapers expect for this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A text exposition being written.
#[derive(Default)]
pub struct Exposition {
    out: String,
}

/// A sample's value: counters and gauges of whole numbers print without a fraction.
pub enum Value {
    Int(u64),
    Float(f64),
}

impl Exposition {
    /// Starts a family; its samples follow.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", help.replace('\\', "\\\\").replace('\n', "\\n"));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: Value) {
        self.out.push_str(name);
        self.labels(labels, None);
        match value {
            Value::Int(v) => {
                let _ = writeln!(self.out, " {v}");
            }
            Value::Float(v) => {
                self.out.push(' ');
                self.float(v);
                self.out.push('\n');
            }
        }
    }

    /// A histogram's samples: `bounds` are the upper bounds of `counts` (the last count is the
    /// `+Inf` bucket, so `counts` has one more item), in the unit the family is named in.
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], bounds: &[f64], counts: &[u64], sum: f64) {
        debug_assert_eq!(bounds.len() + 1, counts.len());
        let mut cumulative = 0u64;
        for (i, c) in counts.iter().enumerate() {
            cumulative += c;
            let mut le = String::new();
            match bounds.get(i) {
                Some(b) => {
                    let _ = write!(le, "{b}");
                }
                None => le.push_str("+Inf"),
            }
            let _ = write!(self.out, "{name}_bucket");
            self.labels(labels, Some(&le));
            let _ = writeln!(self.out, " {cumulative}");
        }
        let _ = write!(self.out, "{name}_sum");
        self.labels(labels, None);
        self.out.push(' ');
        self.float(sum);
        self.out.push('\n');
        let _ = write!(self.out, "{name}_count");
        self.labels(labels, None);
        let _ = writeln!(self.out, " {cumulative}");
    }

    pub fn finish(self) -> String {
        self.out
    }

    fn labels(&mut self, labels: &[(&str, &str)], le: Option<&str>) {
        if labels.is_empty() && le.is_none() {
            return;
        }
        self.out.push('{');
        let mut first = true;
        for (k, v) in labels.iter().copied().chain(le.map(|le| ("le", le))) {
            if !first {
                self.out.push(',');
            }
            first = false;
            self.out.push_str(k);
            self.out.push_str("=\"");
            for ch in v.chars() {
                match ch {
                    '\\' => self.out.push_str("\\\\"),
                    '"' => self.out.push_str("\\\""),
                    '\n' => self.out.push_str("\\n"),
                    c => self.out.push(c),
                }
            }
            self.out.push('"');
        }
        self.out.push('}');
    }

    fn float(&mut self, v: f64) {
        if v.is_nan() {
            self.out.push_str("NaN");
        } else if v.is_infinite() {
            self.out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        } else {
            let _ = write!(self.out, "{v}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_samples_and_escaped_labels() {
        let mut e = Exposition::default();
        e.family("tg_total", "counter", "Calls.\nSecond line");
        e.sample("tg_total", &[("model", "a\"b\\c\nd"), ("status", "200")], Value::Int(3));
        e.sample("tg_rate", &[], Value::Float(0.25));
        e.sample("tg_rate", &[], Value::Float(f64::NAN));
        assert_eq!(
            e.finish(),
            "# HELP tg_total Calls.\\nSecond line\n# TYPE tg_total counter\n\
             tg_total{model=\"a\\\"b\\\\c\\nd\",status=\"200\"} 3\ntg_rate 0.25\ntg_rate NaN\n"
        );
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_in_inf() {
        let mut e = Exposition::default();
        e.histogram("h", &[("m", "x")], &[0.1, 1.0], &[2, 0, 1], 1.5);
        assert_eq!(
            e.finish(),
            "h_bucket{m=\"x\",le=\"0.1\"} 2\nh_bucket{m=\"x\",le=\"1\"} 2\nh_bucket{m=\"x\",le=\"+Inf\"} 3\n\
             h_sum{m=\"x\"} 1.5\nh_count{m=\"x\"} 3\n"
        );
    }
}
