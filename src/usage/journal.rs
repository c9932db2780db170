//! The append-only journal and the handle the hot path records through. It fails closed: a
//! line that cannot be appended (the disk is full, a file-size limit reached) marks the
//! journal failing, and admission refuses calls ([`UsageLog::accepting`]) until a probe write
//! succeeds again, so no call runs without its record on disk.
//!
//! The writes waiting for the database writer are counted: past `backlog_max` admission sheds
//! new calls ([`UsageLog::overloaded`]), so calls arriving faster than the database takes their
//! records (or a database that is down) cannot grow the gateway's memory without bound.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::quarantine::Quarantine;
use crate::store::calls::CallWrite;

/// A journal segment is rotated past this size so it can be deleted once committed.
const SEGMENT_BYTES: u64 = 4 * 1024 * 1024;

/// While failing, how often admission tries whether the journal can be written again.
const PROBE_EVERY: Duration = Duration::from_millis(200);

/// The probe: a blank line (replay skips it) about as long as a call's line, so a disk with a
/// few bytes free does not pass for one with room; cut off again once written.
const PROBE: [u8; 4096] = {
    let mut p = [b' '; 4096];
    p[4095] = b'\n';
    p
};

pub(super) enum Msg {
    Write(Box<CallWrite>),
    /// Every write sent before this is in segment `PathBuf`; delete it once they are committed.
    Rotated(PathBuf),
    /// Commit everything sent before this, then answer.
    Flush(oneshot::Sender<()>),
}

struct Segment {
    file: File,
    path: PathBuf,
    seq: u64,
    bytes: u64,
    /// The line being written, kept so each record reuses its allocation.
    line: Vec<u8>,
    /// When admission last probed a failing journal.
    probed: Option<Instant>,
}

/// Where calls are recorded. Cheap to call from request handlers and from `Drop`.
pub struct UsageLog {
    dir: PathBuf,
    segment: Mutex<Segment>,
    tx: mpsc::UnboundedSender<Msg>,
    quarantine: Quarantine,
    /// The last append failed and no probe has succeeded since.
    failing: AtomicBool,
    /// Writes sent to the writer and not yet taken by it (it counts them down).
    backlog: Arc<AtomicUsize>,
    backlog_max: usize,
}

pub(super) fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("calls-{seq:012}.jsonl"))
}

/// Existing segments in order.
pub(super) fn segments(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let seq = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("calls-"))
            .and_then(|n| n.strip_suffix(".jsonl"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(seq) = seq {
            out.push((seq, path));
        }
    }
    out.sort();
    Ok(out)
}

fn open_segment(dir: &Path, seq: u64) -> std::io::Result<Segment> {
    let path = segment_path(dir, seq);
    let file = OpenOptions::new().create(true).append(true).open(&path)?;
    let bytes = file.metadata()?.len();
    Ok(Segment { file, path, seq, bytes, line: Vec::with_capacity(1024), probed: None })
}

impl UsageLog {
    /// Opens a new segment after any existing ones (which `replay` has already committed).
    pub(super) fn open(
        dir: &Path,
        tx: mpsc::UnboundedSender<Msg>,
        quarantine: Quarantine,
        backlog: Arc<AtomicUsize>,
        backlog_max: usize,
    ) -> std::io::Result<UsageLog> {
        std::fs::create_dir_all(dir)?;
        let next = segments(dir)?.last().map_or(1, |(seq, _)| seq + 1);
        let segment = Mutex::new(open_segment(dir, next)?);
        let failing = AtomicBool::new(false);
        Ok(UsageLog { dir: dir.to_path_buf(), segment, tx, quarantine, failing, backlog, backlog_max })
    }

    /// Records a call (its start, or its end with the charge). Returns once the line is in the
    /// journal file, true; false if it could not be appended (the journal is then failing).
    /// The database write happens later, in a batch, either way.
    pub fn record(&self, write: CallWrite) -> bool {
        let mut seg = self.segment.lock().unwrap_or_else(|p| p.into_inner());
        let seg = &mut *seg;
        seg.line.clear();
        serde_json::to_writer(&mut seg.line, &write).expect("call records serialize");
        seg.line.push(b'\n');
        let written = match seg.file.write_all(&seg.line) {
            Ok(()) => {
                seg.bytes += seg.line.len() as u64;
                true
            }
            Err(e) => {
                // Part of the line may be in the file: cut it off, so the next line does not
                // continue a torn one (replay would skip both).
                let _ = seg.file.set_len(seg.bytes);
                if !self.failing.swap(true, Ordering::AcqRel) {
                    tracing::error!(error = %e, "cannot append to the usage journal; refusing calls until it can");
                }
                tracing::warn!(call = %write.record.id, "call record not in the journal (the database write still happens)");
                false
            }
        };
        // Counted before it is sent, so the writer's count-down never runs ahead of it.
        self.backlog.fetch_add(1, Ordering::Relaxed);
        if self.tx.send(Msg::Write(Box::new(write))).is_err() {
            self.backlog.fetch_sub(1, Ordering::Relaxed);
        }
        if seg.bytes >= SEGMENT_BYTES {
            match open_segment(&self.dir, seg.seq + 1) {
                Ok(next) => {
                    let old = std::mem::replace(&mut *seg, next);
                    let _ = self.tx.send(Msg::Rotated(old.path));
                }
                Err(e) => tracing::error!(error = %e, "cannot rotate the usage journal"),
            }
        }
        written
    }

    /// Whether a call may be admitted: the journal can be written. Once failing, it probes
    /// (at most every `PROBE_EVERY`) by appending a blank line, cut off again, and accepts
    /// from the first probe that succeeds.
    pub fn accepting(&self) -> bool {
        if !self.failing.load(Ordering::Acquire) {
            return true;
        }
        let mut seg = self.segment.lock().unwrap_or_else(|p| p.into_inner());
        if !self.failing.load(Ordering::Acquire) {
            return true;
        }
        let now = Instant::now();
        if seg.probed.is_some_and(|t| now.duration_since(t) < PROBE_EVERY) {
            return false;
        }
        seg.probed = Some(now);
        let wrote = seg.file.write_all(&PROBE).is_ok();
        let cut = seg.file.set_len(seg.bytes).is_ok();
        if wrote && cut {
            self.failing.store(false, Ordering::Release);
            tracing::info!("the usage journal can be written again; admitting calls");
        }
        wrote && cut
    }

    /// Whether new calls should be shed: `backlog_max` writes are waiting for the database.
    pub fn overloaded(&self) -> bool {
        self.backlog() >= self.backlog_max
    }

    /// Writes waiting for the database writer.
    pub fn backlog(&self) -> usize {
        self.backlog.load(Ordering::Relaxed)
    }

    /// Writes the database refused for good since start-up (see [`Quarantine`]).
    pub fn rejected(&self) -> u64 {
        self.quarantine.rejected()
    }

    /// Waits until everything recorded so far is committed to the database.
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Msg::Flush(ack)).is_ok() {
            let _ = done.await;
        }
    }

    /// Flushes, then retires the current segment (clean shutdown leaves no journal behind).
    pub async fn close(&self) {
        self.flush().await;
        let path = {
            let mut seg = self.segment.lock().unwrap_or_else(|p| p.into_inner());
            match open_segment(&self.dir, seg.seq + 1) {
                Ok(next) => std::mem::replace(&mut *seg, next).path,
                Err(_) => return,
            }
        };
        let _ = self.tx.send(Msg::Rotated(path));
        self.flush().await;
    }
}
