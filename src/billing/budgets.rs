//! Spend budgets of keys and users, decided in memory. Each key and user has its spend kept
//! here: the all-time total plus per-UTC-day sums for the days a budget period can reach
//! back to (at most 37: the current month or week). Spend in any period — daily, weekly
//! (from Monday), monthly (from the 1st), 00:00 UTC boundaries — is then a sum of days, so a
//! budget or its period can change at any time without re-reading anything. The sums are
//! seeded at start with one query over the spend kept per key, user and day
//! (`store::spend`, and the archived records' spend), not over the records, and then follow
//! each call as it settles, counted on the day the call started.
//!
//! Like credits, budgets reserve: a call holds its estimated cost against its key's and
//! user's budgets until it settles, and is admitted only if spent + held + estimate fits, all
//! under one lock — concurrent calls cannot overspend a budget. Holds are in memory only; a
//! crash releases them by definition.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use time::{Date, Month, OffsetDateTime, Time};

use super::limits::{Limits, Period};
use super::ratelimit::{Scope, Subject};

pub const DAY_MS: i64 = 86_400_000;

fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

fn date_of(ms: i64) -> Date {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).map(|t| t.date()).unwrap_or(Date::MIN)
}

fn ms_of(d: Date) -> i64 {
    d.with_time(Time::MIDNIGHT).assume_utc().unix_timestamp() * 1000
}

/// Start (inclusive) and end (exclusive) of the period containing `now_ms`, in Unix ms.
pub fn period_bounds(p: Period, now_ms: i64) -> (i64, i64) {
    let day = day_of(now_ms);
    match p {
        Period::Daily => (day * DAY_MS, (day + 1) * DAY_MS),
        Period::Weekly => {
            // 1970-01-01 was a Thursday: Monday-based weekday = (day + 3) mod 7.
            let monday = day - (day + 3).rem_euclid(7);
            (monday * DAY_MS, (monday + 7) * DAY_MS)
        }
        Period::Monthly => {
            let d = date_of(now_ms);
            let first = d.replace_day(1).expect("day 1 exists");
            let (y, m) = if d.month() == Month::December {
                (d.year() + 1, Month::January)
            } else {
                (d.year(), d.month().next())
            };
            let next = Date::from_calendar_date(y, m, 1).expect("day 1 exists");
            (ms_of(first), ms_of(next))
        }
    }
}

/// Where the earliest period containing `now_ms` starts (Unix ms): spend before it only
/// counts towards budgets without a period.
pub fn window_start(now_ms: i64) -> i64 {
    period_bounds(Period::Weekly, now_ms).0.min(period_bounds(Period::Monthly, now_ms).0)
}

fn oldest_day_needed(now_ms: i64) -> i64 {
    day_of(window_start(now_ms))
}

#[derive(Debug, Default)]
struct Spend {
    total: i64,
    /// Cost per UTC day (day number since the epoch), for recent days only.
    days: BTreeMap<i64, i64>,
    /// Estimates held by calls in flight.
    reserved: i64,
    open: i64,
}

impl Spend {
    fn spent(&self, period: Option<Period>, now_ms: i64) -> i64 {
        match period {
            None => self.total,
            Some(p) => {
                self.days.range(day_of(period_bounds(p, now_ms).0)..).fold(0i64, |sum, (_, c)| sum.saturating_add(*c))
            }
        }
    }

    // Sums saturate: a cost a lying provider inflates past i64 must leave the budget spent, not
    // wrap it round to room for more.
    fn add(&mut self, cost: i64, started_at_ms: i64, now_ms: i64) {
        self.total = self.total.saturating_add(cost);
        let keep_from = oldest_day_needed(now_ms);
        let day = day_of(started_at_ms);
        if day >= keep_from && cost != 0 {
            let spent = self.days.entry(day).or_default();
            *spent = spent.saturating_add(cost);
        }
        while self.days.first_key_value().is_some_and(|(d, _)| *d < keep_from) {
            self.days.pop_first();
        }
    }
}

/// A budget that refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exhausted {
    pub scope: Scope,
    pub limit: i64,
    pub spent: i64,
    pub period: Option<Period>,
    /// When the period starts over (none for a budget without a period).
    pub resets_at_ms: Option<i64>,
}

/// One budget as `/api/v1/me` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetStatus {
    pub limit: i64,
    pub spent: i64,
    pub reserved: i64,
    pub period: Option<Period>,
    pub resets_at_ms: Option<i64>,
}

#[derive(Default)]
pub struct Budgets {
    spend: Mutex<HashMap<Subject, Spend>>,
}

impl Budgets {
    fn lock(&self) -> MutexGuard<'_, HashMap<Subject, Spend>> {
        self.spend.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Seeds spend from `(key_id, user_id, started_at_ms, cost)` sums: one row per key, user
    /// and recent day, plus rows of older spend (any `started_at_ms` before the window) that
    /// only count towards the all-time total.
    pub fn load(&self, rows: impl IntoIterator<Item = (String, String, i64, i64)>, now_ms: i64) {
        let mut map: HashMap<Subject, Spend> = HashMap::new();
        for (key_id, user_id, started_at_ms, cost) in rows {
            for subject in [(Scope::Key, key_id.clone()), (Scope::User, user_id.clone())] {
                map.entry(subject).or_default().add(cost, started_at_ms, now_ms);
            }
        }
        *self.lock() = map;
    }

    /// Holds `estimate` against every subject (so their spend is followed) after checking
    /// the budgets that are set: refused if spent + held + estimate would exceed one. A call
    /// estimated at zero cannot overspend and is not checked.
    pub fn reserve(
        self: &Arc<Self>,
        subjects: &[(Subject, Limits)],
        estimate: i64,
        now_ms: i64,
    ) -> Result<BudgetHold, Exhausted> {
        let estimate = estimate.max(0);
        let mut map = self.lock();
        for (subject, l) in subjects {
            let Some(limit) = l.budget else { continue };
            let s = map.get(subject);
            let spent = s.map_or(0, |s| s.spent(l.budget_period, now_ms));
            let held = s.map_or(0, |s| s.reserved);
            if estimate > 0 && spent.saturating_add(held).saturating_add(estimate) > limit {
                return Err(Exhausted {
                    scope: subject.0,
                    limit,
                    spent,
                    period: l.budget_period,
                    resets_at_ms: l.budget_period.map(|p| period_bounds(p, now_ms).1),
                });
            }
        }
        for (subject, _) in subjects {
            let s = map.entry(subject.clone()).or_default();
            s.reserved = s.reserved.saturating_add(estimate);
            s.open += 1;
        }
        let subjects = subjects.iter().map(|(s, _)| s.clone()).collect();
        Ok(BudgetHold { budgets: self.clone(), subjects, amount: estimate, ended: false })
    }

    /// A subject's budget, if it has one.
    pub fn status(&self, subject: &Subject, l: &Limits, now_ms: i64) -> Option<BudgetStatus> {
        let limit = l.budget?;
        let map = self.lock();
        let s = map.get(subject);
        Some(BudgetStatus {
            limit,
            spent: s.map_or(0, |s| s.spent(l.budget_period, now_ms)),
            reserved: s.map_or(0, |s| s.reserved),
            period: l.budget_period,
            resets_at_ms: l.budget_period.map(|p| period_bounds(p, now_ms).1),
        })
    }

    /// Budget holds still open over all subjects (0 once every call has settled).
    pub fn open_holds(&self) -> i64 {
        self.lock().values().map(|s| s.open).sum()
    }
}

/// A call's hold on its budgets; ends exactly once (`settle`, or drop without spend).
#[must_use = "a budget hold is released when dropped"]
pub struct BudgetHold {
    budgets: Arc<Budgets>,
    subjects: Vec<Subject>,
    amount: i64,
    ended: bool,
}

impl std::fmt::Debug for BudgetHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BudgetHold").field("subjects", &self.subjects).field("amount", &self.amount).finish()
    }
}

impl BudgetHold {
    /// Releases the hold and records `cost` as spent on the day the call started.
    pub fn settle(mut self, cost: i64, started_at_ms: i64, now_ms: i64) {
        self.end(cost, started_at_ms, now_ms);
    }

    fn end(&mut self, cost: i64, started_at_ms: i64, now_ms: i64) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        let mut map = self.budgets.lock();
        for subject in &self.subjects {
            let s = map.entry(subject.clone()).or_default();
            s.reserved -= self.amount;
            s.open -= 1;
            s.add(cost, started_at_ms, now_ms);
        }
    }
}

impl Drop for BudgetHold {
    fn drop(&mut self) {
        self.end(0, 0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(y: i32, m: Month, d: u8) -> i64 {
        ms_of(Date::from_calendar_date(y, m, d).unwrap())
    }

    #[test]
    fn periods_follow_utc_calendar_boundaries() {
        // Wednesday 2026-12-30 15:00 UTC.
        let now = ms(2026, Month::December, 30) + 15 * 3_600_000;
        assert_eq!(period_bounds(Period::Daily, now), (ms(2026, Month::December, 30), ms(2026, Month::December, 31)));
        assert_eq!(period_bounds(Period::Weekly, now), (ms(2026, Month::December, 28), ms(2027, Month::January, 4)));
        assert_eq!(period_bounds(Period::Monthly, now), (ms(2026, Month::December, 1), ms(2027, Month::January, 1)));
        // A Monday at midnight starts its own week.
        let monday = ms(2026, Month::November, 23);
        assert_eq!(period_bounds(Period::Weekly, monday).0, monday);
        assert_eq!(period_bounds(Period::Monthly, ms(2028, Month::February, 29)).1, ms(2028, Month::March, 1));
    }

    fn key_budget(budget: i64, period: Option<Period>) -> [(Subject, Limits); 2] {
        [
            ((Scope::Key, "k".into()), Limits { budget: Some(budget), budget_period: period, ..Limits::default() }),
            ((Scope::User, "u".into()), Limits::default()),
        ]
    }

    #[test]
    fn holds_and_spend_count_against_the_budget_per_period() {
        let b = Arc::new(Budgets::default());
        let now = ms(2026, Month::November, 22) + 1000;
        let yesterday = now - DAY_MS;
        b.load([("k".into(), "u".into(), yesterday, 40), ("k".into(), "u".into(), 0, 1000)], now);
        let daily = key_budget(100, Some(Period::Daily));
        let h = b.reserve(&daily, 60, now).unwrap();
        let refused = b.reserve(&daily, 41, now).unwrap_err();
        assert_eq!((refused.scope, refused.spent, refused.limit), (Scope::Key, 0, 100));
        assert_eq!(refused.resets_at_ms, Some(ms(2026, Month::November, 23)));
        h.settle(70, now, now);
        assert_eq!(b.status(&(Scope::Key, "k".into()), &daily[0].1, now).unwrap().spent, 70);
        assert!(b.reserve(&daily, 31, now).is_err());
        drop(b.reserve(&daily, 30, now).unwrap());
        // The weekly period (from Monday the 16th) includes yesterday; the lifetime budget all.
        let weekly = key_budget(1000, Some(Period::Weekly));
        assert_eq!(b.status(&(Scope::Key, "k".into()), &weekly[0].1, now).unwrap().spent, 110);
        let ever = key_budget(2000, None);
        assert_eq!(b.status(&(Scope::User, "u".into()), &ever[0].1, now).unwrap().spent, 1110);
        assert_eq!(b.open_holds(), 0);
    }

    #[test]
    fn concurrent_holds_never_overspend_a_budget() {
        let b = Arc::new(Budgets::default());
        let now = ms(2026, Month::November, 22);
        let limits = Arc::new(key_budget(10 * 7, Some(Period::Monthly)));
        let barrier = Arc::new(std::sync::Barrier::new(16));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let (b, l, barrier) = (b.clone(), limits.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    (0..50).filter_map(|_| b.reserve(&l[..], 7, now).ok()).collect::<Vec<_>>()
                })
            })
            .collect();
        let holds: Vec<BudgetHold> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
        assert_eq!(holds.len(), 10);
        for h in holds {
            h.settle(7, now, now);
        }
        let status = b.status(&(Scope::Key, "k".into()), &limits[0].1, now).unwrap();
        assert_eq!((status.spent, status.reserved), (70, 0));
        assert!(b.reserve(&limits[..], 1, now).is_err());
    }

    #[test]
    fn costs_past_the_64_bit_range_leave_the_budget_spent_instead_of_wrapping() {
        let now = ms(2026, Month::November, 22);
        for period in [None, Some(Period::Daily), Some(Period::Monthly)] {
            let b = Arc::new(Budgets::default());
            let limits = key_budget(1_000, period);
            // Spend already at the top of the range (loaded), then a settlement a lying provider
            // inflated the same way: the sums stay at the top, never wrap negative.
            b.load([("k".to_string(), "u".to_string(), now, i64::MAX - 5)], now);
            b.reserve(&limits[..], 0, now).unwrap().settle(i64::MAX, now, now);
            for _ in 0..2 {
                let status = b.status(&(Scope::Key, "k".into()), &limits[0].1, now).unwrap();
                assert_eq!(status.spent, i64::MAX);
                assert!(b.reserve(&limits[..], 1, now).is_err(), "a saturated budget admits nothing");
            }
        }
    }
}
