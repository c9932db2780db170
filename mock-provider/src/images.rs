//! Image routes, for a gateway that fetches image URLs on its clients' behalf:
//! `GET /_img/{name}` where name is `png`, `jpeg`, `gif` or `webp` (a small image of that
//! type), `text` (an HTML page), `big` (a PNG header then `bytes` more bytes, default 1 MiB,
//! with `Content-Length` unless `length=none`), `slow` (the PNG after `ms` milliseconds) or
//! `redirect` (a 302 to `to`). `type=` overrides the `Content-Type` of any of them. Every
//! request is remembered (path and headers) for the tests to inspect.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;

/// A 1×1 transparent PNG.
pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\nIDATx\x9cc\0\x01\0\0\x05\0\x01\r\n-\xb4\0\0\0\0IEND\xaeB`\x82";
/// The start of a JFIF JPEG (enough for any type sniffer).
pub const JPEG: &[u8] = b"\xff\xd8\xff\xe0\0\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0\xff\xd9";
/// A 1×1 GIF.
pub const GIF: &[u8] =
    b"GIF89a\x01\0\x01\0\x80\0\0\0\0\0\xff\xff\xff!\xf9\x04\x01\0\0\0\0,\0\0\0\0\x01\0\x01\0\0\x02\x02D\x01\0;";
/// The start of a lossy WebP.
pub const WEBP: &[u8] = b"RIFF\x1a\0\0\0WEBPVP8 \x0e\0\0\0\x30\x01\0\x9d\x01\x2a\x01\0\x01\0";

/// One image request as the mock received it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ImageRequest {
    /// Path and query.
    pub path: String,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
}

/// The image requests since the last reset.
#[derive(Default)]
pub(crate) struct ImageLog {
    seen: Mutex<Vec<ImageRequest>>,
}

impl ImageLog {
    pub(crate) fn list(&self) -> Vec<ImageRequest> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn reset(&self) {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    fn push(&self, r: ImageRequest) {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).push(r);
    }
}

/// `GET /_img/{name}`.
pub(crate) async fn serve(
    log: &ImageLog,
    name: Path<String>,
    query: Query<HashMap<String, String>>,
    path: String,
    headers: &HeaderMap,
) -> Response {
    let headers = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    log.push(ImageRequest { path, headers });
    let q = |k: &str| query.get(k).cloned();
    let (content_type, body): (&str, Bytes) = match name.as_str() {
        "png" => ("image/png", Bytes::from_static(PNG)),
        "jpeg" => ("image/jpeg", Bytes::from_static(JPEG)),
        "gif" => ("image/gif", Bytes::from_static(GIF)),
        "webp" => ("image/webp", Bytes::from_static(WEBP)),
        "text" => ("text/html", Bytes::from_static(b"<!doctype html><html><body>not an image</body></html>")),
        "slow" => {
            let ms = q("ms").and_then(|v| v.parse().ok()).unwrap_or(1000);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            ("image/png", Bytes::from_static(PNG))
        }
        "big" => {
            let n: usize = q("bytes").and_then(|v| v.parse().ok()).unwrap_or(1 << 20);
            let mut body = PNG[..16].to_vec();
            body.resize(16 + n, 0);
            let content_type = q("type").unwrap_or_else(|| "image/png".into());
            if q("length").as_deref() == Some("none") {
                // A streamed body: no length announced, so only counting can stop it.
                let chunks = body
                    .chunks(16 * 1024)
                    .map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c)))
                    .collect::<Vec<_>>();
                let stream = futures_util::stream::iter(chunks);
                return ([(header::CONTENT_TYPE, content_type)], Body::from_stream(stream)).into_response();
            }
            return ([(header::CONTENT_TYPE, content_type)], body).into_response();
        }
        "redirect" => {
            // Raw bytes, so a Location with non-ASCII characters (an IDN host) goes out as given.
            let to = q("to").unwrap_or_default();
            let Ok(location) = header::HeaderValue::from_bytes(to.as_bytes()) else {
                return (StatusCode::BAD_REQUEST, "mock-provider: `to` is not a header value").into_response();
            };
            return (StatusCode::FOUND, [(header::LOCATION, location)]).into_response();
        }
        _ => return (StatusCode::NOT_FOUND, "mock-provider: no such image").into_response(),
    };
    let content_type = q("type").unwrap_or_else(|| content_type.to_string());
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}
