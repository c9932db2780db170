//! Starting Tollgate for the bench and setting it up through its management API: one provider
//! per mock mode, a priced model `bench-{mode}` and a free twin `bench-{mode}-free`, a user
//! with credits and a key.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use hyper::Method;
use serde_json::{Value, json};

use crate::child::{self, Ready};
use crate::conn;
use crate::pg::PgDb;
use crate::targets::{MockMode, Route, Target};

pub const MASTER_KEY: &str = "bench-master-key-0123456789";

async fn api(addr: SocketAddr, path: &str, body: Value) -> Result<Value, String> {
    let (status, bytes) = conn::once(addr, Method::POST, path, Some(MASTER_KEY), Some(&body)).await?;
    if !(200..300).contains(&status) {
        return Err(format!("POST {path}: HTTP {status}: {}", String::from_utf8_lossy(&bytes)));
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("POST {path}: {e}"))
}

fn field(v: &Value, name: &str) -> Result<String, String> {
    v[name].as_str().map(str::to_string).ok_or_else(|| format!("no `{name}` in {v}"))
}

/// Starts `bin` (the `tollgate` binary) on port 0 with its data in `data_dir`, on SQLite or on
/// the given PostgreSQL database, and sets it up for `modes` of the mock at `mock`.
pub async fn start(
    name: &str,
    bin: &Path,
    data_dir: &Path,
    db: Option<PgDb>,
    mock: SocketAddr,
    modes: &[MockMode],
) -> Result<Target, String> {
    std::fs::create_dir_all(data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .current_dir(data_dir)
        .env("TOLLGATE_LISTEN", "127.0.0.1:0")
        .env("TOLLGATE_DATA_DIR", data_dir)
        .env("TOLLGATE_MASTER_KEY", MASTER_KEY)
        .env("TOLLGATE_ALLOW_PRIVATE_UPSTREAMS", "true")
        .env("RUST_LOG", "warn")
        .env_remove("TOLLGATE_DATABASE_URL");
    if let Some(db) = &db {
        cmd.env("TOLLGATE_DATABASE_URL", db.url());
    }
    let child = child::spawn(name, cmd, data_dir, Ready::Stdout, Duration::from_secs(60))?;
    let addr = child.addr;
    let (plain, limited) = set_up(addr, mock, modes).await.map_err(|e| format!("{name}: set-up: {e}"))?;
    let proc = child.proc;
    Ok(Target {
        name: name.to_string(),
        route: Route::Tollgate { plain, limited },
        addr,
        proc,
        child: Some(child),
        db,
        broken: Vec::new(),
    })
}

/// Configures providers, models, a user with credits and two keys: one without limits and
/// one with limits far above what the bench sends (none when the build has no key limits).
async fn set_up(addr: SocketAddr, mock: SocketAddr, modes: &[MockMode]) -> Result<(String, Option<String>), String> {
    for mode in modes {
        let provider = format!("mock-{}", mode.key);
        let p = api(
            addr,
            "/api/v1/providers",
            json!({"name": provider, "kind": "openai", "base_url": mode.base_url(mock)}),
        )
        .await?;
        let id = field(&p, "id")?;
        api(addr, &format!("/api/v1/providers/{id}/credentials"), json!({"api_key": "sk-bench"})).await?;
        let target = json!([{"provider": provider, "model": "mock-gpt"}]);
        api(
            addr,
            "/api/v1/models",
            json!({"name": mode.model(false), "targets": target, "pricing": {"input": 2.5, "output": 10}}),
        )
        .await?;
        api(addr, "/api/v1/models", json!({"name": mode.model(true), "targets": target, "free": true})).await?;
    }
    let user = api(addr, "/api/v1/users", json!({"name": "bench"})).await?;
    let user_id = field(&user, "id")?;
    api(addr, &format!("/api/v1/users/{user_id}/credits"), json!({"amount": "1000000"})).await?;
    let plain = api(addr, "/api/v1/keys", json!({"user_id": user_id})).await?;
    let limits = json!({
        "user_id": user_id, "rpm": 1_000_000_000, "tpm": 1_000_000_000_000i64, "max_concurrency": 1_000_000,
        "budget": "1000000", "budget_period": "monthly",
    });
    let limited = match api(addr, "/api/v1/keys", limits).await {
        Ok(k) => Some(field(&k, "key")?),
        Err(e) => {
            eprintln!("tg-bench: no key with limits ({e}); measuring without them");
            None
        }
    };
    Ok((field(&plain, "key")?, limited))
}
