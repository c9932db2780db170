//! Fetching an image URL for a provider that takes only inline images (Gemini, Bedrock). The
//! URL is the caller's, so it is treated as hostile: http(s) only, no credentials, every
//! address the host resolves to checked against the SSRF policy (`ssrf::PrivateAccess`; an IP
//! literal before connecting, a host name in this client's resolver, so the checked address
//! is the one connected to), redirects followed by hand and each hop checked the same way, the
//! size capped on `Content-Length` and again while the body streams, and the type decided by
//! the bytes ([`sniff`]). No cookies, no proxy, no decompression; one `User-Agent` naming the
//! gateway. The time limit covers a request's images together and is the caller's
//! (`gateway/images.rs`), as is deciding when to fetch at all.

pub mod sniff;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, USER_AGENT};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use url::Url;

use super::http;
use super::ssrf::PrivateAccess;
use crate::config::ImageFetchConfig;

/// Hops followed before giving up; each is checked like the first URL.
pub const MAX_REDIRECTS: usize = 3;

const GATEWAY_AGENT: &str = concat!("Tollgate/", env!("CARGO_PKG_VERSION"), " (image fetch for an AI gateway)");

/// The formats both inline-image providers are asked for (what [`sniff`] recognises).
const ACCEPT_IMAGES: &str = "image/png, image/jpeg, image/gif, image/webp";

/// An image as fetched: its type as its bytes say, and the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub media_type: &'static str,
    pub bytes: Bytes,
}

/// The client and limits of image fetching (one per process, in `AppState`).
pub struct ImageFetcher {
    /// The shared client build with the fetch address policy (`http::fetch_client`).
    client: http::Client,
    access: Arc<PrivateAccess>,
    max_bytes: u64,
    /// For the whole of a request's images (applied by the caller).
    pub timeout: Duration,
    /// Most URLs fetched for one request; 0: fetching is off.
    pub max_images: usize,
}

impl ImageFetcher {
    pub fn new(config: &ImageFetchConfig) -> ImageFetcher {
        let access = Arc::new(PrivateAccess::from_config(&config.allow_private));
        let timeout = Duration::from_millis(config.timeout_ms);
        // The whole fetch is bounded by the caller's deadline (one for a request's images).
        let client = http::fetch_client(access.clone(), timeout);
        ImageFetcher { client, access, max_bytes: config.max_bytes, timeout, max_images: config.max_images }
    }

    /// Fetches one image, following up to [`MAX_REDIRECTS`] checked redirects. The error is
    /// the reason, fit for the client (it never repeats the URL's query).
    pub async fn fetch(&self, raw: &str) -> Result<Fetched, String> {
        let mut url = check_url(raw, &self.access)?;
        let mut hops = 0;
        loop {
            let req = http::request(Method::GET, url.as_str(), fetch_headers(), Bytes::new())?;
            let resp = self.client.request(req).await.map_err(|e| cause(&e))?;
            let status = resp.status();
            if !is_redirect(status) {
                if !status.is_success() {
                    return Err(format!("the server answered {}", status.as_u16()));
                }
                return self.read(resp).await;
            }
            hops += 1;
            if hops > MAX_REDIRECTS {
                return Err(format!("more than {MAX_REDIRECTS} redirects"));
            }
            let location =
                resp.headers().get(LOCATION).and_then(|v| v.to_str().ok()).ok_or("a redirect with no Location")?;
            let next = url.join(location).map_err(|_| "a redirect to an invalid URL".to_string())?;
            url = check_url(next.as_str(), &self.access).map_err(|e| format!("redirected: {e}"))?;
        }
    }

    /// The body, within the size cap, if its first bytes are an image's.
    async fn read(&self, resp: http::Response) -> Result<Fetched, String> {
        let max = self.max_bytes;
        let too_large = || format!("the image is larger than the {max}-byte limit");
        let declared = resp.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max) {
            return Err(too_large());
        }
        let said = resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("no type").to_string();
        let not_an_image = || format!("not a png, jpeg, gif or webp image (the server sent {said})");
        let capacity = declared.unwrap_or(0).min(max) as usize;
        let mut body = BytesMut::with_capacity(capacity);
        let mut media_type = None;
        let mut incoming = resp.into_body();
        while let Some(frame) = incoming.frame().await {
            let frame = frame.map_err(|_| "the body could not be read".to_string())?;
            let Some(chunk) = frame.data_ref() else { continue };
            if body.len() as u64 + chunk.len() as u64 > max {
                return Err(too_large());
            }
            body.extend_from_slice(chunk);
            // Decided as soon as the first bytes are in: a non-image stops here.
            if media_type.is_none() && body.len() >= sniff::SNIFF_LEN {
                media_type = Some(sniff::image_type(&body).ok_or_else(not_an_image)?);
            }
        }
        let media_type = match media_type {
            Some(t) => t,
            None => sniff::image_type(&body).ok_or_else(not_an_image)?,
        };
        Ok(Fetched { media_type, bytes: body.freeze() })
    }
}

fn is_redirect(s: StatusCode) -> bool {
    matches!(s.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// The URL if the gateway may fetch it: http(s), no credentials, and — for an IP literal,
/// which no resolver sees — an address the policy permits.
pub fn check_url(raw: &str, access: &PrivateAccess) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|_| "not a valid URL".to_string())?;
    match url.scheme() {
        "http" | "https" => {}
        "data" => return Err("a data: URL must be base64 (data:image/png;base64,...)".into()),
        _ => return Err("only http and https image URLs are fetched".into()),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("image URLs with credentials are not fetched".into());
    }
    let host = url.host_str().ok_or("the URL has no host")?;
    // The URL parser has already normalised numeric forms (`0x7f.1`, `2130706433`).
    let ip = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok();
    if ip.is_some_and(|ip| !access.permits(ip)) {
        return Err("the address is private, local or a metadata service".into());
    }
    Ok(url)
}

/// What every fetch sends: the image types wanted and who is asking. No cookies, no
/// compression asked for.
fn fetch_headers() -> HeaderMap {
    let mut h = HeaderMap::with_capacity(2);
    h.insert(ACCEPT, HeaderValue::from_static(ACCEPT_IMAGES));
    h.insert(USER_AGENT, HeaderValue::from_static(GATEWAY_AGENT));
    h
}

/// The reason a request failed, fit for the client: the address policy's refusal as it is,
/// otherwise only the kind of failure (an error's text could repeat the URL).
fn cause(e: &hyper_util::client::legacy::Error) -> String {
    if let Some(refused) = http::refusal(e) {
        refused.to_string()
    } else if e.is_connect() {
        "could not connect to the host".into()
    } else {
        "the request failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AllowPrivate;

    #[test]
    fn urls_are_checked_before_any_connection() {
        let none = PrivateAccess::None;
        assert!(check_url("https://images.example.com/a.png?sig=1", &none).is_ok());
        let cases = [
            ("ftp://example.com/a.png", "only http and https"),
            ("file:///etc/passwd", "only http and https"),
            ("data:image/svg+xml,<svg/>", "must be base64"),
            ("https://user:pw@example.com/a.png", "credentials"),
            ("http://127.0.0.1:8080/a.png", "private"),
            ("http://[::1]/a.png", "private"),
            ("http://169.254.169.254/latest/meta-data/", "private"),
            ("http://2130706433/a.png", "private"),
            ("http://0x7f.1/a.png", "private"),
            ("http://[::ffff:10.0.0.1]/", "private"),
            ("not a url", "not a valid URL"),
        ];
        for (url, why) in cases {
            let e = check_url(url, &none).unwrap_err();
            assert!(e.contains(why), "{url}: {e}");
        }
        let all = PrivateAccess::from_config(&AllowPrivate::Switch(true));
        assert!(check_url("http://127.0.0.1:8080/a.png", &all).is_ok());
        assert!(check_url("http://169.254.169.254/", &all).is_err(), "metadata stays refused");
    }

    async fn serve(reply: &'static [u8]) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(reply).await;
            }
        });
        format!("http://{addr}/img")
    }

    fn fetcher(max_bytes: u64) -> ImageFetcher {
        let config = ImageFetchConfig { allow_private: AllowPrivate::Switch(true), max_bytes, ..Default::default() };
        ImageFetcher::new(&config)
    }

    #[tokio::test]
    async fn the_body_is_capped_and_sniffed_as_it_streams() {
        let png = serve(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-type: image/jpeg\r\ncontent-length: 16\r\n\r\n\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
            .await;
        let got = fetcher(1024).fetch(&png).await.unwrap();
        assert_eq!(got.media_type, "image/png", "the bytes decide, not the header");
        assert_eq!(got.bytes.len(), 16);
        assert!(fetcher(15).fetch(&png).await.unwrap_err().contains("larger than the 15-byte limit"));
        // No Content-Length: the cap holds while reading.
        let no_length =
            serve(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n\x89PNG\r\n\x1a\n\0\0\0\rIHDRmore bytes").await;
        assert!(fetcher(20).fetch(&no_length).await.unwrap_err().contains("larger than the 20-byte limit"));
        let html = serve(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-type: text/html\r\ncontent-length: 21\r\n\r\n<!doctype html><html>").await;
        let e = fetcher(1024).fetch(&html).await.unwrap_err();
        assert!(e.contains("not a png, jpeg, gif or webp image (the server sent text/html)"), "{e}");
        let tiny = serve(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 6\r\n\r\nGIF89a").await;
        assert_eq!(fetcher(1024).fetch(&tiny).await.unwrap().media_type, "image/gif", "short but whole");
        let missing = serve(b"HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n").await;
        assert_eq!(fetcher(1024).fetch(&missing).await.unwrap_err(), "the server answered 404");
    }

    #[tokio::test]
    async fn redirects_are_followed_and_each_hop_checked() {
        let to_metadata =
            serve(b"HTTP/1.1 302 Found\r\nconnection: close\r\nlocation: http://169.254.169.254/latest/meta-data/\r\ncontent-length: 0\r\n\r\n")
                .await;
        let e = fetcher(1024).fetch(&to_metadata).await.unwrap_err();
        assert!(e.starts_with("redirected: the address is private"), "{e}");
        let to_ftp = serve(
            b"HTTP/1.1 301 Moved\r\nconnection: close\r\nlocation: ftp://example.com/a\r\ncontent-length: 0\r\n\r\n",
        )
        .await;
        assert!(fetcher(1024).fetch(&to_ftp).await.unwrap_err().contains("only http and https"));
        let looping =
            serve(b"HTTP/1.1 307 Again\r\nconnection: close\r\nlocation: /img\r\ncontent-length: 0\r\n\r\n").await;
        assert_eq!(fetcher(1024).fetch(&looping).await.unwrap_err(), "more than 3 redirects");
    }

    #[tokio::test]
    async fn a_host_name_resolving_to_a_private_address_is_refused() {
        let png = serve(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 8\r\n\r\n\x89PNG\r\n\x1a\n").await;
        let by_name = png.replace("127.0.0.1", "localhost");
        let strict = ImageFetcher::new(&ImageFetchConfig::default());
        assert_eq!(strict.fetch(&by_name).await.unwrap_err(), "host resolves to a private address");
        assert!(strict.fetch(&png).await.unwrap_err().contains("private"));
    }
}
