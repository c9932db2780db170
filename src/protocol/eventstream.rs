//! The AWS event-stream binary framing (`application/vnd.amazon.eventstream`), in which
//! Bedrock's ConverseStream arrives. Each message is
//!
//! ```text
//! total length u32 | headers length u32 | prelude CRC32 u32 | headers | payload | message CRC32 u32
//! ```
//!
//! all big-endian, the prelude CRC over the first 8 bytes and the message CRC over everything
//! before it. A header is `name length u8 | name | value type u8 | value`.
//!
//! [`Decoder`] takes bytes split at any read boundary and hands out whole, checked messages;
//! a damaged frame is an error that ends the stream (the framing cannot resynchronise).
//! [`encode`] writes the same framing, for tests and for symmetry with the mock.

use bytes::{Buf, Bytes, BytesMut};

/// CRC-32 (IEEE 802.3, the zlib one) as the framing uses it.
const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// Prelude (12 bytes) plus message CRC (4 bytes): the smallest message.
const MIN_MESSAGE: usize = 16;
/// AWS caps a payload at 16 MiB and headers at 128 KiB; anything longer is a corrupt
/// length, refused before it is buffered.
const MAX_MESSAGE: usize = 16 * 1024 * 1024 + 128 * 1024 + MIN_MESSAGE;

/// A header value, by its wire type (0–9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    Bool(bool),
    Byte(i8),
    Short(i16),
    Int(i32),
    Long(i64),
    Bytes(Vec<u8>),
    String(String),
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
    Uuid([u8; 16]),
}

/// One decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub headers: Vec<(String, HeaderValue)>,
    pub payload: Bytes,
}

impl Message {
    /// A string header's value (`:event-type`, `:message-type`, ...).
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|(n, v)| match v {
            HeaderValue::String(s) if n == name => Some(s.as_str()),
            _ => None,
        })
    }
}

/// Why a frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The total length is below the minimum or above AWS's maximum.
    BadLength(u32),
    PreludeCrc,
    MessageCrc,
    /// The headers do not parse (truncated, unknown type, non-UTF-8 name or string).
    BadHeaders(&'static str),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::BadLength(n) => write!(f, "event-stream message length {n} is out of range"),
            FrameError::PreludeCrc => f.write_str("event-stream prelude checksum mismatch"),
            FrameError::MessageCrc => f.write_str("event-stream message checksum mismatch"),
            FrameError::BadHeaders(why) => write!(f, "event-stream headers are malformed: {why}"),
        }
    }
}

/// Accumulates bytes; hands out whole messages once their last byte has arrived.
#[derive(Default)]
pub struct Decoder {
    buf: BytesMut,
    /// Set after an error: the rest of the stream cannot be framed.
    broken: bool,
}

impl Decoder {
    pub fn push(&mut self, chunk: &[u8]) {
        if !self.broken {
            self.buf.extend_from_slice(chunk);
        }
    }

    /// The next complete message, `Ok(None)` while one is still incomplete. After an error
    /// the decoder yields nothing more.
    pub fn next_message(&mut self) -> Result<Option<Message>, FrameError> {
        if self.broken || self.buf.len() < 12 {
            return Ok(None);
        }
        let total = u32::from_be_bytes(self.buf[0..4].try_into().expect("4 bytes"));
        let headers_len = u32::from_be_bytes(self.buf[4..8].try_into().expect("4 bytes")) as usize;
        let prelude_crc = u32::from_be_bytes(self.buf[8..12].try_into().expect("4 bytes"));
        // The prelude is checked before its lengths are trusted.
        if CRC32.checksum(&self.buf[0..8]) != prelude_crc {
            return self.fail(FrameError::PreludeCrc);
        }
        let len = total as usize;
        if !(MIN_MESSAGE..=MAX_MESSAGE).contains(&len) || headers_len > len - MIN_MESSAGE {
            return self.fail(FrameError::BadLength(total));
        }
        if self.buf.len() < len {
            return Ok(None);
        }
        let frame = self.buf.split_to(len).freeze();
        let message_crc = u32::from_be_bytes(frame[len - 4..].try_into().expect("4 bytes"));
        if CRC32.checksum(&frame[..len - 4]) != message_crc {
            return self.fail(FrameError::MessageCrc);
        }
        let headers = match parse_headers(&frame[12..12 + headers_len]) {
            Ok(h) => h,
            Err(why) => return self.fail(FrameError::BadHeaders(why)),
        };
        Ok(Some(Message { headers, payload: frame.slice(12 + headers_len..len - 4) }))
    }

    /// Bytes of an unfinished message left when the stream ended (0 after a clean end).
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    fn fail(&mut self, e: FrameError) -> Result<Option<Message>, FrameError> {
        self.broken = true;
        self.buf.clear();
        Err(e)
    }
}

fn parse_headers(mut b: &[u8]) -> Result<Vec<(String, HeaderValue)>, &'static str> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], &'static str> {
        if b.len() < n {
            return Err("truncated header");
        }
        let (head, rest) = b.split_at(n);
        *b = rest;
        Ok(head)
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let name_len = take(&mut b, 1)?[0] as usize;
        let name = std::str::from_utf8(take(&mut b, name_len)?).map_err(|_| "header name is not UTF-8")?.to_string();
        let value = match take(&mut b, 1)?[0] {
            0 => HeaderValue::Bool(true),
            1 => HeaderValue::Bool(false),
            2 => HeaderValue::Byte(take(&mut b, 1)?[0] as i8),
            3 => HeaderValue::Short(take(&mut b, 2)?.get_i16()),
            4 => HeaderValue::Int(take(&mut b, 4)?.get_i32()),
            5 => HeaderValue::Long(take(&mut b, 8)?.get_i64()),
            6 => {
                let n = take(&mut b, 2)?.get_u16() as usize;
                HeaderValue::Bytes(take(&mut b, n)?.to_vec())
            }
            7 => {
                let n = take(&mut b, 2)?.get_u16() as usize;
                let s = std::str::from_utf8(take(&mut b, n)?).map_err(|_| "string header is not UTF-8")?;
                HeaderValue::String(s.to_string())
            }
            8 => HeaderValue::Timestamp(take(&mut b, 8)?.get_i64()),
            9 => HeaderValue::Uuid(take(&mut b, 16)?.try_into().expect("16 bytes")),
            _ => return Err("unknown header value type"),
        };
        out.push((name, value));
    }
    Ok(out)
}

/// One message in the framing. Panics if a header name exceeds 255 bytes or a string or
/// bytes value 65535 (the format cannot express them; callers pass constants).
pub fn encode(headers: &[(&str, HeaderValue)], payload: &[u8]) -> Bytes {
    let mut head = Vec::new();
    for (name, value) in headers {
        head.push(u8::try_from(name.len()).expect("header name fits the format"));
        head.extend_from_slice(name.as_bytes());
        let short_len = |n: usize| u16::try_from(n).expect("header value fits the format").to_be_bytes();
        match value {
            HeaderValue::Bool(true) => head.push(0),
            HeaderValue::Bool(false) => head.push(1),
            HeaderValue::Byte(v) => head.extend([2, *v as u8]),
            HeaderValue::Short(v) => {
                head.push(3);
                head.extend(v.to_be_bytes());
            }
            HeaderValue::Int(v) => {
                head.push(4);
                head.extend(v.to_be_bytes());
            }
            HeaderValue::Long(v) => {
                head.push(5);
                head.extend(v.to_be_bytes());
            }
            HeaderValue::Bytes(v) => {
                head.push(6);
                head.extend(short_len(v.len()));
                head.extend_from_slice(v);
            }
            HeaderValue::String(v) => {
                head.push(7);
                head.extend(short_len(v.len()));
                head.extend_from_slice(v.as_bytes());
            }
            HeaderValue::Timestamp(v) => {
                head.push(8);
                head.extend(v.to_be_bytes());
            }
            HeaderValue::Uuid(v) => {
                head.push(9);
                head.extend_from_slice(v);
            }
        }
    }
    let total = 12 + head.len() + payload.len() + 4;
    let mut msg = Vec::with_capacity(total);
    msg.extend_from_slice(&(total as u32).to_be_bytes());
    msg.extend_from_slice(&(head.len() as u32).to_be_bytes());
    let prelude_crc = CRC32.checksum(&msg);
    msg.extend_from_slice(&prelude_crc.to_be_bytes());
    msg.extend_from_slice(&head);
    msg.extend_from_slice(payload);
    let message_crc = CRC32.checksum(&msg);
    msg.extend_from_slice(&message_crc.to_be_bytes());
    Bytes::from(msg)
}

/// A Bedrock stream event: `:event-type`, JSON content, `:message-type: event`.
pub fn encode_event(event_type: &str, payload: &[u8]) -> Bytes {
    let s = |v: &str| HeaderValue::String(v.to_string());
    encode(
        &[(":event-type", s(event_type)), (":content-type", s("application/json")), (":message-type", s("event"))],
        payload,
    )
}

/// A Bedrock in-stream exception: `:exception-type`, `:message-type: exception`.
pub fn encode_exception(exception_type: &str, payload: &[u8]) -> Bytes {
    let s = |v: &str| HeaderValue::String(v.to_string());
    encode(
        &[
            (":exception-type", s(exception_type)),
            (":content-type", s("application/json")),
            (":message-type", s("exception")),
        ],
        payload,
    )
}

#[cfg(test)]
mod tests;
