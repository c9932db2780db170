//! Logging: structured lines (text or JSON) filtered by `RUST_LOG`, default `info`.
//! Nothing logged anywhere contains a provider key or a Tollgate key.

use tracing_subscriber::EnvFilter;

pub fn init(format: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second init (tests) is harmless; keep the first subscriber.
    let _ = if format == "json" { builder.json().try_init() } else { builder.try_init() };
}
