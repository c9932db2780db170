//! Retention (`[retention] calls_days`): at start-up and every `interval_secs`, each UTC day
//! of call records older than the days kept is archived (`usage::archive`) and then deleted
//! in batches (`store::retention`), oldest day first. A day's records are deleted only once
//! its file holds every one of them.
//!
//! The job must not slow the traffic it runs beside. It runs on a thread of its own at the
//! lowest CPU priority (`low_priority`: nice 19 and, unless `cpu = "low"`, the idle
//! scheduling class), with its own database connection opened there (on
//! SQLite the connection's worker thread, where its SQL runs, inherits that priority), so on
//! busy cores the request threads win. Its work is paced besides, for what priority cannot
//! cover (PostgreSQL's server process, the disk, SQLite's one write lock): on SQLite each
//! delete batch is sized to hold the lock about `batch_ms` ([`Pace`]: the next batch's rows
//! follow from the time per row the last one took, at most `batch_rows`; PostgreSQL's take
//! `batch_rows`), and after every batch and every page the archive reads the job rests at
//! least `batch_pause_ms`, and long enough that it works at most `work_percent` of the time
//! ([`Duty`]).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::gate::Gate;
use super::low_priority;
use crate::config::RetentionConfig;
use crate::store::Db;
use crate::store::retention::{self, DAY_MS};
use crate::usage::archive;

/// Starts the job on its own low-priority thread; it runs passes until `gate` says stop (the
/// gateway stops it when it shuts down, and when its switch is dropped).
pub fn start(
    database_url: String,
    dir: PathBuf,
    settings: RetentionConfig,
    gate: Gate,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    low_priority::spawn("tollgate-retention", settings.cpu, move || run(database_url, dir, settings, gate))
}

async fn run(database_url: String, dir: PathBuf, settings: RetentionConfig, mut gate: Gate) {
    let db = match open(&database_url).await {
        Ok(db) => db,
        Err(e) => {
            tracing::error!("retention is off until a restart, records are kept: {e}");
            return;
        }
    };
    loop {
        if let Err(e) = pass(&db, &dir, &settings, crate::clock::now_ms(), &mut gate).await
            && !gate.stopped()
        {
            tracing::error!("retention stopped for now, records are kept: {e}");
        }
        if gate.rest(Duration::from_secs(settings.interval_secs)).await.is_err() {
            break;
        }
    }
    db.close().await;
}

/// The job's own connection to the database, opened from the calling thread (call it from
/// the job's thread: SQLite's worker thread for it is started there and inherits its
/// priority).
pub async fn open(database_url: &str) -> Result<Db, String> {
    Db::connect(database_url, Some(1)).await.map_err(|e| format!("cannot open the database: {e}"))
}

/// The first instant kept: the start of the UTC day `calls_days` days before today's.
pub fn cutoff(calls_days: u32, now_ms: i64) -> i64 {
    now_ms.div_euclid(DAY_MS) * DAY_MS - i64::from(calls_days) * DAY_MS
}

/// One pass: archives and deletes every whole day before the cutoff. Returns the records
/// deleted.
pub async fn pass(
    db: &Db,
    dir: &Path,
    settings: &RetentionConfig,
    now_ms: i64,
    gate: &mut Gate,
) -> Result<u64, String> {
    let Some(days) = settings.calls_days else { return Ok(0) };
    let cutoff = cutoff(days, now_ms);
    let mut deleted = 0;
    while let Some(oldest) = retention::oldest_started(db).await.map_err(|e| e.to_string())? {
        let day = oldest.div_euclid(DAY_MS) * DAY_MS;
        if day + DAY_MS > cutoff {
            break;
        }
        archive_day(db, dir, settings, day, gate).await?;
        let n = delete_day(db, settings, day, gate).await?;
        tracing::info!(
            records = n,
            file = %archive::day_file(dir, day).display(),
            "archived and deleted a day of call records"
        );
        deleted += n;
    }
    Ok(deleted)
}

/// Writes the day's records into its archive file until the file holds every record the
/// database has for the day. Returns the records archived.
pub async fn archive_day(
    db: &Db,
    dir: &Path,
    settings: &RetentionConfig,
    day: i64,
    gate: &mut Gate,
) -> Result<u64, String> {
    // Records of a day this old no longer change; should one arrive meanwhile (an import),
    // the day is archived again before anything is deleted.
    loop {
        let (mut gate, handle, duty) = (gate.clone(), tokio::runtime::Handle::current(), Duty::new(settings));
        // Each page's work: its read, and writing the previous page's records.
        let mut since = Instant::now();
        let rest = move || {
            handle.block_on(gate.rest(duty.rest(since.elapsed()))).map_err(|_| stopped())?;
            since = Instant::now();
            Ok(())
        };
        let archived = archive::write_day(db, dir, day, rest).await?;
        let now = retention::count(db, day, day + DAY_MS).await.map_err(|e| e.to_string())?;
        if now as u64 == archived.records {
            return Ok(archived.records);
        }
    }
}

/// Deletes the day's records in paced batches (archive them first: [`archive_day`]).
/// Returns the records deleted.
pub async fn delete_day(db: &Db, settings: &RetentionConfig, day: i64, gate: &mut Gate) -> Result<u64, String> {
    let (from, to) = (day, day + DAY_MS);
    let (mut pace, duty) = (Pace::new(settings), Duty::new(settings));
    let mut deleted = 0;
    loop {
        gate.pass().await.map_err(|_| stopped())?;
        let started = Instant::now();
        let limit = pace.rows();
        let batch = retention::delete_batch(db, from, to, limit).await.map_err(|e| e.to_string())?;
        deleted += batch.deleted;
        if (batch.deleted as i64) < limit {
            return Ok(deleted);
        }
        match batch.held {
            Some(held) => pace.took(batch.deleted, held),
            None => pace.grow(),
        }
        gate.rest(duty.rest(started.elapsed())).await.map_err(|_| stopped())?;
    }
}

fn stopped() -> String {
    "retention was stopped".into()
}

/// The rest after a unit of work: at least `batch_pause_ms`, and long enough that the job
/// works at most `work_percent` of the wall time. The work is timed by the wall clock, so
/// when busy cores or a busy database slow it, it rests longer too.
#[derive(Debug, Clone, Copy)]
pub struct Duty {
    floor: Duration,
    percent: u32,
}

impl Duty {
    pub fn new(settings: &RetentionConfig) -> Duty {
        Duty { floor: Duration::from_millis(settings.batch_pause_ms), percent: settings.work_percent.clamp(1, 100) }
    }

    pub fn rest(&self, worked: Duration) -> Duration {
        (worked * (100 - self.percent) / self.percent).max(self.floor)
    }
}

/// The size of the next delete batch: as many rows as fit `batch_ms` at the time per row the
/// last batch held the lock, at most `batch_rows`, never fewer than one. It starts small, at
/// most doubles from one batch to the next (a slow start does not overshoot), and shrinks at
/// once when a batch took too long.
#[derive(Debug)]
pub struct Pace {
    rows: u64,
    max: u64,
    budget: Duration,
}

/// The first batch's rows, before anything is known of the time per row.
const FIRST_ROWS: u64 = 32;

impl Pace {
    pub fn new(settings: &RetentionConfig) -> Pace {
        let max = u64::from(settings.batch_rows).max(1);
        Pace { rows: FIRST_ROWS.min(max), max, budget: Duration::from_millis(settings.batch_ms) }
    }

    pub fn rows(&self) -> i64 {
        self.rows as i64
    }

    /// Notes a batch that held no lock against other writers: the next one may double, up to
    /// `batch_rows` (the duty cycle paces the work).
    pub fn grow(&mut self) {
        self.rows = self.rows.saturating_mul(2).min(self.max);
    }

    /// Notes that a batch of `rows` held the lock for `held`.
    pub fn took(&mut self, rows: u64, held: Duration) {
        if rows == 0 {
            return;
        }
        let per_row = (held.as_nanos() / u128::from(rows)).max(1);
        let fit = u64::try_from(self.budget.as_nanos() / per_row).unwrap_or(u64::MAX);
        self.rows = fit.min(self.rows.saturating_mul(2)).min(self.max).max(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::calls::{self, CallRecord, CallWrite};
    use crate::store::test_db;

    fn record(user: &str, started_at: i64, cost: i64) -> CallRecord {
        CallRecord {
            id: crate::store::new_id(),
            user_id: user.into(),
            key_id: format!("key-{user}"),
            model: "m".into(),
            status: "success".into(),
            cost,
            started_at,
            ..CallRecord::default()
        }
    }

    /// Batches grow from a small start by at most doubling to the rows that fit the budget,
    /// never past `batch_rows`, and shrink at once when the time per row rises.
    #[test]
    fn batches_are_sized_to_hold_the_lock_about_batch_ms() {
        let settings = RetentionConfig { batch_rows: 1000, batch_ms: 4, ..RetentionConfig::default() };
        let mut pace = Pace::new(&settings);
        let us = Duration::from_micros;
        let mut sizes = vec![pace.rows()];
        for _ in 0..6 {
            // 20 µs a row: 200 rows fit 4 ms.
            pace.took(pace.rows() as u64, us(20) * pace.rows() as u32);
            sizes.push(pace.rows());
        }
        assert_eq!(sizes, [32, 64, 128, 200, 200, 200, 200]);
        // A checkpoint or a busy disk: 200 rows took 40 ms. The next batch fits 4 ms at that rate.
        pace.took(200, Duration::from_millis(40));
        assert_eq!(pace.rows(), 20);
        // Very fast rows: capped by batch_rows (after doubling up to it).
        for _ in 0..10 {
            pace.took(pace.rows() as u64, Duration::from_nanos(10));
        }
        assert_eq!(pace.rows(), 1000);
        // A batch slower than the whole budget for one row still deletes one row.
        pace.took(1000, Duration::from_secs(60));
        assert_eq!(pace.rows(), 1);
        // PostgreSQL's batches hold no lock against the writer: they double up to batch_rows.
        let mut unlocked = Pace::new(&settings);
        for _ in 0..10 {
            unlocked.grow();
        }
        assert_eq!(unlocked.rows(), 1000);
        let tiny = RetentionConfig { batch_rows: 4, ..settings };
        assert_eq!(Pace::new(&tiny).rows(), 4, "never more than batch_rows, even at first");
    }

    /// After a unit of work the job rests so that it works at most `work_percent` of the
    /// time, never less than `batch_pause_ms`.
    #[test]
    fn the_job_rests_so_it_works_at_most_work_percent_of_the_time() {
        let ms = Duration::from_millis;
        let settings = RetentionConfig { batch_pause_ms: 5, work_percent: 20, ..RetentionConfig::default() };
        let duty = Duty::new(&settings);
        assert_eq!(duty.rest(ms(10)), ms(40), "10 ms of work in 50 ms");
        assert_eq!(duty.rest(ms(1)), ms(5), "never less than batch_pause_ms");
        let always = Duty::new(&RetentionConfig { work_percent: 100, ..settings });
        assert_eq!(always.rest(ms(10)), ms(5));
    }

    #[test]
    fn the_cutoff_keeps_whole_days() {
        let now = 10 * DAY_MS + 5_000;
        assert_eq!(cutoff(3, now), 7 * DAY_MS);
    }

    /// A pass archives and deletes exactly the old days (in batches smaller than a day),
    /// keeps budgets' spend, and an import brings a day back once.
    #[tokio::test]
    async fn old_days_are_archived_deleted_and_imported_back_once() {
        for t in test_db::each().await {
            let db = &t.db;
            let dir = tempfile::tempdir().unwrap();
            let now = 20 * DAY_MS + 3_600_000;
            let mut all = Vec::new();
            for (day, n) in [(3, 25), (4, 0), (5, 13), (17, 4), (20, 6)] {
                for i in 0..n {
                    all.push(record(["a", "b"][i % 2], day * DAY_MS + i as i64 * 1000, 100 + i as i64));
                }
            }
            let writes: Vec<CallWrite> = all.iter().map(|r| CallWrite { record: r.clone(), charge: None }).collect();
            calls::apply_batch(db, &writes).await.unwrap();
            let spend_before = spend(db, now).await;
            let settings = RetentionConfig {
                calls_days: Some(3),
                batch_rows: 4,
                batch_ms: 4,
                batch_pause_ms: 1,
                work_percent: 100,
                interval_secs: 1,
                ..RetentionConfig::default()
            };
            let (_switch, mut gate) = crate::jobs::gate::new(crate::jobs::gate::Mode::Go);

            assert_eq!(pass(db, dir.path(), &settings, now, &mut gate).await.unwrap(), 25 + 13);
            assert_eq!(retention::count(db, 0, 17 * DAY_MS).await.unwrap(), 0);
            assert_eq!(retention::count(db, 17 * DAY_MS, 21 * DAY_MS).await.unwrap(), 10, "recent days kept");
            assert_eq!(spend(db, now).await, spend_before, "budgets see the same spend");
            let day3 = archive::day_file(dir.path(), 3 * DAY_MS);
            let mut files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
            files.sort();
            assert_eq!(files, ["calls-1970-01-04.jsonl.gz", "calls-1970-01-06.jsonl.gz"]);
            assert_eq!(pass(db, dir.path(), &settings, now, &mut gate).await.unwrap(), 0, "nothing left to do");

            let first = archive::import(db, &day3).await.unwrap();
            assert_eq!(first, archive::Imported { read: 25, restored: 25 });
            let again = archive::import(db, &day3).await.unwrap();
            assert_eq!(again, archive::Imported { read: 25, restored: 0 });
            for r in all.iter().filter(|r| r.started_at < 4 * DAY_MS) {
                assert_eq!(calls::get(db, &r.id).await.unwrap().as_ref(), Some(r), "restored as it was");
            }
            assert_eq!(spend(db, now).await, spend_before, "restored spend is counted once");
            // Archived again: the file keeps one copy of each record.
            assert_eq!(pass(db, dir.path(), &settings, now, &mut gate).await.unwrap(), 25);
            assert_eq!(archive::import(db, &day3).await.unwrap(), archive::Imported { read: 25, restored: 25 });
            assert_eq!(spend(db, now).await, spend_before);
            t.cleanup().await;
        }
    }

    /// Spend per (key, user, day) as the budgets load it, in a stable order.
    async fn spend(db: &Db, now: i64) -> Vec<(String, String, i64, i64)> {
        let mut rows = calls::spend_by_day(db, crate::billing::budgets::window_start(now)).await.unwrap();
        rows.sort();
        rows
    }
}
