//! The settings overview: the effective configuration, read-only, with every secret masked
//! (a URL's password, the master key, the encryption key), and what the gateway holds.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::{count, render};
use crate::console::auth::Admin;
use crate::console::chrome::Chrome;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "settings.html")]
struct Page {
    c: Chrome,
    groups: Vec<(&'static str, Vec<(&'static str, String)>)>,
    licenses: String,
}

/// `scheme://user:secret@host/...` → `scheme://user:****@host/...`.
pub fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let (auth, host) = match rest.rsplit_once('@') {
        Some(x) => x,
        None => return url.to_string(),
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:****@{host}"),
        None => format!("{scheme}://{auth}@{host}"),
    }
}

fn on(b: bool) -> String {
    if b { "true".into() } else { "false".into() }
}

pub async fn page(State(state): State<Arc<AppState>>, Admin(s, lang): Admin) -> Response {
    let cfg = &state.config;
    let snap = state.snapshot.load();
    let set =
        |v: &Option<String>, how: &str| if v.is_some() { format!("set ({how}, not shown)") } else { "not set".into() };
    let t = cfg.timeouts;
    let img = &cfg.image_fetch;
    let groups = vec![
        (
            "settings.server",
            vec![
                ("version", env!("CARGO_PKG_VERSION").to_string()),
                ("listen", cfg.listen.clone()),
                ("data_dir", cfg.data_dir.display().to_string()),
                ("log_format", cfg.log_format.clone()),
                ("max_body_bytes", count(cfg.max_body_bytes as i64)),
                ("shutdown_grace_secs", cfg.shutdown_grace_secs.to_string()),
                ("stream_keepalive_ms", cfg.stream_keepalive_ms.to_string()),
                ("metrics_public", on(cfg.metrics_public)),
                ("allow_private_upstreams", on(cfg.allow_private_upstreams)),
            ],
        ),
        (
            "settings.storage",
            vec![
                ("database.engine", state.db.engine().to_string()),
                ("database.url", mask_url(&cfg.database_url())),
                (
                    "database.max_connections",
                    cfg.database.max_connections.map(|n| n.to_string()).unwrap_or_else(|| "default".into()),
                ),
                ("redis.url", cfg.redis.url.as_deref().map(mask_url).unwrap_or_else(|| "not set".into())),
            ],
        ),
        (
            "settings.secrets",
            vec![
                ("master_key", set(&cfg.master_key, "TOLLGATE_MASTER_KEY")),
                ("admin keys accepted", state.admin_key_hashes.len().to_string()),
                (
                    "encryption_key",
                    if cfg.encryption_key.is_some() {
                        "set (TOLLGATE_ENCRYPTION_KEY, not shown)".into()
                    } else {
                        "key file in the data directory".into()
                    },
                ),
                ("encryption key id", state.vault.key_id().to_string()),
            ],
        ),
        (
            "settings.timeouts",
            vec![
                ("connect_ms", t.connect_ms.to_string()),
                ("first_byte_ms", t.first_byte_ms.to_string()),
                ("idle_ms", t.idle_ms.to_string()),
                ("total_ms", t.total_ms.to_string()),
                ("drain_ms", t.drain_ms.to_string()),
            ],
        ),
        (
            "settings.images",
            vec![
                ("image_fetch.allow_private", format!("{:?}", img.allow_private)),
                ("image_fetch.timeout_ms", img.timeout_ms.to_string()),
                ("image_fetch.max_bytes", count(img.max_bytes as i64)),
                ("image_fetch.max_images", img.max_images.to_string()),
            ],
        ),
        (
            "settings.console",
            vec![
                ("console.session_idle_minutes", cfg.console.session_idle_minutes.to_string()),
                ("console.session_max_hours", cfg.console.session_max_hours.to_string()),
                (
                    "console.secure_cookies",
                    cfg.console.secure_cookies.map(on).unwrap_or_else(|| "auto (X-Forwarded-Proto: https)".into()),
                ),
            ],
        ),
        (
            "settings.holding",
            vec![
                ("providers", snap.providers.len().to_string()),
                ("models", snap.models.len().to_string()),
                ("users", snap.users.len().to_string()),
                ("active keys", snap.keys.len().to_string()),
                ("declared providers (tollgate.toml)", cfg.providers.len().to_string()),
                ("declared models (tollgate.toml)", cfg.models.len().to_string()),
                ("price catalog", crate::billing::catalog::embedded().source.clone()),
            ],
        ),
    ];
    render(&Page {
        c: Chrome::new(lang, "/settings", &s),
        groups,
        licenses: crate::console::assets::url("uPlot.LICENSE.txt"),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn masks_passwords_in_urls() {
        assert_eq!(super::mask_url("postgres://u:secret@h:5432/db"), "postgres://u:****@h:5432/db");
        assert_eq!(super::mask_url("redis://:pw@h/0"), "redis://:****@h/0");
        assert_eq!(super::mask_url("sqlite://./data/tollgate.db"), "sqlite://./data/tollgate.db");
        assert_eq!(super::mask_url("redis://h:6379"), "redis://h:6379");
    }
}
