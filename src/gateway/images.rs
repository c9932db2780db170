//! Image URLs for providers that take only inline images (Gemini, Bedrock). OpenAI and
//! Anthropic providers take URLs and get them unchanged; for the others the gateway fetches
//! the image itself (`providers::image_fetch`, SSRF-guarded) and converts the request with
//! the bytes.
//!
//! When: a request reaches this module only if converting it for such a protocol failed and
//! its canonical form holds an image URL (`Inbound::prepare`), so requests without image URLs
//! pay nothing. The URLs are then swapped for placeholders, so the rest of the conversion is
//! still checked before admission; the fetch itself waits for the first attempt on such a
//! provider — after authentication and admission, never for a provider that takes URLs —
//! and happens once per request: failover to another inline-image provider reuses the bytes.
//! A failed fetch is the client's 400, recorded on the call, with nothing charged.

use std::time::{Duration, Instant};

use base64::Engine;
use futures_util::future::try_join_all;
use serde_json::{Map, Value};

use super::upstream::UpstreamFailure;
use crate::error::ApiError;
use crate::protocol::Protocol;
use crate::protocol::ir::{self, ImageSource};
use crate::protocol::{bedrock, gemini};
use crate::providers::image_fetch::{Fetched, ImageFetcher};
use crate::store::call_outcome::ErrorClass;

/// True for the protocols whose providers need image bytes inline.
pub fn needs_inline(protocol: Protocol) -> bool {
    matches!(protocol, Protocol::Gemini | Protocol::Bedrock)
}

/// True if the request carries an image given by URL (scanned only after a conversion that
/// such an image can fail).
pub fn has_urls(ir: &mut ir::Request) -> bool {
    ir.images_mut().any(|i| matches!(i.source, ImageSource::Url(_)))
}

/// A converter of the canonical request for one protocol (`adapter::convert_request`).
pub type Convert = fn(&ir::Request, Protocol) -> Result<Map<String, Value>, String>;

/// A request whose bodies for some protocols wait for its images.
pub struct Deferred {
    /// The canonical request with a placeholder where each URL image was.
    ir: ir::Request,
    /// Each placeholder's position in [`ir::Request::images_mut`] order, and its URL.
    urls: Vec<(usize, String)>,
    /// The protocols still waiting.
    waiting: Vec<Protocol>,
    fetched: bool,
    /// Time spent fetching (waiting on other hosts, not gateway overhead).
    pub spent: Duration,
}

impl Deferred {
    /// Swaps the URL images for placeholders (a base64 `data:` URL becomes its bytes) and
    /// converts for each waiting protocol, so a request those providers cannot take for
    /// another reason is refused now. `first_error` is the conversion's error with the URLs,
    /// the answer when fetching is off.
    pub fn new(
        mut ir: ir::Request,
        waiting: Vec<Protocol>,
        max_images: usize,
        convert: Convert,
        first_error: String,
    ) -> Result<Deferred, ApiError> {
        let mut urls = Vec::new();
        for (n, image) in ir.images_mut().enumerate() {
            let ImageSource::Url(url) = &image.source else { continue };
            let inline = ImageSource::from_url(url);
            if let ImageSource::Url(url) = inline {
                urls.push((n, url));
                image.source = placeholder();
            } else {
                image.source = inline;
            }
        }
        if !urls.is_empty() && max_images == 0 {
            return Err(ApiError::invalid(first_error));
        }
        if urls.len() > max_images {
            return Err(ApiError::invalid(format!(
                "this request has {} image URLs; the gateway fetches at most {max_images} for one request \
                 (send the others inline as base64)",
                urls.len()
            ))
            .with_code("too_many_image_urls"));
        }
        for &protocol in &waiting {
            convert(&ir, protocol).map_err(ApiError::invalid)?;
        }
        Ok(Deferred { ir, urls, waiting, fetched: false, spent: Duration::ZERO })
    }

    /// True while the body for `protocol` waits for the images.
    pub fn waits_for(&self, protocol: Protocol) -> bool {
        self.waiting.contains(&protocol)
    }

    /// The body for `protocol`: the images fetched (the first time), checked against what
    /// the protocol takes, and the request converted with them.
    pub async fn body_for(
        &mut self,
        protocol: Protocol,
        fetcher: &ImageFetcher,
        convert: Convert,
    ) -> Result<Map<String, Value>, UpstreamFailure> {
        if !self.fetched {
            let started = Instant::now();
            let fetched = fetch_all(&self.urls, fetcher).await;
            self.spent += started.elapsed();
            let mut fetched = fetched?.into_iter();
            let mut slots = self.urls.iter().map(|(n, _)| *n).peekable();
            for (n, image) in self.ir.images_mut().enumerate() {
                if slots.next_if_eq(&n).is_some() {
                    let f = fetched.next().expect("one fetched image per placeholder");
                    let data = base64::engine::general_purpose::STANDARD.encode(&f.bytes);
                    image.source = ImageSource::Base64 { media_type: f.media_type.to_string(), data };
                }
            }
            self.fetched = true;
        }
        if let Some(refused) = self.unaccepted_type(protocol) {
            return Err(refused);
        }
        let body = convert(&self.ir, protocol).map_err(|e| refused(ApiError::invalid(&e), "image conversion", &e))?;
        self.waiting.retain(|p| *p != protocol);
        if self.waiting.is_empty() {
            // Every body is built: the megabytes of base64 are not needed twice.
            self.ir = ir::Request::default();
        }
        Ok(body)
    }

    /// The refusal of a fetched image whose type the provider does not take (a GIF for
    /// Gemini), if any.
    fn unaccepted_type(&mut self, protocol: Protocol) -> Option<UpstreamFailure> {
        let accepts = match protocol {
            Protocol::Gemini => gemini::accepts_image_type,
            Protocol::Bedrock => bedrock::accepts_image_type,
            Protocol::OpenAi | Protocol::Anthropic => return None,
        };
        let mut urls = self.urls.iter().peekable();
        for (n, image) in self.ir.images_mut().enumerate() {
            // Only fetched images: the base64 the client sent goes as it is.
            let Some((_, url)) = urls.next_if(|(slot, _)| *slot == n) else { continue };
            if let ImageSource::Base64 { media_type, .. } = &image.source
                && !accepts(media_type)
            {
                let reason = format!("its type ({media_type}) is not one this model's provider accepts");
                return Some(fetch_failure(url, &reason));
            }
        }
        None
    }
}

/// Where a URL image waits for its bytes (an empty base64 PNG: converts like any image).
fn placeholder() -> ImageSource {
    ImageSource::Base64 { media_type: "image/png".into(), data: String::new() }
}

/// The images of `urls`, each distinct URL fetched once and all at the same time, within the
/// fetcher's time limit for the lot.
async fn fetch_all(urls: &[(usize, String)], fetcher: &ImageFetcher) -> Result<Vec<Fetched>, UpstreamFailure> {
    let mut distinct: Vec<&str> = urls.iter().map(|(_, u)| u.as_str()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    let deadline = tokio::time::Instant::now() + fetcher.timeout;
    let fetches = distinct.iter().map(|url| async move {
        match tokio::time::timeout_at(deadline, fetcher.fetch(url)).await {
            Ok(Ok(image)) => Ok((*url, image)),
            Ok(Err(reason)) => Err(fetch_failure(url, &reason)),
            Err(_) => Err(fetch_failure(url, &format!("timed out after {} ms", fetcher.timeout.as_millis()))),
        }
    });
    let fetched = try_join_all(fetches).await?;
    Ok(urls
        .iter()
        .map(|(_, u)| fetched.iter().find(|(url, _)| *url == u.as_str()).expect("every URL fetched").1.clone())
        .collect())
}

/// The client's 400 naming the URL (without its query, which may hold a signature), and the
/// record's detail naming only the host.
fn fetch_failure(url: &str, reason: &str) -> UpstreamFailure {
    let error = ApiError::invalid(format!("image URL {} could not be fetched: {reason}", shown(url)))
        .with_code("image_fetch_failed");
    let detail = format!("image URL on host {}: {reason}", host(url));
    refused(error, "image fetch", &detail)
}

fn refused(error: ApiError, what: &str, detail: &str) -> UpstreamFailure {
    tracing::info!("{what} refused: {detail}");
    UpstreamFailure { class: ErrorClass::ImageFetchFailed, detail: detail.to_string(), error }
}

/// `scheme://host[:port]/path`, with `?…` when the URL had a query.
fn shown(url: &str) -> String {
    let Ok(mut u) = url::Url::parse(url) else {
        return "(invalid)".into();
    };
    let had_query = u.query().is_some();
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_username("");
    let _ = u.set_password(None);
    if had_query { format!("{u}?…") } else { u.to_string() }
}

fn host(url: &str) -> String {
    url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_else(|| "(none)".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ir::{Image, Message, Part, Role, ToolResultPart};

    fn image(source: ImageSource) -> Image {
        Image { source, cache_control: None }
    }

    /// A user turn with a URL image, a data URL, inline bytes, and a tool result holding
    /// another URL image.
    fn request() -> ir::Request {
        let url = |u: &str| ImageSource::Url(u.into());
        let content = vec![
            Part::Image(image(url("https://a.example/1.png"))),
            Part::Image(image(url("data:image/gif;base64,R0lG"))),
            Part::Image(image(ImageSource::Base64 { media_type: "image/jpeg".into(), data: "/9j/".into() })),
            Part::ToolResult {
                tool_use_id: "t1".into(),
                content: vec![ToolResultPart::Image(image(url("https://b.example/2.png?sig=x")))],
                is_error: false,
            },
        ];
        ir::Request { messages: vec![Message { role: Role::User, content }], ..ir::Request::default() }
    }

    fn accept_all(_: &ir::Request, _: Protocol) -> Result<Map<String, Value>, String> {
        Ok(Map::new())
    }

    #[test]
    fn urls_give_way_to_placeholders_in_order_and_data_urls_go_inline() {
        let mut r = request();
        assert!(has_urls(&mut r));
        let d = Deferred::new(r, vec![Protocol::Gemini], 16, accept_all, "no".into()).unwrap();
        let urls: Vec<(usize, &str)> = d.urls.iter().map(|(n, u)| (*n, u.as_str())).collect();
        assert_eq!(urls, [(0, "https://a.example/1.png"), (3, "https://b.example/2.png?sig=x")]);
        let mut ir = d.ir;
        let sources: Vec<ImageSource> = ir.images_mut().map(|i| i.source.clone()).collect();
        let gif = ImageSource::Base64 { media_type: "image/gif".into(), data: "R0lG".into() };
        assert_eq!(sources[1], gif, "a base64 data URL is inline bytes, never fetched");
        assert_eq!((&sources[0], &sources[3]), (&placeholder(), &placeholder()));
        assert!(!has_urls(&mut ir));
    }

    #[test]
    fn too_many_urls_or_fetching_off_is_refused_before_admission() {
        let e = Deferred::new(request(), vec![Protocol::Bedrock], 1, accept_all, "no".into()).err().unwrap();
        assert!(e.message.contains("has 2 image URLs; the gateway fetches at most 1"), "{}", e.message);
        let e = Deferred::new(request(), vec![Protocol::Bedrock], 0, accept_all, "URLs refused".into()).err().unwrap();
        assert_eq!(e.message, "URLs refused");
        let refuse = |_: &ir::Request, _: Protocol| -> Result<Map<String, Value>, String> { Err("JSON mode".into()) };
        let e = Deferred::new(request(), vec![Protocol::Bedrock], 16, refuse, "no".into()).err().unwrap();
        assert_eq!(e.message, "JSON mode", "other refusals still come before any fetch");
    }

    #[test]
    fn the_client_sees_the_url_without_its_query_and_the_log_only_the_host() {
        assert_eq!(
            shown("https://u:p@img.example.com/a/b.png?X-Amz-Signature=abc#f"),
            "https://img.example.com/a/b.png?…"
        );
        assert_eq!(shown("http://127.0.0.1:9/x.png"), "http://127.0.0.1:9/x.png");
        assert_eq!(host("https://img.example.com/a.png?sig=1"), "img.example.com");
        let f = fetch_failure("https://img.example.com/a.png?sig=secret", "the server answered 404");
        assert!(!f.detail.contains("secret") && !f.error.message.contains("secret"));
        assert_eq!(
            f.error.message,
            "image URL https://img.example.com/a.png?… could not be fetched: the server answered 404"
        );
        assert_eq!(f.error.status().as_u16(), 400);
    }
}
