//! Starting the gateway binary and the mock provider, and talking to the management API.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use mock_provider::{MockConfig, MockServer};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const MASTER_KEY: &str = "test-master-key-0123456789";

/// Which database a gateway under test uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// The engines to run a test on: SQLite always, PostgreSQL when configured.
pub fn engines() -> Vec<Engine> {
    let mut e = vec![Engine::Sqlite];
    if std::env::var(tollgate::testing::POSTGRES_ENV).is_ok_and(|v| !v.is_empty()) {
        e.push(Engine::Postgres);
    }
    e
}

/// A running gateway process with its own data directory.
pub struct Gateway {
    pub url: String,
    pub http: reqwest::Client,
    child: Option<Child>,
    /// Printed to stdout before "listening on".
    pub banner: String,
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    env: Vec<(String, String)>,
    postgres: Option<tollgate::testing::PostgresDatabase>,
}

pub struct GatewayOptions {
    pub engine: Engine,
    pub master_key: Option<String>,
    pub env: Vec<(String, String)>,
    pub config_toml: Option<String>,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            engine: Engine::Sqlite,
            master_key: Some(MASTER_KEY.into()),
            env: Vec::new(),
            config_toml: None,
        }
    }
}

impl Gateway {
    pub async fn start(engine: Engine) -> Gateway {
        Gateway::start_with(GatewayOptions { engine, ..GatewayOptions::default() }).await
    }

    pub async fn start_with(opts: GatewayOptions) -> Gateway {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let mut env: Vec<(String, String)> = vec![
            ("TOLLGATE_LISTEN".into(), "127.0.0.1:0".into()),
            ("TOLLGATE_DATA_DIR".into(), dir.join("data").display().to_string()),
            ("TOLLGATE_ALLOW_PRIVATE_UPSTREAMS".into(), "true".into()),
            ("RUST_LOG".into(), "info".into()),
        ];
        if let Some(k) = &opts.master_key {
            env.push(("TOLLGATE_MASTER_KEY".into(), k.clone()));
        }
        let mut postgres = None;
        if opts.engine == Engine::Postgres {
            let pg = tollgate::testing::PostgresDatabase::create_from_env().await.expect("PostgreSQL configured");
            env.push(("TOLLGATE_DATABASE_URL".into(), pg.url.clone()));
            postgres = Some(pg);
        }
        if let Some(toml) = &opts.config_toml {
            std::fs::write(dir.join("tollgate.toml"), toml).unwrap();
        }
        env.extend(opts.env);
        let mut gw = Gateway {
            url: String::new(),
            http: reqwest::Client::new(),
            child: None,
            banner: String::new(),
            dir,
            _tmp: Some(tmp),
            env,
            postgres,
        };
        gw.spawn().await;
        gw
    }

    /// Starts the process (again) on the same data directory and database.
    pub async fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("gateway.log")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .arg("serve")
            .current_dir(&self.dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .expect("spawn tollgate");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut banner = String::new();
        let addr = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    return addr.to_string();
                }
                banner.push_str(&line);
                banner.push('\n');
            }
            panic!("tollgate exited before listening; log:\n{}", self.log());
        })
        .await
        .unwrap_or_else(|_| panic!("tollgate did not start in time; log:\n{}", self.log()));
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.url = format!("http://{addr}");
        self.banner = banner;
        self.child = Some(child);
    }

    /// Runs `tollgate ARGS` (another subcommand) with this gateway's environment and directory.
    pub async fn run_command(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(args)
            .current_dir(&self.dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .await
            .expect("run tollgate")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("gateway.log")).unwrap_or_default()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// SIGKILL: no shutdown code runs.
    pub async fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().await.unwrap();
        }
    }

    /// SIGTERM, then waits for the exit status.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        let pid = c.id().unwrap();
        let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        tokio::time::timeout(Duration::from_secs(30), c.wait()).await.expect("exits after SIGTERM").unwrap()
    }

    /// The running process's id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id().unwrap()
    }

    pub fn send_sigterm(&self) {
        let pid = self.child.as_ref().unwrap().id().unwrap();
        let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    }

    pub async fn wait_exit(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        tokio::time::timeout(Duration::from_secs(30), c.wait()).await.expect("exits").unwrap()
    }

    pub async fn stop(mut self) {
        if self.child.is_some() {
            self.terminate().await;
        }
        if let Some(pg) = self.postgres.take() {
            pg.drop_database().await;
        }
    }

    /// A management API call with the master key; answers status and JSON (or Null).
    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.request_as(MASTER_KEY, method, path, body).await
    }

    pub async fn request_as(&self, key: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{}", self.url, path))
            .header("authorization", format!("Bearer {key}"));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Like `admin` but expects `want`, printing the body otherwise.
    pub async fn admin_ok(&self, method: &str, path: &str, body: Option<Value>, want: u16) -> Value {
        let (status, v) = self.admin(method, path, body).await;
        assert_eq!(status, want, "{method} {path} answered {status}: {v}");
        v
    }

    /// A chat completion as a client would send it.
    pub async fn chat(&self, key: &str, body: Value) -> reqwest::Response {
        self.http.post(format!("{}/v1/chat/completions", self.url)).bearer_auth(key).json(&body).send().await.unwrap()
    }

    /// Polls the call log until `pred` holds for the calls of `key_id` (the writer batches).
    pub async fn calls_until(&self, key_id: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let mut last = Vec::new();
        for _ in 0..100 {
            let v = self.admin_ok("GET", &format!("/api/v1/calls?key_id={key_id}&limit=100"), None, 200).await;
            last = v["data"].as_array().unwrap().clone();
            if pred(&last) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("calls never matched; last: {last:?}");
    }
}

/// A provider, a priced model, a user with credits and a key for it.
pub struct Fixture {
    pub provider_name: String,
    pub model: String,
    pub user_id: String,
    pub key_id: String,
    pub key: String,
}

pub const PROVIDER_KEY: &str = "sk-provider-secret-4242";

impl Fixture {
    /// `base_url` is the mock's (scenario) URL; prices are 2.5 in / 10 out per million tokens.
    pub async fn new(gw: &Gateway, base_url: &str, credits: &str) -> Fixture {
        Fixture::of_kind(gw, "openai", base_url, credits).await
    }

    /// Like [`Fixture::new`] with a provider of `kind` (its base URL in that kind's form).
    pub async fn of_kind(gw: &Gateway, kind: &str, base_url: &str, credits: &str) -> Fixture {
        let suffix = &tollgate::store::new_id()[24..];
        let provider_name = format!("mock{suffix}");
        let p = gw
            .admin_ok(
                "POST",
                "/api/v1/providers",
                Some(json!({"name": provider_name, "kind": kind, "base_url": base_url})),
                201,
            )
            .await;
        let provider_id = p["id"].as_str().unwrap().to_string();
        gw.admin_ok(
            "POST",
            &format!("/api/v1/providers/{provider_id}/credentials"),
            Some(json!({"api_key": PROVIDER_KEY})),
            201,
        )
        .await;
        let model = format!("gpt-{suffix}");
        gw.admin_ok(
            "POST",
            "/api/v1/models",
            Some(json!({"name": model, "targets": [{"provider": provider_name, "model": "mock-gpt"}],
                "pricing": {"input": 2.5, "output": "10"}})),
            201,
        )
        .await;
        let user_id = gw.admin_ok("POST", "/api/v1/users", Some(json!({"name": "alice"})), 201).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        if credits != "0" {
            gw.admin_ok("POST", &format!("/api/v1/users/{user_id}/credits"), Some(json!({"amount": credits})), 201)
                .await;
        }
        let k = gw.admin_ok("POST", "/api/v1/keys", Some(json!({"user_id": user_id})), 201).await;
        Fixture {
            provider_name,
            model,
            user_id,
            key_id: k["id"].as_str().unwrap().to_string(),
            key: k["key"].as_str().unwrap().to_string(),
        }
    }

    pub async fn balance(&self, gw: &Gateway) -> String {
        gw.admin_ok("GET", &format!("/api/v1/users/{}", self.user_id), None, 200).await["balance"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

pub async fn mock() -> MockServer {
    MockServer::start(MockConfig::default()).await
}

/// Reads an SSE body into its `data:` payloads.
pub fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n").filter_map(|e| e.strip_prefix("data: ")).map(str::to_string).collect()
}

/// True if any file under `dir` contains `needle` (checks secrets never hit the disk).
pub fn any_file_contains(dir: &Path, needle: &[u8]) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            any_file_contains(&p, needle)
        } else {
            std::fs::read(&p).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
        }
    })
}

/// The Anthropic version header every Anthropic client sends.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

impl Gateway {
    /// `POST /v1/messages` as an Anthropic client sends it (`x-api-key`, `anthropic-version`).
    pub async fn messages(&self, key: &str, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}/v1/messages", self.url))
            .header("x-api-key", key)
            .header("anthropic-version", ANTHROPIC_VERSION)
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

/// Reads an Anthropic SSE body into (event name, data) pairs.
pub fn anthropic_events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let name = e.lines().find_map(|l| l.strip_prefix("event: ")).unwrap_or("").to_string();
            let data = e.lines().find_map(|l| l.strip_prefix("data: ")).unwrap_or("null");
            (name, serde_json::from_str(data).unwrap_or_else(|_| panic!("event data is not JSON: {e}")))
        })
        .collect()
}
