//! Tollgate's mock AI provider: a fake upstream speaking the OpenAI, Anthropic, Gemini,
//! Bedrock and Azure OpenAI wire formats with scripted behaviour (latency, errors, stalls, cut
//! or failed streams, usage numbers, tool calls), for tests (in-process) and benchmarks (the
//! `mock-provider` binary). This file owns the public API and the in-process server.

mod anthropic;
mod anthropic_plan;
mod anthropic_stream;
mod azure;
mod bedrock;
mod bedrock_auth;
mod body;
mod chat;
mod chat_json;
mod chat_plan;
mod chat_stream;
mod embed_kinds;
mod embeddings;
mod errors;
mod event_stream;
mod gemini;
mod image_generation;
mod images;
mod key_scenario;
mod models;
mod options;
mod reply;
mod responses;
mod route;
mod script;
mod server;
mod sigv4;
mod stats;

use std::net::SocketAddr;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use errors::ERROR_PADDING;
pub use images::{GIF, ImageRequest, JPEG, PNG, WEBP};
pub use key_scenario::PREFIX as KEY_SCENARIO_PREFIX;
pub use options::{Behaviour, Effective, OptionError, Size};
pub use server::MockHandle;
pub use stats::{RecordedRequest, Stats};

/// Server configuration.
#[derive(Clone, Debug, Default)]
pub struct MockConfig {
    /// Behaviour of requests without a scenario prefix, and the base a scenario overlays.
    pub defaults: Behaviour,
    /// When set, Bedrock requests must carry a valid SigV4 signature made with this secret
    /// access key (any access key id); otherwise only the signature's form is checked.
    pub aws_secret_access_key: Option<String>,
}

/// The mock's router and a handle on its counters, shared by [`MockServer`] and the binary.
pub fn router(config: MockConfig) -> (axum::Router, MockHandle) {
    server::build(config)
}

/// Serves `router` on `listener` (with `TCP_NODELAY`) until the task is dropped.
pub async fn serve(listener: TcpListener, router: axum::Router) -> std::io::Result<()> {
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router).await
}

/// A mock provider running on the current tokio runtime; stops accepting when dropped.
pub struct MockServer {
    addr: SocketAddr,
    handle: MockHandle,
    task: JoinHandle<std::io::Result<()>>,
}

impl MockServer {
    /// Binds `127.0.0.1:0` and spawns the server.
    pub async fn start(config: MockConfig) -> MockServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("mock-provider: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("mock-provider: local address");
        let (router, handle) = router(config);
        let task = tokio::spawn(serve(listener, router));
        MockServer { addr, handle, task }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/v1`
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// `http://127.0.0.1:PORT/s/{opts}/v1`, e.g. `scenario_url("status=429,retry_after=3")`.
    pub fn scenario_url(&self, opts: &str) -> String {
        format!("http://{}/s/{opts}/v1", self.addr)
    }

    /// `http://127.0.0.1:PORT`: the base URL of an Anthropic, Gemini, Bedrock or Azure
    /// provider (their routes begin with `/v1`, `/v1beta`, `/model` and `/openai`).
    pub fn root_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/s/{opts}`: [`MockServer::root_url`] with a scenario.
    pub fn scenario_root(&self, opts: &str) -> String {
        format!("http://{}/s/{opts}", self.addr)
    }

    /// A snapshot of the request counters.
    pub fn stats(&self) -> Stats {
        self.handle.stats()
    }

    /// The last request to a model route, if any since the last reset.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.handle.last_request()
    }

    /// Clears the counters and the last request.
    pub fn reset(&self) {
        self.handle.reset();
    }

    /// `http://127.0.0.1:PORT/_img/{name}` (see the image routes in the README).
    pub fn image_url(&self, name: &str) -> String {
        format!("http://{}/_img/{name}", self.addr)
    }

    /// The requests to the image routes since the last reset, in order.
    pub fn image_requests(&self) -> Vec<ImageRequest> {
        self.handle.image_requests()
    }

    /// A cloneable handle on the counters.
    pub fn handle(&self) -> MockHandle {
        self.handle.clone()
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
