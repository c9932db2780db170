//! Retention (`[retention] calls_days`): at start-up and every `interval_secs`, each UTC day
//! of call records older than the days kept is archived (`usage::archive`) and then deleted
//! in bounded batches with pauses between them (`store::retention`), oldest day first. A
//! day's records are deleted only once its file holds every one of them.

use std::path::Path;
use std::sync::Weak;
use std::time::Duration;

use crate::config::RetentionConfig;
use crate::state::AppState;
use crate::store::Db;
use crate::store::retention::{self, DAY_MS};
use crate::usage::archive;

/// Runs passes while the gateway lives (holds it only during a pass).
pub async fn run(state: Weak<AppState>) {
    loop {
        let Some(s) = state.upgrade() else { return };
        let (db, dir, settings) = (s.db.clone(), archive::dir(&s.config.data_dir), s.config.retention);
        drop(s);
        if settings.calls_days.is_none() {
            return;
        }
        if let Err(e) = pass(&db, &dir, &settings, crate::clock::now_ms()).await {
            tracing::error!("retention stopped for now, records are kept: {e}");
        }
        tokio::time::sleep(Duration::from_secs(settings.interval_secs)).await;
    }
}

/// The first instant kept: the start of the UTC day `calls_days` days before today's.
pub fn cutoff(calls_days: u32, now_ms: i64) -> i64 {
    now_ms.div_euclid(DAY_MS) * DAY_MS - i64::from(calls_days) * DAY_MS
}

/// One pass: archives and deletes every whole day before the cutoff. Returns the records
/// deleted.
pub async fn pass(db: &Db, dir: &Path, settings: &RetentionConfig, now_ms: i64) -> Result<u64, String> {
    let Some(days) = settings.calls_days else { return Ok(0) };
    let cutoff = cutoff(days, now_ms);
    let mut deleted = 0;
    while let Some(oldest) = retention::oldest_started(db).await.map_err(|e| e.to_string())? {
        let day = oldest.div_euclid(DAY_MS) * DAY_MS;
        if day + DAY_MS > cutoff {
            break;
        }
        let n = archive_and_delete(db, dir, settings, day).await?;
        tracing::info!(
            records = n,
            file = %archive::day_file(dir, day).display(),
            "archived and deleted a day of call records"
        );
        deleted += n;
    }
    Ok(deleted)
}

async fn archive_and_delete(db: &Db, dir: &Path, settings: &RetentionConfig, day: i64) -> Result<u64, String> {
    let (from, to) = (day, day + DAY_MS);
    // Records of a day this old no longer change; should one arrive meanwhile (an import),
    // the day is archived again before anything is deleted.
    loop {
        let archived = archive::write_day(db, dir, day).await?;
        let now = retention::count(db, from, to).await.map_err(|e| e.to_string())?;
        if now as u64 == archived.records {
            break;
        }
    }
    let limit = i64::from(settings.batch_rows);
    let mut deleted = 0;
    loop {
        let n = retention::delete_batch(db, from, to, limit).await.map_err(|e| e.to_string())?;
        deleted += n;
        if (n as i64) < limit {
            return Ok(deleted);
        }
        tokio::time::sleep(Duration::from_millis(settings.batch_pause_ms)).await;
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
            let settings = RetentionConfig { calls_days: Some(3), batch_rows: 4, batch_pause_ms: 0, interval_secs: 1 };

            assert_eq!(pass(db, dir.path(), &settings, now).await.unwrap(), 25 + 13);
            assert_eq!(retention::count(db, 0, 17 * DAY_MS).await.unwrap(), 0);
            assert_eq!(retention::count(db, 17 * DAY_MS, 21 * DAY_MS).await.unwrap(), 10, "recent days kept");
            assert_eq!(spend(db, now).await, spend_before, "budgets see the same spend");
            let day3 = archive::day_file(dir.path(), 3 * DAY_MS);
            let mut files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
            files.sort();
            assert_eq!(files, ["calls-1970-01-04.jsonl.gz", "calls-1970-01-06.jsonl.gz"]);
            assert_eq!(pass(db, dir.path(), &settings, now).await.unwrap(), 0, "nothing left to do");

            let first = archive::import(db, &day3).await.unwrap();
            assert_eq!(first, archive::Imported { read: 25, restored: 25 });
            let again = archive::import(db, &day3).await.unwrap();
            assert_eq!(again, archive::Imported { read: 25, restored: 0 });
            for r in all.iter().filter(|r| r.started_at < 4 * DAY_MS) {
                assert_eq!(calls::get(db, &r.id).await.unwrap().as_ref(), Some(r), "restored as it was");
            }
            assert_eq!(spend(db, now).await, spend_before, "restored spend is counted once");
            // Archived again: the file keeps one copy of each record.
            assert_eq!(pass(db, dir.path(), &settings, now).await.unwrap(), 25);
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
