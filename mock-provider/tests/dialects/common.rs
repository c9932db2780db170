//! Helpers shared by the dialect tests: HTTP, SSE parsing, AWS event-stream decoding.

use futures_util::StreamExt;
use mock_provider::{MockConfig, MockServer};
use serde_json::Value;

pub async fn server() -> MockServer {
    MockServer::start(MockConfig::default()).await
}

/// A response read to its end, or to the error that cut it.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
    /// The body ended with an error (an aborted connection).
    pub cut: bool,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }
}

/// Sends `body` (JSON, if any) with `headers` and reads the whole response, frame by frame.
pub async fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&Value>) -> Reply {
    let client = reqwest::Client::new();
    let mut req = client.request(method.parse().unwrap(), url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    if let Some(body) = body {
        req = req.header("content-type", "application/json").body(body.to_string());
    }
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let mut body = Vec::new();
    let mut cut = false;
    let mut frames = resp.bytes_stream();
    while let Some(frame) = frames.next().await {
        match frame {
            Ok(bytes) => body.extend_from_slice(&bytes),
            Err(_) => {
                cut = true;
                break;
            }
        }
    }
    Reply { status, headers, body, cut }
}

pub async fn post(url: &str, headers: &[(&str, &str)], body: &Value) -> Reply {
    send("POST", url, headers, Some(body)).await
}

/// The events of an SSE body: (event name, data as JSON). Accepts LF or CRLF line ends.
pub fn sse(body: &[u8]) -> Vec<(Option<String>, Value)> {
    let text = std::str::from_utf8(body).unwrap().replace("\r\n", "\n");
    let mut events = Vec::new();
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let mut name = None;
        let mut data = String::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event: ") {
                name = Some(v.to_owned());
            } else if let Some(v) = line.strip_prefix("data: ") {
                data.push_str(v);
            } else {
                panic!("unexpected SSE line {line:?}");
            }
        }
        events.push((name, serde_json::from_str(&data).unwrap_or_else(|e| panic!("{e}: {data}"))));
    }
    events
}

/// CRC-32 (IEEE), bit by bit: an implementation independent of the mock's table.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for b in bytes {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// One decoded event-stream message.
#[derive(Debug)]
pub struct Frame {
    pub headers: Vec<(String, String)>,
    pub payload: Value,
}

impl Frame {
    pub fn header(&self, name: &str) -> &str {
        self.headers.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v)
    }
}

/// Decodes AWS event-stream messages, checking both CRCs and every length; returns the
/// messages and the bytes after the last whole one.
pub fn event_stream(mut bytes: &[u8]) -> (Vec<Frame>, usize) {
    let be32 = |b: &[u8]| u32::from_be_bytes(b[..4].try_into().unwrap());
    let mut frames = Vec::new();
    while bytes.len() >= 12 {
        let total = be32(bytes) as usize;
        let headers_len = be32(&bytes[4..]) as usize;
        assert_eq!(be32(&bytes[8..]), crc32(&bytes[..8]), "prelude CRC");
        if bytes.len() < total {
            break;
        }
        assert_eq!(be32(&bytes[total - 4..]), crc32(&bytes[..total - 4]), "message CRC");
        let mut head = &bytes[12..12 + headers_len];
        let mut headers = Vec::new();
        while !head.is_empty() {
            let name_len = head[0] as usize;
            let name = std::str::from_utf8(&head[1..1 + name_len]).unwrap().to_owned();
            assert_eq!(head[1 + name_len], 7, "string header");
            let at = 2 + name_len;
            let value_len = u16::from_be_bytes([head[at], head[at + 1]]) as usize;
            let value = std::str::from_utf8(&head[at + 2..at + 2 + value_len]).unwrap().to_owned();
            headers.push((name, value));
            head = &head[at + 2 + value_len..];
        }
        let payload = serde_json::from_slice(&bytes[12 + headers_len..total - 4]).unwrap();
        frames.push(Frame { headers, payload });
        bytes = &bytes[total..];
    }
    (frames, bytes.len())
}

/// The text of `words` reply words, as every dialect sends it.
pub fn reply_text(words: usize) -> String {
    let vocabulary = ["Hello", " from", " the", " mock", " provider", " with", " a", " deterministic", " reply"];
    (0..words).map(|i| if i == 0 { vocabulary[0] } else { vocabulary[1 + (i - 1) % 8] }).collect()
}
