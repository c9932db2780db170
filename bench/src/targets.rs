//! What is measured: the mock modes (how the upstream behaves) and the targets (direct, floor,
//! Tollgate, peers), and for each pair the exact request the load generator sends.

use std::net::SocketAddr;

use serde_json::json;

use crate::child::Child;
use crate::conn::Template;
use crate::pg::PgDb;
use crate::procfs::Proc;

/// One behaviour of the mock upstream, selected per request by its `/s/{opts}` path prefix.
#[derive(Clone, Debug)]
pub struct MockMode {
    /// Short name; the gateways' model for this mode is `bench-{key}`.
    pub key: &'static str,
    /// Mock options (`key=value,...`); empty for the defaults.
    pub opts: String,
    pub stream: bool,
}

impl MockMode {
    pub fn new(key: &'static str, opts: &str, stream: bool) -> MockMode {
        MockMode { key, opts: opts.to_string(), stream }
    }

    /// The upstream base URL (`.../v1`) a gateway is configured with for this mode.
    pub fn base_url(&self, mock: SocketAddr) -> String {
        format!("http://{mock}{}/v1", self.prefix())
    }

    fn prefix(&self) -> String {
        if self.opts.is_empty() { String::new() } else { format!("/s/{}", self.opts) }
    }

    /// The gateway-side model name for this mode (`free` selects the unpriced twin).
    pub fn model(&self, free: bool) -> String {
        if free { format!("bench-{}-free", self.key) } else { format!("bench-{}", self.key) }
    }
}

/// Which of Tollgate's features a request exercises (other targets ignore it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Features {
    /// Key auth and the usage record: the free model, a key without limits.
    AuthRecord,
    /// + price, reservation, charge and ledger: the priced model, a key without limits.
    Billing,
    /// + rate limits and budget: the priced model with a key that has (generous) limits.
    All,
}

/// How a target is addressed.
#[derive(Clone, Debug)]
pub enum Route {
    /// The mock itself (direct) or a proxy that forwards paths unchanged (floor).
    Mock,
    /// Tollgate: `plain` is a key without limits, `limited` one with limits set (when the
    /// build has key limits).
    Tollgate { plain: String, limited: Option<String> },
    /// An OpenAI-compatible gateway with models named `bench-{mode}` and this bearer token.
    Named { token: String },
    /// Portkey: the upstream is chosen by headers on each request.
    Portkey { mock: SocketAddr },
}

pub struct Target {
    pub name: String,
    pub route: Route,
    pub addr: SocketAddr,
    /// The process whose CPU and memory are measured (the mock for `direct`).
    pub proc: Proc,
    /// The server process, stopped when the target is dropped (none for `direct`).
    pub child: Option<Child>,
    /// A PostgreSQL database dropped after the server stopped.
    pub db: Option<PgDb>,
    /// Mock modes this target failed its probe in (skipped), with why.
    pub broken: Vec<(&'static str, String)>,
}

impl Target {
    pub fn is_tollgate(&self) -> bool {
        matches!(self.route, Route::Tollgate { .. })
    }

    /// Whether the target passed its probe in this mode (held streams need streams).
    pub fn works_in(&self, mode: &str) -> bool {
        let needs = if mode == "hold" { ["hold", "stream"] } else { [mode, mode] };
        !self.broken.iter().any(|(m, _)| needs.contains(m))
    }

    /// The request for `mode`, exercising `features` on Tollgate.
    pub fn template(&self, mode: &MockMode, features: Features) -> Template {
        let body = |model: &str| {
            let mut b = json!({"model": model, "messages": [{"role": "user", "content": "hello"}]});
            if mode.stream {
                b["stream"] = json!(true);
            }
            b
        };
        match &self.route {
            Route::Mock => {
                let path = format!("{}/v1/chat/completions", mode.prefix());
                Template::json(self.addr, &path, &body("mock-gpt")).bearer("sk-bench")
            }
            Route::Tollgate { plain, limited } => {
                let free = features == Features::AuthRecord;
                let key = match features {
                    Features::All => limited.as_ref().unwrap_or(plain),
                    _ => plain,
                };
                Template::json(self.addr, "/v1/chat/completions", &body(&mode.model(free))).bearer(key)
            }
            Route::Named { token } => {
                Template::json(self.addr, "/v1/chat/completions", &body(&mode.model(false))).bearer(token)
            }
            Route::Portkey { mock } => Template::json(self.addr, "/v1/chat/completions", &body("mock-gpt"))
                .bearer("sk-bench")
                .header("x-portkey-provider", "openai")
                .header("x-portkey-custom-host", &mode.base_url(*mock)),
        }
    }
}

impl Target {
    /// One request in `mode`, to check the target answers before it is measured.
    pub async fn probe(&self, mode: &MockMode) -> Result<(), String> {
        let t = self.template(mode, Features::All);
        let mut conn = crate::conn::Conn::connect(self.addr).await?;
        let x = conn.exchange(&t, |_| {}).await?;
        if x.status != 200 {
            return Err(format!("{}: {} mode answered HTTP {}", self.name, mode.key, x.status));
        }
        if mode.stream && !x.saw_done {
            return Err(format!("{}: {} mode stream ended without [DONE]", self.name, mode.key));
        }
        Ok(())
    }
}
