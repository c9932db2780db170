//! `RESULTS.md`: the tables (overhead and throughput, other mock modes, streaming, held
//! streams, per-feature breakdown, ratios) and the check of the targets.

use std::fmt::Write;

use crate::machine::Machine;
use crate::plan::Settings;
use crate::results::{Cell, Results};

const DIRECT: &str = "direct";
const FLOOR: &str = "floor";

fn num(x: f64, decimals: usize) -> String {
    if x.is_finite() { format!("{x:.decimals$}") } else { "—".into() }
}

fn ms(x: f64) -> String {
    num(x, 3)
}

/// Milliseconds shown as whole microseconds.
fn us(x_ms: f64) -> String {
    num(x_ms * 1000.0, 0)
}

fn mb(kb: u64) -> String {
    if kb == 0 { "—".into() } else { format!("{:.1}", kb as f64 / 1024.0) }
}

fn row(out: &mut String, cells: &[String]) {
    let _ = writeln!(out, "| {} |", cells.join(" | "));
}

fn header(out: &mut String, cols: &[&str]) {
    row(out, &cols.iter().map(|c| c.to_string()).collect::<Vec<_>>());
    row(out, &cols.iter().map(|_| "---".to_string()).collect::<Vec<_>>());
}

struct View<'a> {
    r: &'a Results,
}

impl View<'_> {
    fn cell(&self, config: &str, target: &str) -> Option<&Cell> {
        self.r.cell(config, target)
    }

    fn get(&self, config: &str, target: &str, f: impl Fn(&Cell) -> f64) -> f64 {
        self.cell(config, target).map_or(f64::NAN, f)
    }

    /// Added latency, or "—" for direct itself.
    fn added(&self, config: &str, target: &str, q: f64) -> String {
        if target == DIRECT { "—".into() } else { us(self.get(config, target, |c| c.added_ms(q))) }
    }

    /// The sweep's peak rate; NaN when no rate passed.
    fn peak(&self, target: &str) -> f64 {
        let peaks: Vec<f64> = if target == DIRECT {
            self.r.direct_sweeps.iter().filter_map(|s| s.peak).collect()
        } else {
            self.r.summaries.get(target).and_then(|s| s.sweep.as_ref()).and_then(|s| s.peak).into_iter().collect()
        };
        if peaks.is_empty() { f64::NAN } else { peaks.iter().sum::<f64>() / peaks.len() as f64 }
    }

    /// Errors in the closed-loop runs (sweep errors only mark a rate as too high).
    fn errors(&self, target: &str) -> u64 {
        self.r.cells.iter().filter(|((_, t), _)| t == target).map(|(_, c)| c.target.errors).sum()
    }

    fn tollgates(&self) -> Vec<&String> {
        self.r.targets.iter().filter(|t| t.starts_with("tollgate")).collect()
    }

    fn peers(&self) -> Vec<&String> {
        self.r.targets.iter().filter(|t| ![DIRECT, FLOOR].contains(&t.as_str()) && !t.starts_with("tollgate")).collect()
    }
}

pub fn render(r: &Results, s: &Settings, m: &Machine, command: &str) -> String {
    let v = View { r };
    let mut out = String::new();
    let _ = writeln!(out, "# Tollgate benchmark results\n");
    let _ = writeln!(
        out,
        "Measured {} on commit `{}` with `{command}`{} ({:.0} s).\n",
        m.date,
        m.commit,
        if s.smoke { " — a smoke run: too short for its numbers to mean anything" } else { "" },
        r.wall.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "Machine: {} cores ({}), {} memory, {}. Load generator, mock upstream and target share these cores. \
         Load average (1/5/15 min) {} at the start, {} at the end: anything above ~0.5 at the start means \
         other work shared the machine.\n",
        m.cores, m.cpu, m.memory, m.kernel, r.load_before, r.load_after
    );
    method(&mut out, s);
    overhead_table(&mut out, &v, s);
    modes_table(&mut out, &v);
    stream_table(&mut out, &v, s);
    hold_table(&mut out, &v, s);
    breakdown_table(&mut out, &v);
    ratio_table(&mut out, &v);
    targets_check(&mut out, &v);
    appendix(&mut out, &v);
    out
}

fn method(out: &mut String, s: &Settings) {
    let _ = writeln!(
        out,
        "How: every target is measured by the bench's own load generator (hyper, keep-alive HTTP/1.1) in \
         {} rounds of {:.1} s (after {:.1} s of warm-up), each target run right after a **direct** run \
         (generator → mock), so \"added\" = target − the direct runs interleaved with it. **floor** is \
         `floor-proxy`, a bare hyper pass-through. **tollgate-sqlite** / **tollgate-postgres** run with \
         every feature on: key auth, rate limits and budget on the key (set far above what the bench \
         sends), price, credit reservation, exact charge to the ledger, usage record (journal line + \
         batched database write); the breakdown below switches features off one by one. Peak rate: open \
         loop at a fixed rate over {} connections, latency from the scheduled send time (coordinated \
         omission corrected; tokio's 1 ms timer adds up to 1 ms to every open-loop latency, the same for \
         all targets); the highest rate with p99 < {} ms and no errors, by a {}-step binary search per \
         target, all targets' searches in lockstep. CPU: utime+stime of the target's process tree (for \
         direct: the mock's) per 1,000 requests; it excludes the mock and the generator.\n",
        s.rounds,
        s.measure.as_secs_f64(),
        s.warmup.as_secs_f64(),
        s.open_conns,
        s.sweep_p99.as_millis(),
        s.sweep_steps
    );
}

fn overhead_table(out: &mut String, v: &View, s: &Settings) {
    let _ = writeln!(out, "## Overhead and throughput (mock answers at once, ~450 B)\n");
    header(
        out,
        &[
            "target",
            "p50 c1 ms",
            "p99 c1 ms",
            "added p50 c1 µs",
            "added p99 c1 µs",
            "req/s c16",
            "req/s c64",
            "p99 c64 ms",
            &format!("peak req/s (p99<{}ms)", s.sweep_p99.as_millis()),
            "CPU ms/1k req (c64)",
            "RSS idle MB",
            "RSS peak MB",
            "errors",
        ],
    );
    for t in &v.r.targets {
        let sum = v.r.summaries.get(t);
        row(
            out,
            &[
                t.clone(),
                ms(v.get("fast c1", t, |c| c.target.latency_ms(0.5))),
                ms(v.get("fast c1", t, |c| c.target.latency_ms(0.99))),
                v.added("fast c1", t, 0.5),
                v.added("fast c1", t, 0.99),
                num(v.get("fast c16", t, |c| c.target.rate()), 0),
                num(v.get("fast c64", t, |c| c.target.rate()), 0),
                ms(v.get("fast c64", t, |c| c.target.latency_ms(0.99))),
                num(v.peak(t), 0),
                num(v.get("fast c64", t, Cell::cpu_ms_per_1k), 0),
                mb(sum.map_or(0, |s| s.idle_kb)),
                mb(sum.map_or(0, |s| s.load_peak_kb)),
                v.errors(t).to_string(),
            ],
        );
    }
    let _ = writeln!(out);
}

fn modes_table(out: &mut String, v: &View) {
    let _ = writeln!(out, "## Other mock modes\n");
    let _ = writeln!(out, "large: ~10 KB response, 0 ms. slow: ~450 B after 20 ms ± 5 ms.\n");
    header(
        out,
        &[
            "target",
            "large c1 p50 ms",
            "added p50 µs",
            "added p99 µs",
            "large c64 req/s",
            "slow c16 p50 ms",
            "slow p99 ms",
            "added p50 µs",
            "added p99 µs",
            "slow c16 req/s",
        ],
    );
    for t in &v.r.targets {
        row(
            out,
            &[
                t.clone(),
                ms(v.get("large c1", t, |c| c.target.latency_ms(0.5))),
                v.added("large c1", t, 0.5),
                v.added("large c1", t, 0.99),
                num(v.get("large c64", t, |c| c.target.rate()), 0),
                ms(v.get("slow c16", t, |c| c.target.latency_ms(0.5))),
                ms(v.get("slow c16", t, |c| c.target.latency_ms(0.99))),
                v.added("slow c16", t, 0.5),
                v.added("slow c16", t, 0.99),
                num(v.get("slow c16", t, |c| c.target.rate()), 0),
            ],
        );
    }
    let _ = writeln!(out);
}

fn stream_table(out: &mut String, v: &View, s: &Settings) {
    let chunks = if s.smoke { "8 chunks" } else { "64 chunks" };
    let _ = writeln!(out, "## Streaming ({chunks} 20 ms apart, 32 concurrent streams)\n");
    header(
        out,
        &[
            "target",
            "TTFB p50 ms",
            "TTFB p99 ms",
            "added TTFB p50 µs",
            "added TTFB p99 µs",
            "mean gap ms",
            "added mean gap µs",
            "p99 gap ms",
            "streams",
            "errors",
        ],
    );
    let c = "stream c32";
    for t in &v.r.targets {
        let direct = t == DIRECT;
        row(
            out,
            &[
                t.clone(),
                ms(v.get(c, t, |c| c.target.first_byte_ms(0.5))),
                ms(v.get(c, t, |c| c.target.first_byte_ms(0.99))),
                if direct { "—".into() } else { us(v.get(c, t, |c| c.added_first_byte_ms(0.5))) },
                if direct { "—".into() } else { us(v.get(c, t, |c| c.added_first_byte_ms(0.99))) },
                ms(v.get(c, t, |c| c.target.gap_mean_ms())),
                if direct { "—".into() } else { us(v.get(c, t, Cell::added_gap_mean_ms)) },
                ms(v.get(c, t, |c| c.target.gap_ms(0.99))),
                v.get(c, t, |c| c.target.ok as f64).to_string(),
                v.get(c, t, |c| c.target.errors as f64).to_string(),
            ],
        );
    }
    let _ = writeln!(out, "\nTTFB: from sending the request to the first body frame (the first SSE event).\n");
}

fn hold_table(out: &mut String, v: &View, s: &Settings) {
    let _ = writeln!(out, "## {} concurrent streams held open\n", s.hold_streams);
    let _ = writeln!(out, "All connections are opened first, then every stream starts at once and lasts ~5 s.\n");
    header(out, &["target", "ok", "errors", "RSS idle MB", "RSS peak while held MB", "TTFB p99 ms", "first error"]);
    for t in &v.r.targets {
        let Some(sum) = v.r.summaries.get(t) else { continue };
        let Some(h) = &sum.hold else { continue };
        row(
            out,
            &[
                t.clone(),
                h.stats.ok.to_string(),
                h.stats.errors.to_string(),
                mb(sum.idle_kb),
                mb(h.peak_kb),
                ms(h.stats.first_byte_ms(0.99)),
                h.stats.error_samples.first().cloned().unwrap_or_default(),
            ],
        );
    }
    let _ = writeln!(out);
}

fn breakdown_table(out: &mut String, v: &View) {
    let _ = writeln!(out, "## Per-feature breakdown (0 ms mock)\n");
    header(out, &["target", "features", "added p50 c1 µs", "added p99 c1 µs", "req/s c64", "CPU ms/1k req (c64)"]);
    for t in v.tollgates() {
        row(out, &[t.clone(), "auth only".into(), "n/a: usage records cannot be switched off".into()]);
        for (features, c1, c64) in [
            ("auth + usage record (free model, key without limits)", "free c1", "free c64"),
            ("+ price, reservation, charge, ledger (priced model)", "nolimits c1", "nolimits c64"),
            ("+ rate limits and budget on the key (all features)", "fast c1", "fast c64"),
        ] {
            row(
                out,
                &[
                    t.clone(),
                    features.into(),
                    v.added(c1, t, 0.5),
                    v.added(c1, t, 0.99),
                    num(v.get(c64, t, |c| c.target.rate()), 0),
                    num(v.get(c64, t, Cell::cpu_ms_per_1k), 0),
                ],
            );
        }
    }
    let _ = writeln!(out);
}

/// Ratio a / b, "—" when either is missing or b is not positive.
fn ratio(a: f64, b: f64) -> String {
    if a.is_finite() && b.is_finite() && b > 0.0 { format!("{:.2}", a / b) } else { "—".into() }
}

fn ratio_table(out: &mut String, v: &View) {
    let _ = writeln!(out, "## Ratios\n");
    header(
        out,
        &[
            "ratio",
            "added p50 c1",
            "added p99 c1",
            "req/s c64",
            "peak req/s",
            "CPU/1k req",
            "RSS idle",
            "added TTFB p50",
        ],
    );
    let fig = |t: &str| -> [f64; 7] {
        let sum = v.r.summaries.get(t);
        [
            v.get("fast c1", t, |c| c.added_ms(0.5)),
            v.get("fast c1", t, |c| c.added_ms(0.99)),
            v.get("fast c64", t, |c| c.target.rate()),
            v.peak(t),
            v.get("fast c64", t, Cell::cpu_ms_per_1k),
            sum.map_or(f64::NAN, |s| s.idle_kb as f64),
            v.get("stream c32", t, |c| c.added_first_byte_ms(0.5)),
        ]
    };
    for t in v.tollgates() {
        for other in std::iter::once(&FLOOR.to_string()).chain(v.peers()) {
            let (a, b) = (fig(t), fig(other));
            let mut cells = vec![format!("{t} / {other}")];
            cells.extend(a.iter().zip(b.iter()).map(|(x, y)| ratio(*x, *y)));
            row(out, &cells);
        }
    }
    let _ = writeln!(
        out,
        "\nBelow 1 is better for latency, CPU and memory; above 1 is better for rates. Added TTFB ratios are \
         meaningless when the floor's is near zero.\n"
    );
}

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "holds",
        Some(false) => "**missed**",
        None => "not measured",
    }
}

fn check(out: &mut String, target: &str, what: &str, measured: String, ok: Option<bool>) {
    row(out, &[target.into(), what.into(), measured, verdict(ok).into()]);
}

fn known(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

fn targets_check(out: &mut String, v: &View) {
    let _ = writeln!(out, "## The issue's targets\n");
    header(out, &["target", "budget", "measured", "verdict"]);
    let floor_p50 = v.get("fast c1", FLOOR, |c| c.added_ms(0.5));
    let floor_p99 = v.get("fast c1", FLOOR, |c| c.added_ms(0.99));
    let floor_peak = v.peak(FLOOR);
    let floor_ttfb = v.get("stream c32", FLOOR, |c| c.added_first_byte_ms(0.5));
    for t in v.tollgates() {
        let p50 = v.get("fast c1", t, |c| c.added_ms(0.5));
        check(
            out,
            t,
            "added p50 at c1 ≤ 1.3 × floor's",
            format!("{} µs vs 1.3 × {} µs", us(p50), us(floor_p50)),
            known(p50).zip(known(floor_p50)).map(|(a, f)| a <= 1.3 * f),
        );
        let p99 = v.get("fast c1", t, |c| c.added_ms(0.99));
        check(
            out,
            t,
            "added p99 at c1 ≤ 1.5 × floor's",
            format!("{} µs vs 1.5 × {} µs", us(p99), us(floor_p99)),
            known(p99).zip(known(floor_p99)).map(|(a, f)| a <= 1.5 * f),
        );
        let peak = v.peak(t);
        check(
            out,
            t,
            "peak rate ≥ 70 % of floor's",
            format!("{} vs 0.7 × {} req/s", num(peak, 0), num(floor_peak, 0)),
            known(peak).zip(known(floor_peak)).map(|(a, f)| a >= 0.7 * f),
        );
        let ttfb = v.get("stream c32", t, |c| c.added_first_byte_ms(0.5));
        check(
            out,
            t,
            "added time to first token (p50) ≤ floor's + 100 µs",
            format!("{} µs vs {} + 100 µs", us(ttfb), us(floor_ttfb)),
            known(ttfb).zip(known(floor_ttfb)).map(|(a, f)| a <= f + 0.1),
        );
        let sum = v.r.summaries.get(t.as_str());
        let hold = sum.and_then(|s| s.hold.as_ref());
        check(
            out,
            t,
            "held streams: RSS ≤ 100 MB, no errors",
            hold.map_or("—".into(), |h| format!("{} MB, {} errors", mb(h.peak_kb), h.stats.errors)),
            hold.map(|h| h.peak_kb <= 100 * 1024 && h.stats.errors == 0),
        );
        let idle = sum.map_or(0, |s| s.idle_kb);
        check(out, t, "idle RSS ≤ 30 MB", format!("{} MB", mb(idle)), (idle > 0).then_some(idle <= 30 * 1024));
    }
    let _ = writeln!(out);
}

fn appendix(out: &mut String, v: &View) {
    let _ = writeln!(out, "## Details\n");
    let _ = writeln!(out, "Rate sweeps (offered req/s → achieved, p99 ms, errors):\n");
    let direct = v.r.direct_sweeps.iter().map(|s| ("direct", s));
    let others = v.r.summaries.iter().filter_map(|(t, s)| s.sweep.as_ref().map(|sw| (t.as_str(), sw)));
    for (t, sw) in direct.chain(others) {
        let steps: Vec<String> = sw
            .steps
            .iter()
            .map(|s| {
                let error = s.first_error.as_ref().map_or(String::new(), |e| format!(" e.g. {e:?}"));
                format!(
                    "{:.0}→{:.0} ({}, {}{error}){}",
                    s.rate,
                    s.achieved,
                    ms(s.p99_ms),
                    s.errors,
                    if s.passed { " ✓" } else { "" }
                )
            })
            .collect();
        let _ = writeln!(out, "- {t}: {}", steps.join("; "));
    }
    let mut errors = Vec::new();
    for ((config, t), c) in &v.r.cells {
        if c.target.errors > 0 {
            errors.push(format!("- {t}, {config}: {} errors, e.g. {:?}", c.target.errors, c.target.error_samples));
        }
    }
    if !errors.is_empty() {
        let _ = writeln!(out, "\nErrors:\n\n{}", errors.join("\n"));
    }
    if !v.r.skipped.is_empty() {
        let _ = writeln!(out, "\nNot measured:\n");
        for (t, why) in &v.r.skipped {
            let _ = writeln!(out, "- {t}: {why}");
        }
    }
}

/// The last heading [`render`] writes: what follows it in an existing RESULTS.md is not this
/// benchmark's.
const LAST_RENDERED: &str = "## Details";

/// A new report written over `old`: `new`, then the sections of `old` after its rendered part
/// (the `## ` sections following `## Details`), which other scripts' figures fill
/// (`bench/calls-pages`) and a run of this benchmark must not drop.
pub fn keeping_other_sections(new: &str, old: &str) -> String {
    let mut out = new.trim_end().to_string();
    out.push('\n');
    let mut lines = old.lines().skip_while(|l| *l != LAST_RENDERED);
    if lines.next().is_none() {
        return out;
    }
    let kept: Vec<&str> = lines.skip_while(|l| !l.starts_with("## ")).collect();
    if !kept.is_empty() {
        out.push('\n');
        out.push_str(kept.join("\n").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::keeping_other_sections;

    #[test]
    fn a_new_report_keeps_the_sections_other_scripts_added() {
        let old = "# Tollgate benchmark results\n\n## Overhead\n\nold table\n\n## Details\n\nold sweeps\n\n\
                   ## Call log at scale\n\n| a |\n\n## Another\n\ntext\n";
        let new = "# Tollgate benchmark results\n\n## Overhead\n\nnew table\n\n## Details\n\nnew sweeps\n";
        let out = keeping_other_sections(new, old);
        assert_eq!(
            out,
            "# Tollgate benchmark results\n\n## Overhead\n\nnew table\n\n## Details\n\nnew sweeps\n\n\
             ## Call log at scale\n\n| a |\n\n## Another\n\ntext\n"
        );
        assert!(!out.contains("old"), "{out}");
        assert_eq!(keeping_other_sections(new, ""), new);
        assert_eq!(keeping_other_sections(new, new), new, "nothing after Details: nothing kept");
    }
}
