//! Call archives: one gzip'd JSON-lines file per UTC day, `DATA_DIR/archive/calls-YYYY-MM-DD.jsonl.gz`,
//! each line one call record as the usage journal writes it (`CallRecord`'s serde form:
//! integer nano-credits, Unix milliseconds, empty fields left out; the attribution — `trace_id`,
//! `app`, `end_user`, `tags` — included), so a record comes back exactly as it left. Written by retention before it deletes a day; read back by
//! `tollgate archive import FILE`.
//!
//! A day archived again (its deletion was interrupted, or an import brought it back) keeps
//! one file: the old file's bytes, then a new gzip member holding only records it lacks,
//! written whole beside it and renamed over it, so a crash leaves the old file or the new.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;

use crate::store::Db;
use crate::store::call_list::{self, Cursor};
use crate::store::calls::{CallFilter, CallRecord};
use crate::store::retention::{self, DAY_MS};

/// Records read per query while archiving: small, so each read is a short burst of the
/// database server's work (PostgreSQL's runs at its own priority, not the job's).
const READ_PAGE: i64 = 250;

/// Records restored per transaction.
const PAGE: i64 = 1000;

pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("archive")
}

/// `calls-YYYY-MM-DD.jsonl.gz` of the UTC day starting at `day_ms`.
pub fn day_file(dir: &Path, day_ms: i64) -> PathBuf {
    let date = crate::clock::rfc3339(day_ms);
    dir.join(format!("calls-{}.jsonl.gz", &date[..10]))
}

/// What archiving one day did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Archived {
    /// Records of the day in the database.
    pub records: u64,
    /// Of those, the ones the file did not hold yet.
    pub added: u64,
}

/// Writes every record of the UTC day starting at `day_ms` into its file (adding to the file
/// when there is one), calling `rest` between pages (on a blocking thread: it may sleep, so
/// the reading and compressing leave the CPU to traffic, and end the work with an error). On
/// return the file holds every record the database had for that day.
pub async fn write_day(
    db: &Db,
    dir: &Path,
    day_ms: i64,
    mut rest: impl FnMut() -> Result<(), String> + Send + 'static,
) -> Result<Archived, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = day_file(dir, day_ms);
    let (db, handle) = (db.clone(), tokio::runtime::Handle::current());
    // Compression and file writes are blocking work: off the runtime's workers, reading the
    // database a page at a time from there.
    tokio::task::spawn_blocking(move || {
        let page = |after: Option<Cursor>| {
            if after.is_some() {
                rest()?;
            }
            let f = CallFilter { from_ms: Some(day_ms), to_ms: Some(day_ms + DAY_MS), ..CallFilter::default() };
            handle.block_on(call_list::list(&db, &f, after.as_ref(), READ_PAGE)).map_err(|e| e.to_string())
        };
        write_file(&path, page)
    })
    .await
    .map_err(|e| format!("archiving stopped: {e}"))?
}

fn write_file(
    path: &Path,
    mut page: impl FnMut(Option<Cursor>) -> Result<Vec<CallRecord>, String>,
) -> Result<Archived, String> {
    let failed = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let (held, old_bytes) = match std::fs::read(path) {
        Ok(bytes) => (ids_in(&bytes[..]).map_err(|e| format!("{}: {e}", path.display()))?, bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (HashSet::new(), Vec::new()),
        Err(e) => return Err(failed(e)),
    };
    let partial = path.with_extension("gz.partial");
    let mut file = std::fs::File::create(&partial).map_err(failed)?;
    file.write_all(&old_bytes).map_err(failed)?;
    let mut gz = GzEncoder::new(std::io::BufWriter::new(file), Compression::default());
    let mut done = Archived::default();
    let mut after = None;
    loop {
        let rows = page(after.take())?;
        for c in &rows {
            done.records += 1;
            if !held.contains(&c.id) {
                serde_json::to_writer(&mut gz, c).map_err(|e| failed(e.into()))?;
                gz.write_all(b"\n").map_err(failed)?;
                done.added += 1;
            }
        }
        if (rows.len() as i64) < READ_PAGE {
            break;
        }
        after = rows.last().map(Cursor::after);
    }
    if done.added == 0 {
        drop(gz);
        let _ = std::fs::remove_file(&partial);
        return Ok(done);
    }
    let file = gz.finish().map_err(failed)?.into_inner().map_err(|e| failed(e.into_error()))?;
    file.sync_all().map_err(failed)?;
    std::fs::rename(&partial, path).map_err(failed)?;
    if let Some(parent) = path.parent()
        && let Ok(d) = std::fs::File::open(parent)
    {
        let _ = d.sync_all();
    }
    Ok(done)
}

/// The ids of the records an archive holds.
fn ids_in(bytes: impl Read) -> Result<HashSet<String>, String> {
    let mut ids = HashSet::new();
    for_each_record(bytes, |c| {
        ids.insert(c.id);
        Ok(())
    })?;
    Ok(ids)
}

/// Calls `f` with each record of a gzip'd JSON-lines archive, in order.
fn for_each_record(bytes: impl Read, mut f: impl FnMut(CallRecord) -> Result<(), String>) -> Result<(), String> {
    let reader = BufReader::new(MultiGzDecoder::new(bytes));
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| format!("line {}: {e}", n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let c: CallRecord = serde_json::from_str(&line).map_err(|e| format!("line {}: {e}", n + 1))?;
        f(c)?;
    }
    Ok(())
}

/// What importing a file did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Imported {
    pub read: u64,
    pub restored: u64,
}

/// Puts the records of an archive file back, those not already present (so importing twice
/// restores nothing the second time). Their spend leaves `calls_spend_archived` as they come
/// back, so budgets count it once.
pub async fn import(db: &Db, file: &Path) -> Result<Imported, String> {
    let open = std::fs::File::open(file).map_err(|e| format!("cannot open {}: {e}", file.display()))?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<CallRecord>, String>>(2);
    let name = file.display().to_string();
    // Decompression is blocking work; batches cross a small channel, so memory stays bounded.
    let reader = tokio::task::spawn_blocking(move || {
        let mut batch = Vec::new();
        let read = for_each_record(open, |c| {
            batch.push(c);
            if batch.len() as i64 == PAGE {
                tx.blocking_send(Ok(std::mem::take(&mut batch))).map_err(|_| "import stopped".to_string())?;
            }
            Ok(())
        });
        let last = read.map(|()| batch).map_err(|e| format!("{name}: {e}"));
        let _ = tx.blocking_send(last);
    });
    let mut done = Imported::default();
    while let Some(batch) = rx.recv().await {
        let batch = batch?;
        done.read += batch.len() as u64;
        done.restored += retention::restore(db, &batch).await.map_err(|e| format!("cannot restore records: {e}"))?;
    }
    reader.await.map_err(|e| e.to_string())?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record with every attribution field set: an archive carries them all.
    fn record(id: &str) -> CallRecord {
        CallRecord {
            id: id.into(),
            status: "success".into(),
            cost: 7,
            started_at: 5,
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
            app: Some("search".into()),
            end_user: Some("user-42".into()),
            tags: Some("env=prod,team=search".into()),
            ..CallRecord::default()
        }
    }

    #[test]
    fn a_day_archived_again_keeps_one_file_without_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let path = day_file(dir.path(), 1_764_547_200_000);
        assert!(path.ends_with("calls-2025-12-01.jsonl.gz"), "{}", path.display());
        let pages = |rows: Vec<CallRecord>| {
            let mut once = Some(rows);
            move |_: Option<Cursor>| Ok(once.take().unwrap_or_default())
        };
        let first = write_file(&path, pages(vec![record("a"), record("b")])).unwrap();
        assert_eq!(first, Archived { records: 2, added: 2 });
        let again = write_file(&path, pages(vec![record("b"), record("c")])).unwrap();
        assert_eq!(again, Archived { records: 2, added: 1 });
        let mut ids = Vec::new();
        for_each_record(std::fs::File::open(&path).unwrap(), |c| {
            assert_eq!(c, record(&c.id), "a record comes back as it left");
            ids.push(c.id);
            Ok(())
        })
        .unwrap();
        assert_eq!(ids, ["a", "b", "c"]);
        let nothing_new = write_file(&path, pages(vec![record("a")])).unwrap();
        assert_eq!(nothing_new, Archived { records: 1, added: 0 });
        assert!(!path.with_extension("gz.partial").exists());
    }
}
