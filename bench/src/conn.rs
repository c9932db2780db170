//! One keep-alive HTTP/1.1 client connection (hyper, no pool) and the request template the
//! load generator sends over it, with the timing of each body frame.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// What is sent: one POST, the same every time.
#[derive(Clone, Debug)]
pub struct Template {
    pub addr: SocketAddr,
    pub path: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

impl Template {
    /// A JSON POST to `addr` + `path`.
    pub fn json(addr: SocketAddr, path: &str, body: &serde_json::Value) -> Template {
        Template {
            addr,
            path: path.to_string(),
            headers: vec![(hyper::header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            body: Bytes::from(body.to_string()),
        }
    }

    /// Adds a header; panics on a value that is not a valid header (a bench set-up bug).
    pub fn header(mut self, name: &'static str, value: &str) -> Template {
        let value = HeaderValue::from_str(value).expect("valid header value");
        self.headers.push((HeaderName::from_static(name), value));
        self
    }

    pub fn bearer(self, token: &str) -> Template {
        self.header("authorization", &format!("Bearer {token}"))
    }

    fn request(&self) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(self.body.clone()));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self.path.parse().expect("valid request path");
        let h = req.headers_mut();
        h.insert(hyper::header::HOST, HeaderValue::from_str(&self.addr.to_string()).expect("address"));
        for (name, value) in &self.headers {
            h.insert(name.clone(), value.clone());
        }
        req
    }
}

/// How one exchange went, with instants the caller turns into latencies.
pub struct Exchange {
    pub status: u16,
    pub first_frame: Option<Instant>,
    pub done: Instant,
    pub bytes: usize,
    /// The body ended with an SSE `data: [DONE]` event.
    pub saw_done: bool,
}

/// One connection; reconnect by making a new one after an error.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    pub async fn connect(addr: SocketAddr) -> Result<Conn, String> {
        let tcp = TcpStream::connect(addr).await.map_err(|e| format!("connect {addr}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let (sender, conn) = http1::handshake(TokioIo::new(tcp)).await.map_err(|e| format!("handshake {addr}: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn { sender })
    }

    /// Sends the template and reads the whole response, calling `on_gap` with the time between
    /// consecutive body frames.
    pub async fn exchange(&mut self, t: &Template, mut on_gap: impl FnMut(Duration)) -> Result<Exchange, String> {
        self.sender.ready().await.map_err(|e| format!("connection: {e}"))?;
        let resp = self.sender.send_request(t.request()).await.map_err(|e| format!("send: {e}"))?;
        let status = resp.status().as_u16();
        let mut body = resp.into_body();
        let mut first_frame = None;
        let mut last = None;
        let mut bytes = 0;
        let mut tail = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("body: {e}"))?;
            let Ok(data) = frame.into_data() else { continue };
            let now = Instant::now();
            first_frame.get_or_insert(now);
            if let Some(prev) = last {
                on_gap(now - prev);
            }
            last = Some(now);
            bytes += data.len();
            keep_tail(&mut tail, &data);
        }
        let saw_done = trimmed(&tail).ends_with(b"data: [DONE]");
        Ok(Exchange { status, first_frame, done: Instant::now(), bytes, saw_done })
    }
}

/// Keeps the last 64 bytes of the body seen so far.
fn keep_tail(tail: &mut Vec<u8>, data: &[u8]) {
    tail.extend_from_slice(&data[data.len().saturating_sub(64)..]);
    let excess = tail.len().saturating_sub(64);
    tail.drain(..excess);
}

fn trimmed(b: &[u8]) -> &[u8] {
    let end = b.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(0, |i| i + 1);
    &b[..end]
}

/// One request on a fresh connection, for set-up calls: returns status and body.
pub async fn once(
    addr: SocketAddr,
    method: Method,
    path: &str,
    bearer: Option<&str>,
    body: Option<&serde_json::Value>,
) -> Result<(u16, Bytes), String> {
    let mut conn = Conn::connect(addr).await?;
    let mut req = Request::new(Full::new(body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()))));
    *req.method_mut() = method;
    *req.uri_mut() = path.parse().map_err(|e| format!("path {path}: {e}"))?;
    let h = req.headers_mut();
    h.insert(hyper::header::HOST, HeaderValue::from_str(&addr.to_string()).map_err(|e| e.to_string())?);
    h.insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(token) = bearer {
        let v = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|e| e.to_string())?;
        h.insert(hyper::header::AUTHORIZATION, v);
    }
    conn.sender.ready().await.map_err(|e| e.to_string())?;
    let resp = conn.sender.send_request(req).await.map_err(|e| format!("{path}: {e}"))?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.map_err(|e| format!("{path}: {e}"))?.to_bytes();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_end() {
        let mut tail = Vec::new();
        keep_tail(&mut tail, &[b'x'; 100]);
        keep_tail(&mut tail, b"data: [DONE]\n\n");
        assert_eq!(tail.len(), 64);
        assert!(trimmed(&tail).ends_with(b"data: [DONE]"));
    }
}
