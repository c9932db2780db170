//! Settings: defaults, then the TOML file, then `.env`, then `TOLLGATE_*` variables, then `validate()`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Everything the process needs to start; built once by [`Config::load`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP listener binds (`TOLLGATE_LISTEN`).
    pub listen: String,
    /// Where the SQLite file, the encryption key file and the usage journal live.
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    /// Bearer token for the management API; when absent a generated admin key is used.
    pub master_key: Option<String>,
    /// 32-byte AES key (base64 or hex) for provider credentials; else a generated key file.
    pub encryption_key: Option<String>,
    /// Lets provider `base_url`s point at loopback and private addresses (tests, local models).
    pub allow_private_upstreams: bool,
    /// Largest request body accepted, in bytes (base64 images make bodies large).
    pub max_body_bytes: usize,
    /// How long in-flight requests may run after SIGTERM before the process exits.
    pub shutdown_grace_secs: u64,
    /// Most call records waiting for the database writer (in memory, each also in the
    /// journal) before new calls are shed with 503 `overloaded`: the bound on the writer's
    /// queue when calls arrive faster than the database takes them, or it is unreachable.
    pub usage_backlog_max: usize,
    /// Default upstream timeouts, overridable per provider.
    pub timeouts: Timeouts,
    /// Upstream silence after which a streaming client whose dialect has a keep-alive event
    /// (Anthropic `ping`) gets one, in milliseconds.
    pub stream_keepalive_ms: u64,
    /// `text` or `json` log lines.
    pub log_format: String,
    /// Serves `GET /metrics` without the master key (for scrapers on a trusted network).
    pub metrics_public: bool,
    /// Fetching image URLs for providers that only take inline images (Gemini, Bedrock).
    pub image_fetch: ImageFetchConfig,
    /// Console sign-in sessions.
    pub console: ConsoleConfig,
    /// Who the client is behind a reverse proxy (for per-address throttling).
    pub client_address: ClientAddressConfig,
    /// Throttling of repeated authentication failures per client address.
    pub auth_throttle: AuthThrottleConfig,
    /// How long call records stay in the database before they are archived.
    pub retention: RetentionConfig,
    /// The credit unit members see: its name, credits per US dollar and display decimals.
    pub credits: CreditsConfig,
    /// What is shown without signing in.
    pub public: PublicConfig,
    /// The models' live status (`GET /api/v1/models/status`): the probe of idle models.
    pub status: StatusConfig,
    /// The global default markup (`[markup] multiplier, request_fee`), applied at start-up
    /// like the declared providers and models; absent: whatever the API last set.
    pub markup: Option<DeclaredMarkup>,
    /// Providers, credentials and models declared as code, applied at start-up.
    pub providers: Vec<DeclaredProvider>,
    pub models: Vec<DeclaredModel>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://path` or `postgres://...`; default: `<data_dir>/tollgate.db`.
    pub url: Option<String>,
    /// Pool size; default 8 for PostgreSQL, 4 for SQLite.
    pub max_connections: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// Enables shared rate limits and cache invalidation across instances (later work).
    pub url: Option<String>,
}

/// How the gateway fetches an image URL for a provider that only takes inline images
/// (`gemini`, `bedrock`); providers that take URLs get them unchanged and nothing is fetched.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImageFetchConfig {
    /// Private addresses an image URL may reach: `false` (none, the default), `true` (all
    /// but link-local, where cloud metadata services live) or a list of networks
    /// (`["10.1.0.0/16", "127.0.0.1"]`, which may name link-local ones).
    pub allow_private: AllowPrivate,
    /// Whole fetch of a request's images, redirects and bodies included.
    pub timeout_ms: u64,
    /// Largest image, in bytes (checked on `Content-Length` and while the body streams).
    pub max_bytes: u64,
    /// Most image URLs fetched for one request; 0 turns fetching off (such requests are
    /// refused with 400 as before).
    pub max_images: usize,
}

impl Default for ImageFetchConfig {
    fn default() -> Self {
        ImageFetchConfig {
            allow_private: AllowPrivate::Switch(false),
            timeout_ms: 10_000,
            max_bytes: 20 * 1024 * 1024,
            max_images: 16,
        }
    }
}

/// Console sessions: how long they last and whether their cookie is `Secure`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// A session unused this long ends (minutes).
    pub session_idle_minutes: u64,
    /// A session ends this long after sign-in however much it is used (hours).
    pub session_max_hours: u64,
    /// The session cookie's `Secure` flag: unset means "when the request came over TLS", as
    /// a TLS-terminating proxy reports with `X-Forwarded-Proto: https`.
    pub secure_cookies: Option<bool>,
    /// Wrong passwords one account may get in a row before its sign-ins wait.
    pub sign_in_failures_per_account: u32,
    /// Wrong passwords one client address may get in a row (over any accounts).
    pub sign_in_failures_per_address: u32,
    /// Time after which one wrong password is forgotten (seconds).
    pub sign_in_recover_secs: u64,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            session_idle_minutes: 12 * 60,
            session_max_hours: 7 * 24,
            secure_cookies: None,
            sign_in_failures_per_account: 5,
            sign_in_failures_per_address: 20,
            sign_in_recover_secs: 60,
        }
    }
}

/// `image_fetch.allow_private`: a switch or a list of networks (`addr` or `addr/prefix`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum AllowPrivate {
    Switch(bool),
    Networks(Vec<String>),
}

impl AllowPrivate {
    /// `true`/`false` (and the other spellings of a switch), else a comma-separated list.
    fn parse_env(v: &str) -> AllowPrivate {
        match parse_bool("", v) {
            Ok(b) => AllowPrivate::Switch(b),
            Err(_) => AllowPrivate::Networks(v.split(',').map(|n| n.trim().to_string()).collect()),
        }
    }
}

/// `[client_address]`: whose `X-Forwarded-For` header names the client. Requests from any other
/// peer are the peer's own, whatever they claim.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientAddressConfig {
    /// Addresses or networks of reverse proxies (`["127.0.0.1", "10.0.0.0/8"]`). The default
    /// trusts loopback, where a proxy in front of a gateway on the same host connects from;
    /// `[]` believes no header.
    pub trusted_proxies: Vec<String>,
}

impl Default for ClientAddressConfig {
    fn default() -> Self {
        ClientAddressConfig { trusted_proxies: vec!["127.0.0.0/8".into(), "::1".into()] }
    }
}

/// `[auth_throttle]`: a client address that fails authentication (a bad, expired or missing
/// key, on `/v1`, `/api/v1` and `/metrics`) `burst` times in a row is answered 429 with
/// `retry-after` until one failure is forgotten, `recover_ms` later (see `throttle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthThrottleConfig {
    /// Failures in a row before an address is throttled; 0 turns throttling off.
    pub burst: u32,
    /// Time after which one failure is forgotten (the sustained rate an address may fail at).
    pub recover_ms: u64,
    /// Most addresses remembered at once (memory stays bounded under an address flood).
    pub max_addresses: usize,
}

impl Default for AuthThrottleConfig {
    fn default() -> Self {
        AuthThrottleConfig { burst: 20, recover_ms: 3_000, max_addresses: 100_000 }
    }
}

/// `[retention]`: call records older than `calls_days` whole UTC days (today not counted)
/// are written to `DATA_DIR/archive/` (one gzip'd JSON-lines file per day) and deleted in
/// batches, each its own short transaction sized to hold the write lock about `batch_ms`
/// (at most `batch_rows` records), at least `batch_pause_ms` apart (as are the archive's
/// reads) and working at most `work_percent` of the time, on a thread at the lowest CPU
/// priority (`cpu`), so the usage writer never waits long and traffic keeps the CPU.
/// Rollups, the ledger and budgets' spend are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Days of records kept; unset keeps everything (`TOLLGATE_RETENTION_CALLS_DAYS`).
    pub calls_days: Option<u32>,
    /// The most records one delete batch takes.
    pub batch_rows: u32,
    /// The time one delete batch should hold SQLite's write lock: the next batch's size
    /// follows from how long the last one took per record. (PostgreSQL's batches lock only
    /// their own rows: they take `batch_rows`.)
    pub batch_ms: u64,
    pub batch_pause_ms: u64,
    /// The most of the wall time the job works (1 to 100): after each batch or archive page
    /// it rests long enough for that, and at least `batch_pause_ms`.
    pub work_percent: u32,
    /// How often the job looks for records to archive (it also runs once at start-up).
    pub interval_secs: u64,
    /// How the job's thread yields the CPU to traffic.
    pub cpu: JobCpu,
}

/// A background job's CPU priority (`[retention] cpu`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum JobCpu {
    /// Linux's idle scheduling class (`SCHED_IDLE`), at nice 19 besides: the job runs only
    /// on a core no other thread wants, and gives it up the moment a request's thread wakes.
    /// Measured beside traffic it costs request latency almost nothing, but on cores that are
    /// never idle it may not run at all.
    Idle,
    /// Nice 19 alone: the job still gets a small share of busy cores (it is slower to yield:
    /// a request's thread can wait for the rest of the job's time slice).
    Low,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            calls_days: None,
            batch_rows: 1000,
            batch_ms: 4,
            batch_pause_ms: 20,
            work_percent: 20,
            interval_secs: 3600,
            cpu: JobCpu::Idle,
        }
    }
}

/// Upstream timeouts in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    pub connect_ms: u64,
    /// Until the upstream's response headers arrive.
    pub first_byte_ms: u64,
    /// Longest silence between two chunks of a streamed body.
    pub idle_ms: u64,
    /// Cap on a whole non-streaming attempt.
    pub total_ms: u64,
    /// When a streaming client goes away: 0 cancels the upstream at once; more keeps reading
    /// it for up to this long so the call's usage is known and charged.
    pub drain_ms: u64,
}

/// The longest any configured duration may be (a week): long enough for any real timeout or
/// session, short enough that `now + duration` stays far inside the range of `Instant` and of
/// Unix milliseconds in an `i64`.
pub const MAX_DURATION_MS: u64 = 7 * 24 * 3_600_000;

impl Timeouts {
    /// Every timeout positive (the drain may be 0) and at most [`MAX_DURATION_MS`].
    pub fn check(&self) -> Result<(), String> {
        if [self.connect_ms, self.first_byte_ms, self.idle_ms, self.total_ms].contains(&0) {
            return Err("timeouts must be positive milliseconds".into());
        }
        if [self.connect_ms, self.first_byte_ms, self.idle_ms, self.total_ms, self.drain_ms]
            .iter()
            .any(|ms| *ms > MAX_DURATION_MS)
        {
            return Err(format!("timeouts must be at most {MAX_DURATION_MS} milliseconds (a week)"));
        }
        Ok(())
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { connect_ms: 10_000, first_byte_ms: 120_000, idle_ms: 120_000, total_ms: 600_000, drain_ms: 0 }
    }
}

/// `[public]`: pages anyone may read without a key or a sign-in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PublicConfig {
    /// `GET /api/v1/models/public` answers without a key (every model, prices, status).
    pub models_page: bool,
}

/// `[status]`: how the models' live status is kept. It always follows real traffic; with
/// `probe_interval` (`"30s"`, `"500ms"`, `"5m"`, or whole seconds; `TOLLGATE_STATUS_PROBE_INTERVAL`)
/// every target of a model that had no call for that long is sent a one-token request, never
/// charged to anyone (`jobs::status_probe`). Off by default: a probe costs the operator tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatusConfig {
    #[serde(deserialize_with = "duration_text")]
    pub probe_interval: Option<std::time::Duration>,
}

/// The shortest probe interval accepted (a probe per target per tick).
pub const MIN_PROBE_INTERVAL_MS: u64 = 100;

/// A duration as `"250ms"`, `"30s"`, `"5m"`, `"1h"`, or a whole number of seconds; 0 is none.
pub fn parse_duration(text: &str) -> Result<Option<std::time::Duration>, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().map_err(|_| format!("{text:?} is not a duration such as \"30s\" or \"500ms\""))?;
    let ms = match unit.trim() {
        "ms" => Some(n),
        "" | "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => return Err(format!("{text:?}: the unit must be ms, s, m or h")),
    };
    match ms {
        Some(0) => Ok(None),
        Some(ms) if ms <= MAX_DURATION_MS => Ok(Some(std::time::Duration::from_millis(ms))),
        _ => Err(format!("{text:?} is longer than a week")),
    }
}

fn duration_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<std::time::Duration>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    let text = match &v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return Err(serde::de::Error::custom("expected a duration such as \"30s\"")),
    };
    parse_duration(&text).map_err(serde::de::Error::custom)
}

/// `[credits]`: what the gateway's credits are called and worth. Balances, prices and
/// charges are in this unit; only the price catalog (US dollars) is converted by `per_usd`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CreditsConfig {
    /// "credits", "积分", ...
    pub name: String,
    /// Credits per US dollar (`TOLLGATE_CREDITS_PER_USD`), a decimal kept as written.
    pub per_usd: serde_json::Value,
    /// Decimals amounts are shown to people with (0–9; 9 shows them exactly).
    pub decimals: u32,
}

impl Default for CreditsConfig {
    fn default() -> Self {
        CreditsConfig { name: "credits".into(), per_usd: serde_json::Value::from(1), decimals: 9 }
    }
}

impl CreditsConfig {
    /// `per_usd` as decimal text (a TOML number prints as its shortest exact form).
    pub fn per_usd_text(&self) -> String {
        match &self.per_usd {
            serde_json::Value::String(s) => s.clone(),
            v => v.to_string(),
        }
    }
}

/// A markup rule as code: `multiplier` (a decimal, at least 1) and `request_fee` (credits);
/// kept as JSON values so decimals stay exact (see `billing::markup`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredMarkup {
    pub multiplier: Option<serde_json::Value>,
    pub request_fee: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredProvider {
    pub name: String,
    pub kind: String,
    pub base_url: Option<String>,
    pub region: Option<String>,
    /// Azure OpenAI's `api-version`.
    pub api_version: Option<String>,
    /// This provider's markup level (see [`DeclaredMarkup`]).
    pub multiplier: Option<serde_json::Value>,
    pub request_fee: Option<serde_json::Value>,
    #[serde(default)]
    pub credentials: Vec<DeclaredCredential>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredCredential {
    pub name: String,
    /// The key itself or `${ENV_VAR}`.
    pub api_key: String,
    pub weight: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredModel {
    pub name: String,
    pub targets: Vec<serde_json::Value>,
    #[serde(default)]
    pub fallbacks: Vec<String>,
    pub pricing: Option<serde_json::Value>,
    #[serde(default)]
    pub free: bool,
    /// This model's markup level (see [`DeclaredMarkup`]).
    pub multiplier: Option<serde_json::Value>,
    pub request_fee: Option<serde_json::Value>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            database: DatabaseConfig::default(),
            redis: RedisConfig::default(),
            master_key: None,
            encryption_key: None,
            allow_private_upstreams: false,
            max_body_bytes: 32 * 1024 * 1024,
            shutdown_grace_secs: 30,
            usage_backlog_max: 100_000,
            timeouts: Timeouts::default(),
            stream_keepalive_ms: 10_000,
            log_format: "text".into(),
            metrics_public: false,
            image_fetch: ImageFetchConfig::default(),
            console: ConsoleConfig::default(),
            client_address: ClientAddressConfig::default(),
            auth_throttle: AuthThrottleConfig::default(),
            retention: RetentionConfig::default(),
            credits: CreditsConfig::default(),
            public: PublicConfig::default(),
            status: StatusConfig::default(),
            markup: None,
            providers: Vec::new(),
            models: Vec::new(),
        }
    }
}

impl Config {
    /// Loads settings in order: defaults, the config file (an explicit path must exist; the
    /// default `tollgate.toml` is optional), `.env` in the working directory, environment.
    pub fn load(path: Option<&Path>) -> Result<Config, String> {
        let (file, required) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from("tollgate.toml"), false),
        };
        let mut config = match std::fs::read_to_string(&file) {
            Ok(text) => Config::from_toml(&text).map_err(|e| format!("config file {}: {e}", file.display()))?,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => Config::default(),
            Err(e) => return Err(format!("cannot read config file {}: {e}", file.display())),
        };
        // `.env` only fills variables that are not already set in the environment.
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(e) if e.not_found() => {}
            Err(e) => return Err(format!(".env: {e}")),
        }
        config.apply_env(|name| std::env::var(name).ok())?;
        config.validate()?;
        Ok(config)
    }

    pub fn from_toml(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Overlays `TOLLGATE_*` variables; `get` is injectable so tests need not touch the process env.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), String> {
        let non_empty = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        if let Some(v) = non_empty("TOLLGATE_LISTEN") {
            self.listen = v;
        }
        if let Some(v) = non_empty("TOLLGATE_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = non_empty("TOLLGATE_DATABASE_URL") {
            self.database.url = Some(v);
        }
        if let Some(v) = non_empty("TOLLGATE_REDIS_URL") {
            self.redis.url = Some(v);
        }
        if let Some(v) = non_empty("TOLLGATE_MASTER_KEY") {
            self.master_key = Some(v);
        }
        if let Some(v) = non_empty("TOLLGATE_ENCRYPTION_KEY") {
            self.encryption_key = Some(v);
        }
        if let Some(v) = non_empty("TOLLGATE_ALLOW_PRIVATE_UPSTREAMS") {
            self.allow_private_upstreams = parse_bool("TOLLGATE_ALLOW_PRIVATE_UPSTREAMS", &v)?;
        }
        if let Some(v) = non_empty("TOLLGATE_MAX_BODY_BYTES") {
            self.max_body_bytes = parse_number("TOLLGATE_MAX_BODY_BYTES", &v)?;
        }
        if let Some(v) = non_empty("TOLLGATE_SHUTDOWN_GRACE_SECS") {
            self.shutdown_grace_secs = parse_number("TOLLGATE_SHUTDOWN_GRACE_SECS", &v)?;
        }
        if let Some(v) = non_empty("TOLLGATE_USAGE_BACKLOG_MAX") {
            self.usage_backlog_max = parse_number("TOLLGATE_USAGE_BACKLOG_MAX", &v)?;
        }
        if let Some(v) = non_empty("TOLLGATE_STREAM_KEEPALIVE_MS") {
            self.stream_keepalive_ms = parse_number("TOLLGATE_STREAM_KEEPALIVE_MS", &v)?;
        }
        if let Some(v) = non_empty("TOLLGATE_METRICS_PUBLIC") {
            self.metrics_public = parse_bool("TOLLGATE_METRICS_PUBLIC", &v)?;
        }
        if let Some(v) = non_empty("TOLLGATE_IMAGE_FETCH_ALLOW_PRIVATE") {
            self.image_fetch.allow_private = AllowPrivate::parse_env(&v);
        }
        if let Some(v) = non_empty("TOLLGATE_IMAGE_FETCH_TIMEOUT_MS") {
            self.image_fetch.timeout_ms = parse_number("TOLLGATE_IMAGE_FETCH_TIMEOUT_MS", &v)?;
        }
        if let Some(v) = non_empty("TOLLGATE_IMAGE_FETCH_MAX_BYTES") {
            self.image_fetch.max_bytes = parse_number("TOLLGATE_IMAGE_FETCH_MAX_BYTES", &v)?;
        }
        if let Some(v) = non_empty("TOLLGATE_IMAGE_FETCH_MAX_IMAGES") {
            self.image_fetch.max_images = parse_number("TOLLGATE_IMAGE_FETCH_MAX_IMAGES", &v)?;
        }
        if let Some(v) = get("TOLLGATE_TRUSTED_PROXIES") {
            // Set but empty: trust no proxy.
            self.client_address.trusted_proxies =
                v.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_string).collect();
        }
        if let Some(v) = non_empty("TOLLGATE_AUTH_THROTTLE_BURST") {
            self.auth_throttle.burst = parse_number("TOLLGATE_AUTH_THROTTLE_BURST", &v)?;
        }
        if let Some(v) = non_empty("TOLLGATE_AUTH_THROTTLE_RECOVER_MS") {
            self.auth_throttle.recover_ms = parse_number("TOLLGATE_AUTH_THROTTLE_RECOVER_MS", &v)?;
        }
        if let Some(v) = non_empty("TOLLGATE_RETENTION_CALLS_DAYS") {
            self.retention.calls_days = Some(parse_number("TOLLGATE_RETENTION_CALLS_DAYS", &v)?);
        }
        if let Some(v) = non_empty("TOLLGATE_CREDITS_PER_USD") {
            self.credits.per_usd = serde_json::Value::String(v.trim().to_string());
        }
        if let Some(v) = non_empty("TOLLGATE_CREDITS_NAME") {
            self.credits.name = v.trim().to_string();
        }
        if let Some(v) = non_empty("TOLLGATE_STATUS_PROBE_INTERVAL") {
            self.status.probe_interval =
                parse_duration(&v).map_err(|e| format!("TOLLGATE_STATUS_PROBE_INTERVAL: {e}"))?;
        }
        if let Some(v) = non_empty("TOLLGATE_LOG_FORMAT") {
            self.log_format = v;
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<(), String> {
        self.listen.parse::<SocketAddr>().map_err(|_| format!("listen: not a socket address: {}", self.listen))?;
        if let Some(url) = &self.database.url
            && !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Err("database.url must start with sqlite:, postgres:// or postgresql://".into());
        }
        if let Some(key) = &self.master_key
            && key.len() < 16
        {
            return Err("master key must be at least 16 characters".into());
        }
        if self.max_body_bytes < 1024 {
            return Err("max_body_bytes must be at least 1024".into());
        }
        if self.usage_backlog_max == 0 {
            return Err("usage_backlog_max must be positive".into());
        }
        if self.stream_keepalive_ms == 0 {
            return Err("stream_keepalive_ms must be positive".into());
        }
        self.timeouts.check().map_err(|e| format!("timeouts: {e}"))?;
        let console = &self.console;
        let durations_ms = [
            ("stream_keepalive_ms", self.stream_keepalive_ms),
            ("console.session_idle_minutes", console.session_idle_minutes.saturating_mul(60_000)),
            ("console.session_max_hours", console.session_max_hours.saturating_mul(3_600_000)),
            ("console.sign_in_recover_secs", console.sign_in_recover_secs.saturating_mul(1000)),
            ("image_fetch.timeout_ms", self.image_fetch.timeout_ms),
            ("auth_throttle.recover_ms", self.auth_throttle.recover_ms),
            ("shutdown_grace_secs", self.shutdown_grace_secs.saturating_mul(1000)),
        ];
        if let Some((name, _)) = durations_ms.iter().find(|(_, ms)| *ms > MAX_DURATION_MS) {
            return Err(format!("{name} must be at most a week"));
        }
        if self.status.probe_interval.is_some_and(|d| d.as_millis() < u128::from(MIN_PROBE_INTERVAL_MS)) {
            return Err(format!("status.probe_interval must be at least {MIN_PROBE_INTERVAL_MS}ms"));
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err("log_format must be text or json".into());
        }
        if self.console.session_idle_minutes == 0 || self.console.session_max_hours == 0 {
            return Err("console.session_idle_minutes and console.session_max_hours must be positive".into());
        }
        if self.console.sign_in_recover_secs == 0 {
            return Err("console.sign_in_recover_secs must be positive".into());
        }
        let images = &self.image_fetch;
        if images.timeout_ms == 0 {
            return Err("image_fetch.timeout_ms must be positive".into());
        }
        if images.max_bytes == 0 {
            return Err("image_fetch.max_bytes must be positive".into());
        }
        if let AllowPrivate::Networks(networks) = &images.allow_private {
            for n in networks {
                crate::network::Network::parse(n)
                    .map_err(|e| format!("image_fetch.allow_private (TOLLGATE_IMAGE_FETCH_ALLOW_PRIVATE): {e}"))?;
            }
        }
        // What `TrustedProxies::parse` will read at start-up: every entry a network.
        for n in &self.client_address.trusted_proxies {
            crate::network::Network::parse(n)
                .map_err(|e| format!("client_address.trusted_proxies (TOLLGATE_TRUSTED_PROXIES): {e}"))?;
        }
        let r = &self.retention;
        if r.calls_days == Some(0) {
            return Err("retention.calls_days must be at least 1 (leave it unset to keep every record)".into());
        }
        if r.batch_rows == 0 || r.batch_rows > 100_000 || r.interval_secs == 0 {
            return Err("retention.batch_rows must be 1 to 100000 and retention.interval_secs positive".into());
        }
        if r.work_percent == 0 || r.work_percent > 100 {
            return Err("retention.work_percent must be 1 to 100".into());
        }
        if r.batch_ms == 0 || r.batch_ms > 10_000 || r.batch_pause_ms == 0 {
            // Without a pause the job could take the write lock again before the usage
            // writer, sleeping in SQLite's busy handler, wakes to take it.
            return Err("retention.batch_ms must be 1 to 10000 and retention.batch_pause_ms positive".into());
        }
        let throttle = &self.auth_throttle;
        if throttle.burst > 0 && (throttle.recover_ms == 0 || throttle.max_addresses == 0) {
            return Err("auth_throttle.recover_ms and auth_throttle.max_addresses must be positive".into());
        }
        Ok(())
    }

    /// The database URL in effect: the configured one or the SQLite file in the data dir.
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("tollgate.db").display()),
        }
    }
}

fn parse_number<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, String> {
    v.trim().parse().map_err(|_| format!("{name}: not a number: {v}"))
}

fn parse_bool(name: &str, v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!("{name}: expected true or false, got {v}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_interval_reads_as_a_duration() {
        assert_eq!(Config::default().status.probe_interval, None);
        let c = Config::from_toml("[status]\nprobe_interval = \"250ms\"").unwrap();
        assert_eq!(c.status.probe_interval, Some(std::time::Duration::from_millis(250)));
        let c = Config::from_toml("[status]\nprobe_interval = 30").unwrap();
        assert_eq!(c.status.probe_interval, Some(std::time::Duration::from_secs(30)));
        assert_eq!(parse_duration("5m").unwrap(), Some(std::time::Duration::from_secs(300)));
        assert_eq!(parse_duration("0").unwrap(), None, "0 turns the probe off");
        assert!(parse_duration("5 fortnights").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("9999h").is_err());
        assert!(Config::from_toml("[status]\nprobe_interval = true").is_err());
        let c = Config::from_toml("[status]\nprobe_interval = \"10ms\"").unwrap();
        assert!(c.validate().unwrap_err().contains("probe_interval"));
    }

    #[test]
    fn env_overrides_file_and_defaults() {
        let mut c = Config::from_toml("listen = \"0.0.0.0:9000\"\n[database]\nurl = \"sqlite://x.db\"").unwrap();
        assert_eq!(c.listen, "0.0.0.0:9000");
        c.apply_env(|k| match k {
            "TOLLGATE_LISTEN" => Some("127.0.0.1:7000".into()),
            "TOLLGATE_ALLOW_PRIVATE_UPSTREAMS" => Some("true".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:7000");
        assert!(c.allow_private_upstreams);
        assert_eq!(c.database_url(), "sqlite://x.db");
        c.validate().unwrap();
    }

    #[test]
    fn huge_durations_are_refused() {
        let huge = "[timeouts]\ntotal_ms = 18446744073709551615";
        assert!(Config::from_toml(huge).unwrap().validate().unwrap_err().contains("at most"));
        let huge = "[console]\nsession_max_hours = 18446744073709551615";
        assert!(Config::from_toml(huge).unwrap().validate().unwrap_err().contains("session_max_hours"));
        let t = Timeouts { drain_ms: MAX_DURATION_MS + 1, ..Timeouts::default() };
        assert!(t.check().is_err());
        assert!(Timeouts { connect_ms: 0, ..Timeouts::default() }.check().is_err());
        Timeouts { drain_ms: MAX_DURATION_MS, ..Timeouts::default() }.check().unwrap();
    }

    #[test]
    fn the_retention_job_yields_the_cpu_idle_unless_told_low() {
        assert_eq!(Config::default().retention.cpu, JobCpu::Idle);
        let c = Config::from_toml("[retention]\ncpu = \"low\"").unwrap();
        assert_eq!(c.retention.cpu, JobCpu::Low);
        assert_eq!(Config::from_toml("[retention]\ncpu = \"idle\"").unwrap().retention.cpu, JobCpu::Idle);
        assert!(Config::from_toml("[retention]\ncpu = \"realtime\"").is_err());
    }

    #[test]
    fn unknown_fields_are_rejected() {
        assert!(Config::from_toml("lisen = \"x\"").is_err());
    }

    #[test]
    fn declared_providers_and_models_parse() {
        let c = Config::from_toml(
            r#"
[[providers]]
name = "openai"
kind = "openai"
base_url = "https://api.openai.com/v1"
credentials = [{ name = "main", api_key = "${OPENAI_API_KEY}" }]

[[models]]
name = "smart"
targets = [{ provider = "openai", model = "gpt-4o" }]
pricing = { input = 2.5, output = 10 }
multiplier = 1.25

[markup]
multiplier = "1.2"
request_fee = 0.001
"#,
        )
        .unwrap();
        assert_eq!(c.providers[0].credentials[0].api_key, "${OPENAI_API_KEY}");
        assert_eq!(c.models[0].multiplier.as_ref().unwrap().to_string(), "1.25");
        let m = c.markup.as_ref().unwrap();
        assert_eq!(
            (m.multiplier.as_ref().unwrap().as_str(), m.request_fee.as_ref().unwrap().to_string().as_str()),
            (Some("1.2"), "0.001")
        );
        assert_eq!(c.models[0].name, "smart");
    }

    #[test]
    fn image_fetch_settings_from_file_and_env() {
        let d = Config::default().image_fetch;
        assert_eq!(
            (d.allow_private.clone(), d.timeout_ms, d.max_bytes, d.max_images),
            (AllowPrivate::Switch(false), 10_000, 20 << 20, 16)
        );
        let c = Config::from_toml("[image_fetch]\nallow_private = [\"10.0.0.0/8\"]\nmax_images = 2").unwrap();
        assert_eq!(c.image_fetch.allow_private, AllowPrivate::Networks(vec!["10.0.0.0/8".into()]));
        assert_eq!(c.image_fetch.max_images, 2);
        c.validate().unwrap();
        let mut c = Config::default();
        c.apply_env(|k| match k {
            "TOLLGATE_IMAGE_FETCH_ALLOW_PRIVATE" => Some("on".into()),
            "TOLLGATE_IMAGE_FETCH_TIMEOUT_MS" => Some("500".into()),
            "TOLLGATE_IMAGE_FETCH_MAX_BYTES" => Some("1024".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            (c.image_fetch.allow_private.clone(), c.image_fetch.timeout_ms, c.image_fetch.max_bytes),
            (AllowPrivate::Switch(true), 500, 1024)
        );
        c.apply_env(|k| (k == "TOLLGATE_IMAGE_FETCH_ALLOW_PRIVATE").then(|| "127.0.0.1, 10.1.0.0/16".into())).unwrap();
        assert_eq!(c.image_fetch.allow_private, AllowPrivate::Networks(vec!["127.0.0.1".into(), "10.1.0.0/16".into()]));
        c.validate().unwrap();
        c.apply_env(|k| (k == "TOLLGATE_IMAGE_FETCH_ALLOW_PRIVATE").then(|| "maybe".into())).unwrap();
        assert!(c.validate().is_err(), "not a network");
    }

    #[test]
    fn trusted_proxies_and_auth_throttle_from_file_and_env() {
        let d = Config::default();
        assert_eq!(d.client_address.trusted_proxies, vec!["127.0.0.0/8", "::1"]);
        assert_eq!((d.auth_throttle.burst, d.auth_throttle.recover_ms), (20, 3_000));
        let mut c =
            Config::from_toml("[client_address]\ntrusted_proxies = [\"10.0.0.0/8\"]\n[auth_throttle]\nburst = 5")
                .unwrap();
        assert_eq!(c.client_address.trusted_proxies, vec!["10.0.0.0/8"]);
        assert_eq!(c.auth_throttle.burst, 5);
        c.validate().unwrap();
        c.apply_env(|k| match k {
            "TOLLGATE_TRUSTED_PROXIES" => Some("".into()),
            "TOLLGATE_AUTH_THROTTLE_RECOVER_MS" => Some("250".into()),
            _ => None,
        })
        .unwrap();
        assert!(c.client_address.trusted_proxies.is_empty(), "set but empty: no proxy is trusted");
        assert_eq!(c.auth_throttle.recover_ms, 250);
        c.apply_env(|k| (k == "TOLLGATE_TRUSTED_PROXIES").then(|| "10.0.0.0/33".into())).unwrap();
        assert!(c.validate().unwrap_err().contains("trusted_proxies"));
    }

    #[test]
    fn the_credit_unit_from_file_and_env() {
        let d = Config::default().credits;
        assert_eq!((d.name.as_str(), d.per_usd_text().as_str(), d.decimals), ("credits", "1", 9));
        let mut c = Config::from_toml("[credits]\nname = \"积分\"\nper_usd = 100\ndecimals = 2").unwrap();
        assert_eq!(
            (c.credits.name.as_str(), c.credits.per_usd_text().as_str(), c.credits.decimals),
            ("积分", "100", 2)
        );
        c.apply_env(|k| (k == "TOLLGATE_CREDITS_PER_USD").then(|| "7.5".into())).unwrap();
        assert_eq!(c.credits.per_usd_text(), "7.5");
        assert!(Config::from_toml("[credits]\nrate = 1").is_err());
    }

    #[test]
    fn bad_values_are_reported() {
        let mut c = Config::default();
        assert!(c.apply_env(|k| (k == "TOLLGATE_ALLOW_PRIVATE_UPSTREAMS").then(|| "maybe".into())).is_err());
        let c = Config { listen: "nope".into(), ..Config::default() };
        assert!(c.validate().is_err());
        assert!(Config::default().validate().is_ok());
        for retention in [
            RetentionConfig { batch_ms: 0, ..RetentionConfig::default() },
            RetentionConfig { batch_ms: 10_001, ..RetentionConfig::default() },
            RetentionConfig { batch_pause_ms: 0, ..RetentionConfig::default() },
            RetentionConfig { work_percent: 0, ..RetentionConfig::default() },
            RetentionConfig { work_percent: 101, ..RetentionConfig::default() },
            RetentionConfig { batch_rows: 0, ..RetentionConfig::default() },
        ] {
            let c = Config { retention, ..Config::default() };
            assert!(c.validate().unwrap_err().contains("retention."), "{retention:?}");
        }
    }
}
