//! Every scenario failure mode and pacing option, run against every dialect.

use std::time::{Duration, Instant};

use mock_provider::MockServer;
use serde_json::Value;

use crate::common::{Reply, post, reply_text, server};
use crate::{anthropic, azure, bedrock, gemini};

/// How to talk to one dialect's chat route and read its answers.
pub struct Case {
    pub name: &'static str,
    /// The chat URL, with scenario options if any, for a stream or not.
    pub url: fn(&MockServer, Option<&str>, bool) -> String,
    pub headers: &'static [(&'static str, &'static str)],
    /// A plain request, streamed or not.
    pub body: fn(bool) -> Value,
    /// The text of a stream body, and whether it ended normally.
    pub stream_text: fn(&[u8]) -> (String, bool),
    /// The dialect's error kind of an error reply (checking its shape on the way).
    pub error_kind: fn(&Reply) -> String,
    /// Expected error kinds for 401, 429, 500 and one more status.
    pub kinds: [(u16, &'static str); 4],
    /// Whether a stream body ends with the dialect's in-stream error.
    pub stream_error: fn(&[u8]) -> bool,
}

fn cases() -> [Case; 4] {
    [anthropic::case(), gemini::case(), bedrock::case(), azure::case()]
}

async fn call(mock: &MockServer, case: &Case, opts: &str, stream: bool) -> Reply {
    post(&(case.url)(mock, Some(opts), stream), case.headers, &(case.body)(stream)).await
}

#[tokio::test]
async fn scripted_statuses_in_each_dialects_error_shape() {
    let mock = server().await;
    for case in cases() {
        for (status, kind) in case.kinds {
            let reply = call(&mock, &case, &format!("status={status},retry_after=3"), false).await;
            assert_eq!(reply.status, status, "{}", case.name);
            assert_eq!(reply.header("retry-after"), "3", "{}", case.name);
            assert_eq!((case.error_kind)(&reply), kind, "{} {status}", case.name);
        }
        // A malformed scenario is a 400 in the dialect's shape too.
        let reply = call(&mock, &case, "bogus=1", false).await;
        assert_eq!(reply.status, 400, "{}", case.name);
        (case.error_kind)(&reply);
    }
}

#[tokio::test]
async fn latency_and_stall_before_headers() {
    let mock = server().await;
    let client = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    for case in cases() {
        let start = Instant::now();
        let reply = call(&mock, &case, "latency_ms=120", false).await;
        assert_eq!(reply.status, 200, "{}", case.name);
        assert!(start.elapsed() >= Duration::from_millis(120), "{}", case.name);

        let mut req = client.post((case.url)(&mock, Some("stall_ms=600000"), true));
        for (name, value) in case.headers {
            req = req.header(*name, *value);
        }
        let err = req.body((case.body)(true).to_string()).send().await.unwrap_err();
        assert!(err.is_timeout(), "{}: {err}", case.name);
    }
}

#[tokio::test]
async fn chunks_delay_and_mid_stream_stall() {
    let mock = server().await;
    for case in cases() {
        let start = Instant::now();
        let reply = call(&mock, &case, "chunks=3,chunk_delay_ms=30", true).await;
        assert_eq!((case.stream_text)(&reply.body), (reply_text(3), true), "{}", case.name);
        assert!(start.elapsed() >= Duration::from_millis(3 * 30), "{}", case.name);

        let start = Instant::now();
        let reply = call(&mock, &case, "chunks=3,stall_after=1,stall_mid_ms=150", true).await;
        assert_eq!((case.stream_text)(&reply.body), (reply_text(3), true), "{}", case.name);
        assert!(start.elapsed() >= Duration::from_millis(150), "{}", case.name);
    }
}

#[tokio::test]
async fn cut_after_aborts_stream_and_body() {
    let mock = server().await;
    for case in cases() {
        let reply = call(&mock, &case, "chunks=5,cut_after=2", true).await;
        assert_eq!(reply.status, 200, "{}", case.name);
        assert!(reply.cut, "{}: the stream must end with an error", case.name);
        assert_eq!((case.stream_text)(&reply.body), (reply_text(2), false), "{}", case.name);

        let reply = call(&mock, &case, "cut_after=0", false).await;
        assert!(reply.cut, "{}: the body must end with an error", case.name);
        assert!(serde_json::from_slice::<Value>(&reply.body).is_err(), "{}: half a body", case.name);
    }
}

#[tokio::test]
async fn error_after_sends_the_in_stream_error() {
    let mock = server().await;
    for case in cases() {
        let reply = call(&mock, &case, "chunks=5,error_after=2", true).await;
        assert_eq!(reply.status, 200, "{}", case.name);
        assert!(!reply.cut, "{}: the stream ends cleanly", case.name);
        assert!((case.stream_error)(&reply.body), "{}", case.name);
        assert_eq!((case.stream_text)(&reply.body), (reply_text(2), false), "{}", case.name);
    }
}

#[tokio::test]
async fn large_size_and_stats_by_dialect() {
    let mock = server().await;
    for case in cases() {
        let reply = call(&mock, &case, "size=large", false).await;
        assert_eq!(reply.status, 200, "{}", case.name);
        assert!((9_500..=11_000).contains(&reply.body.len()), "{}: {}", case.name, reply.body.len());
    }
    let stats = mock.stats();
    assert_eq!(stats.total, 4);
    for name in ["anthropic", "gemini", "bedrock", "azure-openai"] {
        assert_eq!(stats.by_dialect[name], 1, "{name}");
    }
}
