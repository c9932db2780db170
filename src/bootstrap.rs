//! Start-up work on the database: the first admin, and the providers and models declared in
//! the config file (applied on every start, so a deployment can be kept as code).

use crate::billing::markup::{Rule, RuleInput};
use crate::billing::pricing::PricingInput;
use crate::config::{Config, DeclaredMarkup, DeclaredModel, DeclaredProvider};
use crate::secrets::{api_keys, passwords, vault::Vault};
use crate::store::{self, Db};

/// Settings name of the generated admin key's digest.
const ADMIN_KEY_SETTING: &str = "admin_key_sha256";

/// Digests of the keys the management API accepts. With no master key configured, a first
/// start generates an admin key and an admin user with a random password, prints both once,
/// and keeps only their hashes. There is never a default password.
pub async fn admin_keys(config: &Config, db: &Db) -> Result<Vec<[u8; 32]>, String> {
    let mut keys = Vec::new();
    if let Some(k) = &config.master_key {
        keys.push(api_keys::digest(k));
    }
    let stored = store::settings::get(db, ADMIN_KEY_SETTING).await.map_err(|e| e.to_string())?;
    match stored {
        Some(hex_digest) => {
            let d = hex::decode(&hex_digest).ok().and_then(|d| <[u8; 32]>::try_from(d).ok());
            keys.extend(d);
        }
        None if config.master_key.is_none() => {
            let admin_key = api_keys::generate("tg-admin-");
            let password = api_keys::generate("").secret;
            let now = crate::clock::now_ms();
            let user = store::users::UserRow {
                role: "admin".into(),
                password_hash: Some(passwords::hash(&password)?),
                plan: "unlimited".into(),
                ..store::users::UserRow::new_member("admin", now)
            };
            if store::users::count_admins(db).await.map_err(|e| e.to_string())? == 0 {
                store::users::save(db, &user).await.map_err(|e| e.to_string())?;
            }
            store::settings::set(db, ADMIN_KEY_SETTING, &hex::encode(admin_key.hash))
                .await
                .map_err(|e| e.to_string())?;
            keys.push(admin_key.hash);
            // Printed once, to the operator's terminal; never logged.
            println!("First start: created an administrator. These are shown once; store them now.");
            println!("  management API key: {}", admin_key.secret);
            println!("  console login:      admin / {password}");
            println!(
                "  try: curl -H 'Authorization: Bearer {}' http://{}/api/v1/users",
                admin_key.secret, config.listen
            );
        }
        None => {}
    }
    Ok(keys)
}

/// Expands `${VAR}` references in declared secrets.
fn expand_env(value: &str) -> Result<String, String> {
    match value.strip_prefix("${").and_then(|v| v.strip_suffix('}')) {
        Some(var) => std::env::var(var).map_err(|_| format!("environment variable {var} is not set")),
        None => Ok(value.to_string()),
    }
}

/// Creates or updates the declared providers (by name), their credentials (by name) and models.
pub async fn apply_declared(config: &Config, db: &Db, vault: &Vault) -> Result<(), String> {
    if let Some(m) = &config.markup {
        let rule = declared_rule(m, Rule::default()).map_err(|e| format!("[markup]: {e}"))?;
        let text = serde_json::to_string(&rule).expect("a rule serializes");
        store::settings::set(db, crate::snapshot::MARKUP_SETTING, &text).await.map_err(|e| e.to_string())?;
    }
    for p in &config.providers {
        apply_provider(config, db, vault, p).await.map_err(|e| format!("provider `{}`: {e}", p.name))?;
    }
    for m in &config.models {
        apply_model(db, m).await.map_err(|e| format!("model `{}`: {e}", m.name))?;
    }
    Ok(())
}

async fn apply_provider(config: &Config, db: &Db, vault: &Vault, p: &DeclaredProvider) -> Result<(), String> {
    let kind = crate::providers::kind::ProviderKind::parse(&p.kind)?;
    crate::providers::check_settings(kind, p.base_url.as_deref(), p.api_version.as_deref())?;
    if let Some(url) = &p.base_url {
        crate::providers::ssrf::check_base_url(url, config.allow_private_upstreams)?;
    }
    let now = crate::clock::now_ms();
    let existing = store::providers::get(db, &p.name).await.map_err(|e| e.to_string())?;
    let row = store::providers::ProviderRow {
        id: existing.as_ref().map_or_else(store::new_id, |e| e.id.clone()),
        name: p.name.clone(),
        kind: p.kind.clone(),
        base_url: p.base_url.clone(),
        region: p.region.clone(),
        enabled: existing.as_ref().is_none_or(|e| e.enabled),
        timeouts: existing.as_ref().and_then(|e| e.timeouts),
        api_version: p.api_version.clone(),
        markup: declared_rule(
            &DeclaredMarkup { multiplier: p.multiplier.clone(), request_fee: p.request_fee.clone() },
            existing.as_ref().map(|e| e.markup).unwrap_or_default(),
        )?,
        created_at: existing.as_ref().map_or(now, |e| e.created_at),
        updated_at: now,
    };
    store::providers::save(db, &row).await.map_err(|e| e.to_string())?;
    let creds = store::providers::list_credentials(db, Some(&row.id)).await.map_err(|e| e.to_string())?;
    for c in &p.credentials {
        let secret = expand_env(&c.api_key)?;
        let existing = creds.iter().find(|e| e.name == c.name);
        let id = existing.map_or_else(store::new_id, |e| e.id.clone());
        let cred = store::providers::CredentialRow {
            secret_sealed: vault.seal(&id, &secret),
            secret_masked: crate::secrets::vault::mask(&secret),
            key_id: vault.key_id().to_string(),
            id,
            provider_id: row.id.clone(),
            name: c.name.clone(),
            weight: c.weight.unwrap_or(100),
            enabled: existing.is_none_or(|e| e.enabled),
            disabled_reason: existing.and_then(|e| e.disabled_reason.clone()),
            created_at: existing.map_or(now, |e| e.created_at),
            updated_at: now,
        };
        store::providers::save_credential(db, &cred).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A declared markup rule: the parts given replace `current`'s; read from their JSON text so
/// a decimal stays exact.
fn declared_rule(m: &DeclaredMarkup, current: Rule) -> Result<Rule, String> {
    let mut body = serde_json::Map::new();
    for (name, v) in [("multiplier", &m.multiplier), ("request_fee", &m.request_fee)] {
        if let Some(v) = v {
            body.insert(name.into(), v.clone());
        }
    }
    let input: RuleInput =
        serde_json::from_str(&serde_json::Value::Object(body).to_string()).map_err(|e| e.to_string())?;
    let mut rule = current;
    input.apply(&mut rule).map_err(|(_, e)| e)?;
    Ok(rule)
}

/// Prices are read from their JSON text so amounts stay exact decimals (a TOML float prints
/// as its shortest exact form; strings are taken as written).
fn parse_pricing(v: &serde_json::Value) -> Result<PricingInput, String> {
    serde_json::from_str(&v.to_string()).map_err(|e| e.to_string())
}

async fn apply_model(db: &Db, m: &DeclaredModel) -> Result<(), String> {
    let now = crate::clock::now_ms();
    let existing = store::models::get(db, &m.name).await.map_err(|e| e.to_string())?;
    let pricing = m
        .pricing
        .as_ref()
        .map(|p| parse_pricing(p).map_err(|e| format!("pricing: {e}")))
        .transpose()?
        .map(|p| p.to_pricing())
        .transpose()?;
    let mut targets = Vec::new();
    for t in &m.targets {
        let provider = t["provider"].as_str().ok_or("each target needs a `provider`")?;
        let upstream = t["model"].as_str().ok_or("each target needs a `model`")?;
        let p = store::providers::get(db, provider)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("unknown provider `{provider}`"))?;
        let tp = match t.get("pricing") {
            Some(v) => Some(parse_pricing(v).map_err(|e| format!("target pricing: {e}"))?.to_pricing()?),
            None => None,
        };
        targets.push(store::models::TargetRow {
            id: store::new_id(),
            provider_id: p.id,
            upstream_model: upstream.to_string(),
            weight: t["weight"].as_i64().unwrap_or(100),
            pricing: tp,
        });
    }
    if targets.is_empty() {
        return Err("a model needs at least one target".into());
    }
    let row = store::models::ModelRow {
        id: existing.as_ref().map_or_else(store::new_id, |e| e.id.clone()),
        name: m.name.clone(),
        fallbacks: m.fallbacks.clone(),
        pricing,
        free: m.free,
        markup: declared_rule(
            &DeclaredMarkup { multiplier: m.multiplier.clone(), request_fee: m.request_fee.clone() },
            existing.as_ref().map(|e| e.markup).unwrap_or_default(),
        )?,
        enabled: existing.as_ref().is_none_or(|e| e.enabled),
        targets,
        created_at: existing.as_ref().map_or(now, |e| e.created_at),
        updated_at: now,
    };
    store::models::save(db, &row).await.map_err(|e| e.to_string())
}
