//! The event that carries a stream's final usage, held back (with whatever follows it) until
//! the call settles, so that it goes out carrying the call's cost — the amount the settlement
//! just charged, not a second estimate (`protocol::usage_cost`). An event with usage that
//! turns out not to be the last (a provider that reports usage on every chunk) goes out
//! unchanged as soon as the next one with usage arrives, so at most one event waits.

use bytes::{Bytes, BytesMut};

use crate::protocol::usage_cost;

#[derive(Default)]
pub struct FinalUsage {
    /// The latest event with usage, then the events after it; empty when none waits.
    held: Vec<Bytes>,
    /// Where the first held event has its usage.
    path: &'static [&'static str],
}

impl FinalUsage {
    /// An event with usage at `path`: held back; what was held before goes out now.
    pub fn hold(&mut self, event: Bytes, path: &'static [&'static str]) -> Bytes {
        let out = self.release();
        self.held.push(event);
        self.path = path;
        out
    }

    /// Any other event: queued behind a held usage event, else `None` (it goes out now).
    pub fn after(&mut self, event: Bytes) -> Option<Bytes> {
        if self.held.is_empty() {
            return Some(event);
        }
        self.held.push(event);
        None
    }

    /// What is held, unchanged (the stream failed: the client gets it before the error).
    pub fn release(&mut self) -> Bytes {
        let mut out = BytesMut::new();
        for e in self.held.drain(..) {
            out.extend_from_slice(&e);
        }
        out.freeze()
    }

    /// What is held, the usage event carrying `cost` (the stream completed and was settled).
    pub fn with_cost(&mut self, cost: &str) -> Bytes {
        let mut out = BytesMut::new();
        for (i, e) in self.held.drain(..).enumerate() {
            let e = if i == 0 { usage_cost::event_with_cost(&e, self.path, cost) } else { e };
            out.extend_from_slice(&e);
        }
        out.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::usage_cost::USAGE;

    #[test]
    fn only_the_last_usage_event_waits_and_carries_the_cost() {
        let mut f = FinalUsage::default();
        let first = Bytes::from_static(b"data: {\"usage\":{\"a\":1}}\n\n");
        let last = Bytes::from_static(b"data: {\"usage\":{\"a\":2}}\n\n");
        let ping = Bytes::from_static(b"event: ping\ndata: {}\n\n");
        assert_eq!(f.after(ping.clone()), Some(ping.clone()), "nothing held: out now");
        assert!(f.hold(first.clone(), USAGE).is_empty());
        assert_eq!(f.hold(last, USAGE), first, "not the last: out unchanged");
        assert_eq!(f.after(ping), None);
        assert_eq!(
            &f.with_cost("0.5")[..],
            b"data: {\"usage\":{\"a\":2,\"cost\":0.5}}\n\nevent: ping\ndata: {}\n\n".as_slice()
        );
        assert!(f.release().is_empty());
    }
}
