//! Start rows the batch writer holds back for a while: most calls finish within a moment, and
//! a start committed separately from its finish costs the database a second row write. The
//! journal already has the start line, so holding it back in memory loses nothing on a crash.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::store::call_outcome::CallStatus;
use crate::store::calls::CallWrite;

/// How long a start row waits for its call's finish before it is committed on its own (so a
/// long call, such as a stream, shows as `processing` while it runs).
pub(super) const HOLD: Duration = Duration::from_millis(500);

#[derive(Default)]
pub(super) struct HeldStarts {
    by_id: HashMap<String, CallWrite>,
    /// Call ids in arrival order with the moment each is due; ids already finished are
    /// skipped when they reach the front.
    order: VecDeque<(Instant, String)>,
}

/// A call's first write: `processing`, nothing charged yet.
pub(super) fn is_start(w: &CallWrite) -> bool {
    w.record.status == CallStatus::Processing && w.charge.is_none()
}

impl HeldStarts {
    pub(super) fn hold(&mut self, w: CallWrite, now: Instant) {
        self.order.push_back((now + HOLD, w.record.id.clone()));
        self.by_id.insert(w.record.id.clone(), w);
    }

    /// The call's finish is about to be written: its start is superseded.
    pub(super) fn finished(&mut self, id: &str) {
        self.by_id.remove(id);
    }

    /// When the oldest start still held is due.
    pub(super) fn next_due(&mut self) -> Option<Instant> {
        while let Some((due, id)) = self.order.front() {
            if self.by_id.contains_key(id) {
                return Some(*due);
            }
            self.order.pop_front();
        }
        None
    }

    /// Moves the starts due by `now` into `batch`.
    pub(super) fn release_due(&mut self, now: Instant, batch: &mut Vec<CallWrite>) {
        while let Some((due, _)) = self.order.front() {
            if *due > now {
                break;
            }
            let (_, id) = self.order.pop_front().expect("front exists");
            batch.extend(self.by_id.remove(&id));
        }
    }

    /// Moves every held start into `batch` (before a flush or a journal segment's deletion).
    pub(super) fn release_all(&mut self, batch: &mut Vec<CallWrite>) {
        for (_, id) in self.order.drain(..) {
            batch.extend(self.by_id.remove(&id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::calls::CallRecord;

    fn write(id: &str, status: &str) -> CallWrite {
        CallWrite { record: CallRecord { id: id.into(), status: status.into(), ..CallRecord::default() }, charge: None }
    }

    #[test]
    fn a_finished_call_drops_its_start_and_others_come_out_when_due() {
        let t0 = Instant::now();
        let mut held = HeldStarts::default();
        assert!(is_start(&write("a", "processing")) && !is_start(&write("a", "success")));
        held.hold(write("a", "processing"), t0);
        held.hold(write("b", "processing"), t0 + Duration::from_millis(10));
        held.finished("a");
        assert_eq!(held.next_due(), Some(t0 + Duration::from_millis(10) + HOLD));
        let mut batch = Vec::new();
        held.release_due(t0 + HOLD, &mut batch);
        assert!(batch.is_empty(), "b is not due yet");
        held.release_due(t0 + HOLD + Duration::from_millis(10), &mut batch);
        assert_eq!(batch.iter().map(|w| w.record.id.as_str()).collect::<Vec<_>>(), ["b"]);
        assert_eq!(held.next_due(), None);
        held.hold(write("c", "processing"), t0);
        held.release_all(&mut batch);
        assert_eq!(batch.len(), 2);
    }
}
