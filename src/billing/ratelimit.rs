//! Rate limits in memory: requests per minute and tokens per minute by GCRA (the math is in
//! [`super::gcra`]), and concurrent requests by a counter, per API key and per user.
//!
//! One mutex guards every limited subject, so a call's checks on its key and its user are
//! decided together and committed only if all pass: a call refused by its user's limit does
//! not use up its key's. Critical sections are a few integer operations. Only subjects that
//! carry a limit get a cell; cells stay for the life of the process (one per limited key or
//! user, a few dozen bytes each).
//!
//! Tokens are counted twice: at admission the estimate (prompt plus any `max_tokens` the
//! client asked for) is spent; when the call settles the difference to the tokens actually
//! used is debited or given back, so the TPM limit tracks real usage.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::gcra::{self, Quota};
use super::limits::Limits;

/// Whose limit: an API key's or its user's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Key,
    User,
}

impl Scope {
    pub fn noun(self) -> &'static str {
        match self {
            Scope::Key => "API key",
            Scope::User => "user",
        }
    }
}

pub type Subject = (Scope, String);

#[derive(Debug, Default, Clone, Copy)]
struct Cell {
    rpm_tat: i64,
    tpm_tat: i64,
    in_flight: i64,
}

/// Which limit refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    Requests,
    Tokens,
    Concurrency,
}

/// One limit's state as the dialects' rate-limit headers report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub limit: i64,
    /// Units left after the decision this window was taken at.
    pub remaining: i64,
    /// When the limit is fully replenished (Unix microseconds, the clock of [`now_us`]), so a
    /// header written later than the decision still counts down from the right moment.
    pub reset_at_us: i64,
}

/// The tightest request and token windows among the caller's limits.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RateState {
    pub requests: Option<Window>,
    pub tokens: Option<Window>,
}

impl RateState {
    fn tighten(slot: &mut Option<Window>, w: Window) {
        if slot.is_none_or(|s| w.remaining < s.remaining) {
            *slot = Some(w);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub scope: Scope,
    pub dimension: Dimension,
    pub limit: i64,
    /// 0 for the concurrency limit (it frees when a call ends, not at a known time).
    pub retry_after_us: i64,
    /// True when the call alone exceeds the whole tokens-per-minute quota.
    pub never: bool,
    pub state: RateState,
}

#[derive(Default)]
pub struct RateLimiter {
    cells: Mutex<HashMap<Subject, Cell>>,
}

/// The microsecond clock limits run on (the Unix clock, so the Redis variant can share it).
pub fn now_us() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000) as i64
}

fn limited(l: &Limits) -> bool {
    l.rpm.is_some() || l.tpm.is_some() || l.max_concurrency.is_some()
}

impl RateLimiter {
    fn lock(&self) -> MutexGuard<'_, HashMap<Subject, Cell>> {
        self.cells.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admits one call spending `tokens` against each subject's limits, or says which limit
    /// refused it (and changes nothing).
    pub fn acquire(
        self: &Arc<Self>,
        subjects: &[(Subject, Limits)],
        tokens: i64,
        now: i64,
    ) -> Result<RatePermit, Box<Rejected>> {
        let subjects: Vec<(Subject, Limits)> = subjects.iter().filter(|(_, l)| limited(l)).cloned().collect();
        let mut cells = self.lock();
        let mut state = RateState::default();
        let mut updates = Vec::with_capacity(subjects.len());
        for (subject, l) in &subjects {
            let mut cell = cells.get(subject).copied().unwrap_or_default();
            let reject = |dimension, limit, retry_after_us, never, state| {
                Box::new(Rejected { scope: subject.0, dimension, limit, retry_after_us, never, state })
            };
            if let Some(max) = l.max_concurrency
                && cell.in_flight >= max
            {
                return Err(reject(Dimension::Concurrency, max, 0, false, state));
            }
            if let Some(rpm) = l.rpm {
                let d = gcra::check(now, cell.rpm_tat, Quota::per_minute(rpm), 1);
                let w = Window { limit: rpm, remaining: d.remaining, reset_at_us: now + d.reset_us };
                if !d.allowed {
                    let mut s = state;
                    s.requests = Some(w);
                    return Err(reject(Dimension::Requests, rpm, d.retry_after_us, false, s));
                }
                RateState::tighten(&mut state.requests, w);
                cell.rpm_tat = d.tat;
            }
            if let Some(tpm) = l.tpm {
                let d = gcra::check(now, cell.tpm_tat, Quota::per_minute(tpm), tokens);
                let w = Window { limit: tpm, remaining: d.remaining, reset_at_us: now + d.reset_us };
                if !d.allowed {
                    let mut s = state;
                    s.tokens = Some(w);
                    return Err(reject(Dimension::Tokens, tpm, d.retry_after_us, tokens > tpm, s));
                }
                RateState::tighten(&mut state.tokens, w);
                cell.tpm_tat = d.tat;
            }
            cell.in_flight += 1;
            updates.push((subject.clone(), cell));
        }
        for (subject, cell) in updates {
            cells.insert(subject, cell);
        }
        Ok(RatePermit { limiter: self.clone(), subjects, tokens, state, ended: false })
    }

    /// Calls in flight for a subject (0 if it carries no limit).
    pub fn in_flight(&self, subject: &Subject) -> i64 {
        self.lock().get(subject).map_or(0, |c| c.in_flight)
    }

    /// Calls in flight over all limited subjects (0 once every call has ended).
    pub fn in_flight_total(&self) -> i64 {
        self.lock().values().map(|c| c.in_flight).sum()
    }
}

/// A call's place in its limits. It ends exactly once: `finish` with the tokens used, or on
/// drop (the concurrency slot is freed; the admitted tokens stay spent).
#[must_use = "the concurrency slot is released when dropped"]
pub struct RatePermit {
    limiter: Arc<RateLimiter>,
    subjects: Vec<(Subject, Limits)>,
    /// Tokens spent at admission, corrected by `finish`.
    tokens: i64,
    /// The limits' state after admission (for response headers).
    pub state: RateState,
    ended: bool,
}

impl std::fmt::Debug for RatePermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RatePermit").field("tokens", &self.tokens).field("state", &self.state).finish()
    }
}

impl RatePermit {
    pub fn finish(mut self, actual_tokens: i64, now: i64) {
        self.end(Some(actual_tokens), now);
    }

    fn end(&mut self, actual_tokens: Option<i64>, now: i64) {
        if std::mem::replace(&mut self.ended, true) || self.subjects.is_empty() {
            return;
        }
        let mut cells = self.limiter.lock();
        for (subject, l) in &self.subjects {
            let Some(cell) = cells.get_mut(subject) else { continue };
            cell.in_flight -= 1;
            if let (Some(tpm), Some(actual)) = (l.tpm, actual_tokens) {
                cell.tpm_tat = gcra::adjust(now, cell.tpm_tat, Quota::per_minute(tpm), actual - self.tokens);
            }
        }
    }
}

impl Drop for RatePermit {
    fn drop(&mut self) {
        self.end(None, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(rpm: Option<i64>, tpm: Option<i64>, conc: Option<i64>) -> (Subject, Limits) {
        ((Scope::Key, "k".into()), Limits { rpm, tpm, max_concurrency: conc, ..Limits::default() })
    }

    #[test]
    fn concurrency_is_held_until_the_permit_ends() {
        let rl = Arc::new(RateLimiter::default());
        let subjects = [key(None, None, Some(2))];
        let a = rl.acquire(&subjects, 0, 0).unwrap();
        let b = rl.acquire(&subjects, 0, 0).unwrap();
        let refused = rl.acquire(&subjects, 0, 0).unwrap_err();
        assert_eq!((refused.scope, refused.dimension, refused.limit), (Scope::Key, Dimension::Concurrency, 2));
        drop(a);
        b.finish(0, 0);
        assert_eq!(rl.in_flight_total(), 0);
        assert!(rl.acquire(&subjects, 0, 0).is_ok());
    }

    #[test]
    fn a_refusal_by_the_user_leaves_the_key_untouched() {
        let rl = Arc::new(RateLimiter::default());
        let user = ((Scope::User, "u".into()), Limits { rpm: Some(1), ..Limits::default() });
        let subjects = [key(Some(2), None, None), user];
        let p = rl.acquire(&subjects, 0, 0).unwrap();
        assert_eq!(p.state.requests.unwrap().remaining, 0, "the user's window is the tighter one");
        let refused = rl.acquire(&subjects, 0, 0).unwrap_err();
        assert_eq!((refused.scope, refused.dimension), (Scope::User, Dimension::Requests));
        assert!(refused.retry_after_us > 0);
        // The key alone still has its second request.
        assert!(rl.acquire(&[key(Some(2), None, None)], 0, 0).is_ok());
    }

    #[test]
    fn tokens_are_corrected_to_actual_usage() {
        let rl = Arc::new(RateLimiter::default());
        let subjects = [key(None, Some(1000), None)];
        let p = rl.acquire(&subjects, 900, 0).unwrap();
        assert_eq!(rl.acquire(&subjects, 200, 0).unwrap_err().dimension, Dimension::Tokens);
        p.finish(100, 0);
        let p = rl.acquire(&subjects, 800, 0).unwrap();
        assert_eq!(p.state.tokens.unwrap().remaining, 100);
        assert!(rl.acquire(&subjects, 1001, 0).unwrap_err().never);
    }
}
