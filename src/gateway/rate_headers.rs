//! The rate-limit headers of every answer — success and 429 alike — in the caller's dialect,
//! from the state of the binding (tightest) request and token limits at admission.
//!
//! OpenAI: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, resets as durations
//! (`20ms`, `1.5s`, `6m0s`). Anthropic: `anthropic-ratelimit-{requests,tokens}-{limit,
//! remaining,reset}`, resets as RFC 3339 instants. A caller without a request or token limit
//! gets no header for it. Every handler writes its headers through [`render`], so both
//! dialects report the same numbers.

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::billing::ratelimit::{RateState, Window};
use crate::protocol::Dialect;

/// The headers for `state`, resets counted from `now_us` (Unix microseconds).
pub fn render(dialect: Dialect, state: &RateState, now_us: i64) -> Vec<(&'static str, HeaderValue)> {
    let names = match dialect {
        Dialect::OpenAi => &OPENAI,
        Dialect::Anthropic => &ANTHROPIC,
    };
    let mut out = Vec::new();
    each(dialect, state, now_us, |window, slot, value| out.push((names[window][slot], value)));
    out
}

/// Adds [`render`]'s headers to a response's, under names parsed once: this runs on every
/// answer, and a `&str` name is validated again on each insert.
pub fn insert(headers: &mut HeaderMap, dialect: Dialect, state: &RateState, now_us: i64) {
    let names = match dialect {
        Dialect::OpenAi => &OPENAI_NAMES,
        Dialect::Anthropic => &ANTHROPIC_NAMES,
    };
    each(dialect, state, now_us, |window, slot, value| {
        headers.insert(names[window][slot].clone(), value);
    });
}

/// Each header's value, by window (0 requests, 1 tokens) and slot (0 limit, 1 remaining,
/// 2 reset).
fn each(dialect: Dialect, state: &RateState, now_us: i64, mut put: impl FnMut(usize, usize, HeaderValue)) {
    for (i, window) in [state.requests, state.tokens].into_iter().enumerate() {
        let Some(w) = window else { continue };
        put(i, 0, HeaderValue::from(w.limit));
        put(i, 1, HeaderValue::from(w.remaining.max(0)));
        let reset_text = match dialect {
            Dialect::OpenAi => duration_text(w.reset_at_us - now_us),
            Dialect::Anthropic => instant_text(&w, now_us),
        };
        put(i, 2, HeaderValue::from_str(&reset_text).expect("ascii"));
    }
}

type Names = [[&'static str; 3]; 2];

const OPENAI: Names = [
    ["x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests"],
    ["x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"],
];

const ANTHROPIC: Names = [
    [
        "anthropic-ratelimit-requests-limit",
        "anthropic-ratelimit-requests-remaining",
        "anthropic-ratelimit-requests-reset",
    ],
    ["anthropic-ratelimit-tokens-limit", "anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-tokens-reset"],
];

static OPENAI_NAMES: [[HeaderName; 3]; 2] = header_names(&OPENAI);
static ANTHROPIC_NAMES: [[HeaderName; 3]; 2] = header_names(&ANTHROPIC);

const fn header_names(n: &Names) -> [[HeaderName; 3]; 2] {
    let name = HeaderName::from_static;
    [[name(n[0][0]), name(n[0][1]), name(n[0][2])], [name(n[1][0]), name(n[1][1]), name(n[1][2])]]
}

/// A duration the way OpenAI writes its reset headers: `20ms`, `1.5s`, `6m0s`.
fn duration_text(us: i64) -> String {
    let ms = (us.max(0) + 999) / 1000;
    if ms == 0 {
        return "0s".into();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (minutes, rest) = (ms / 60_000, ms % 60_000);
    let secs = if rest % 1000 == 0 {
        format!("{}s", rest / 1000)
    } else {
        format!("{}.{}s", rest / 1000, format!("{:03}", rest % 1000).trim_end_matches('0'))
    };
    if minutes > 0 { format!("{minutes}m{secs}") } else { secs }
}

/// The moment the limit is replenished, as Anthropic writes it (RFC 3339, whole seconds
/// rounded up so a client waiting until then is never early; never before `now`).
fn instant_text(w: &Window, now_us: i64) -> String {
    let at_ms = (w.reset_at_us.max(now_us) + 999_999) / 1_000_000 * 1000;
    crate::clock::rfc3339(at_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000_000;

    fn state() -> RateState {
        RateState {
            requests: Some(Window { limit: 60, remaining: 59, reset_at_us: NOW + 1_000_000 }),
            tokens: Some(Window { limit: 1000, remaining: 875, reset_at_us: NOW + 7_500_250 }),
        }
    }

    fn text(h: &[(&'static str, HeaderValue)]) -> Vec<(&'static str, String)> {
        h.iter().map(|(n, v)| (*n, v.to_str().unwrap().to_string())).collect()
    }

    #[test]
    fn durations_read_like_openai_headers() {
        assert_eq!(duration_text(0), "0s");
        assert_eq!(duration_text(-5), "0s");
        assert_eq!(duration_text(19_500), "20ms");
        assert_eq!(duration_text(1_500_000), "1.5s");
        assert_eq!(duration_text(60_000_000), "1m0s");
        assert_eq!(duration_text(360_250_000), "6m0.25s");
    }

    #[test]
    fn openai_names_and_resets_count_from_now() {
        let h = text(&render(Dialect::OpenAi, &state(), NOW + 500_000));
        assert_eq!(
            h,
            vec![
                ("x-ratelimit-limit-requests", "60".into()),
                ("x-ratelimit-remaining-requests", "59".into()),
                ("x-ratelimit-reset-requests", "500ms".into()),
                ("x-ratelimit-limit-tokens", "1000".into()),
                ("x-ratelimit-remaining-tokens", "875".into()),
                ("x-ratelimit-reset-tokens", "7.001s".into()),
            ]
        );
    }

    #[test]
    fn anthropic_names_and_instants() {
        let h = text(&render(Dialect::Anthropic, &state(), NOW));
        assert_eq!(h[0], ("anthropic-ratelimit-requests-limit", "60".into()));
        assert_eq!(h[1], ("anthropic-ratelimit-requests-remaining", "59".into()));
        assert_eq!(h[2], ("anthropic-ratelimit-requests-reset", "2023-11-14T22:13:21Z".into()));
        assert_eq!(h[5], ("anthropic-ratelimit-tokens-reset", "2023-11-14T22:13:28Z".into()));
        assert_eq!(h.len(), 6);
    }

    #[test]
    fn only_limits_the_caller_has_are_reported() {
        let s = RateState { requests: None, ..state() };
        let h = render(Dialect::OpenAi, &s, NOW);
        assert_eq!(h.len(), 3);
        assert!(h.iter().all(|(n, _)| n.ends_with("-tokens")));
        assert!(render(Dialect::Anthropic, &RateState::default(), NOW).is_empty());
    }
}
