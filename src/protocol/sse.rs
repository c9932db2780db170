//! Server-sent events: splits a byte stream into whole events whatever the read boundaries
//! (an event, a line or a UTF-8 character may be split across reads), and reads their data.

use bytes::{Bytes, BytesMut};

/// Accumulates bytes and hands out complete events, each with its terminating blank line.
#[derive(Default)]
pub struct SseFramer {
    buf: BytesMut,
    /// Where the next search for a terminator starts, so bytes are scanned once.
    scanned: usize,
}

impl SseFramer {
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete event, if one is buffered.
    pub fn next_event(&mut self) -> Option<Bytes> {
        let start = self.scanned.saturating_sub(3);
        let hay = &self.buf[start..];
        // Every terminator starts with a line break: only those positions are looked at.
        for i in memchr::memchr2_iter(b'\n', b'\r', hay) {
            let len = match &hay[i..] {
                [b'\n', b'\n', ..] => 2,
                [b'\r', b'\n', b'\r', b'\n', ..] => 4,
                [b'\r', b'\r', ..] => 2,
                _ => 0,
            };
            if len > 0 {
                let end = start + i + len;
                self.scanned = 0;
                return Some(self.buf.split_to(end).freeze());
            }
        }
        self.scanned = self.buf.len();
        None
    }

    /// Bytes left over at the end of a stream (an unterminated final event).
    pub fn take_rest(&mut self) -> Bytes {
        self.scanned = 0;
        self.buf.split().freeze()
    }
}

/// The `data` of an event: its `data:` lines joined by `\n` (one leading space stripped).
/// `None` for events without data (comments, bare `event:` lines).
pub fn event_data(event: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(event).ok()?;
    let mut out: Option<String> = None;
    for line in lines(text) {
        if let Some(rest) = line.strip_prefix("data:") {
            let rest = rest.strip_prefix(' ').unwrap_or(rest);
            match &mut out {
                Some(s) => {
                    s.push('\n');
                    s.push_str(rest);
                }
                None => out = Some(rest.to_string()),
            }
        }
    }
    out
}

/// The lines of an event, split at every `\n` or `\r` (a `\r\n` leaves an empty line
/// between, which no field starts with). Found with `memchr`: splitting a `str` on a set of
/// chars goes through the text one char at a time, and this runs for every relayed event.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let r = rest?;
        match memchr::memchr2(b'\n', b'\r', r.as_bytes()) {
            Some(i) => {
                rest = Some(&r[i + 1..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// The `event:` name of an event, if it has one.
pub fn event_name(event: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(event).ok()?;
    lines(text).find_map(|l| l.strip_prefix("event:")).map(|n| n.trim())
}

/// `event` with its data replaced by `data` (one line): its other fields (`event:`, `id:`)
/// kept in order.
pub fn replace_data(event: &[u8], data: &str) -> Bytes {
    let text = std::str::from_utf8(event).unwrap_or("");
    let mut out = String::with_capacity(text.len() + data.len());
    for line in lines(text).filter(|l| !l.is_empty() && !l.starts_with("data:")) {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("data: ");
    out.push_str(data);
    out.push_str("\n\n");
    Bytes::from(out)
}

/// Formats one `data:` event.
pub fn data_event(data: &str) -> Bytes {
    Bytes::from(format!("data: {data}\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str =
        "data: {\"a\":\"h\u{e9}llo\"}\n\n: comment\n\nevent: x\r\ndata: 1\r\ndata: 2\r\n\r\ndata: [DONE]\n\n";

    fn frame_all(chunks: &[&[u8]]) -> Vec<Bytes> {
        let mut f = SseFramer::default();
        let mut out = Vec::new();
        for c in chunks {
            f.push(c);
            while let Some(e) = f.next_event() {
                out.push(e);
            }
        }
        assert!(f.take_rest().is_empty());
        out
    }

    #[test]
    fn same_events_at_every_split_point() {
        let bytes = STREAM.as_bytes();
        let whole = frame_all(&[bytes]);
        assert_eq!(whole.len(), 4);
        for i in 0..=bytes.len() {
            for j in i..=bytes.len() {
                let split = frame_all(&[&bytes[..i], &bytes[i..j], &bytes[j..]]);
                assert_eq!(split, whole, "split at {i},{j}");
            }
        }
    }

    #[test]
    fn reads_data_and_names() {
        let events = frame_all(&[STREAM.as_bytes()]);
        assert_eq!(event_data(&events[0]).unwrap(), "{\"a\":\"h\u{e9}llo\"}");
        assert_eq!(event_data(&events[1]), None);
        assert_eq!(event_data(&events[2]).unwrap(), "1\n2");
        assert_eq!(event_name(&events[2]), Some("x"));
        assert_eq!(event_data(&events[3]).unwrap(), "[DONE]");
        assert_eq!(&data_event("x")[..], b"data: x\n\n");
    }
}
