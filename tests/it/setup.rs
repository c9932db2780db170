//! Set-up and checks the traffic tests share (`traffic.rs`, `anthropic.rs`, `errors.rs`): a
//! mock provider, a gateway on SQLite and a funded fixture on the mock; listing models in
//! either dialect; asserting an error's shape in either dialect.

use mock_provider::MockServer;
use serde_json::Value;

use crate::harness::*;

/// A mock, a SQLite gateway, and a fixture (provider, priced model, user with 10 credits,
/// key) whose provider is the mock, at `scenario` if one is given.
pub struct Setup {
    pub mock: MockServer,
    pub gw: Gateway,
    pub f: Fixture,
}

impl Setup {
    pub async fn new() -> Setup {
        Setup::with(None).await
    }

    /// The fixture's provider at `mock.scenario_url(opts)`.
    pub async fn scenario(opts: &str) -> Setup {
        Setup::with(Some(opts)).await
    }

    async fn with(scenario: Option<&str>) -> Setup {
        let mock = mock().await;
        let gw = Gateway::start(Engine::Sqlite).await;
        let url = scenario.map_or_else(|| mock.base_url(), |opts| mock.scenario_url(opts));
        let f = Fixture::new(&gw, &url, "10").await;
        Setup { mock, gw, f }
    }
}

impl Gateway {
    /// `GET /v1/models` with `key`, as an Anthropic client (`x-api-key`, `anthropic-version`)
    /// or an OpenAI one (bearer).
    pub async fn models(&self, key: &str, anthropic: bool) -> Value {
        let req = self.http.get(format!("{}/v1/models", self.url));
        let req = if anthropic {
            req.header("x-api-key", key).header("anthropic-version", ANTHROPIC_VERSION)
        } else {
            req.bearer_auth(key)
        };
        req.send().await.unwrap().json().await.unwrap()
    }
}

/// Checks an OpenAI-shape error of `kind` with a message and a request id; answers the body.
pub async fn expect_error(resp: reqwest::Response, status: u16, kind: &str) -> Value {
    assert_eq!(resp.status().as_u16(), status);
    assert!(resp.headers().contains_key("x-request-id"));
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], kind, "{v}");
    assert!(v.get("type").is_none(), "not the Anthropic shape: {v}");
    assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    v
}

/// Checks an Anthropic-shape error of `kind` with a message; answers the headers and message.
pub async fn expect_anthropic_error(
    resp: reqwest::Response,
    status: u16,
    kind: &str,
) -> (reqwest::header::HeaderMap, String) {
    assert_eq!(resp.status().as_u16(), status);
    let headers = resp.headers().clone();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["error"]["type"], kind, "{v}");
    let message = v["error"]["message"].as_str().unwrap().to_string();
    assert!(!message.is_empty());
    (headers, message)
}
