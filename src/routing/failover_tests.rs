//! Unit tests of the failover plan and planner over a hand-built snapshot.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::*;
use crate::billing::markup::{Markup, Multiplier, Rule};
use crate::billing::pricing::{Pricing, Usage};
use crate::config::Timeouts;
use crate::protocol::take_request_models;
use crate::providers::entry::ProviderEntry;
use crate::providers::kind::ProviderKind;
use crate::routing::health::Outcome;
use crate::routing::settings::RoutingSettings;
use crate::snapshot::{ModelEntry, TargetEntry};

const PRICE: Option<Pricing> = Some(Pricing {
    input: 1,
    output: 1,
    cached_input: None,
    cache_write: None,
    per_image: 0,
    per_request: 0,
    cache_write_1h: None,
    shapes: None,
    image_prices: None,
    applied: None,
});

fn provider(id: &str, creds: &[(&str, i64)]) -> Arc<ProviderEntry> {
    Arc::new(ProviderEntry {
        id: id.into(),
        name: id.into(),
        kind: ProviderKind::OpenAi,
        base_url: "http://upstream.invalid/v1".into(),
        enabled: true,
        timeouts: Timeouts::default(),
        api_version: None,
        credentials: creds
            .iter()
            .map(|(cid, w)| CredentialEntry {
                id: (*cid).into(),
                name: (*cid).into(),
                api_key: "sk".into(),
                weight: *w,
                enabled: true,
            })
            .collect(),
        markup: Rule::default(),
    })
}

fn model(name: &str, targets: &[(&str, i64)], fallbacks: &[&str], pricing: Option<Pricing>) -> Arc<ModelEntry> {
    Arc::new(ModelEntry {
        id: format!("id-{name}"),
        name: name.into(),
        pattern: crate::snapshot::pattern::Pattern::parse(name).map(|p| p.unwrap()),
        targets: targets
            .iter()
            .map(|(p, w)| TargetEntry {
                provider_id: (*p).into(),
                upstream_model: format!("up-{name}"),
                weight: *w,
                pricing: pricing.clone(),
            })
            .collect(),
        fallbacks: fallbacks.iter().map(|f| f.to_string()).collect(),
        free: false,
        markup: Rule::default(),
    })
}

fn snapshot() -> Snapshot {
    let mut s = Snapshot::default();
    for p in [provider("p1", &[("a", 1), ("b", 1)]), provider("p2", &[("c", 1)]), provider("p3", &[("d", 1)])] {
        s.providers_by_name.insert(p.name.clone(), p.clone());
        s.providers.insert(p.id.clone(), p);
    }
    for m in [
        model("main", &[("p1", 1), ("p2", 1)], &["gone", "secret", "unpriced", "backup"], PRICE),
        model("backup", &[("p3", 1)], &[], PRICE),
        model("secret", &[("p3", 1)], &[], PRICE),
        model("unpriced", &[("p3", 1)], &[], None),
    ] {
        s.models.insert(m.name.clone(), m);
    }
    s.direct_prices.insert(
        direct_key("p3", "up-backup"),
        crate::snapshot::DirectPrice { pricing: PRICE, free: false, markup: Rule::default() },
    );
    s
}

fn key(models: Option<&[&str]>) -> KeyEntry {
    KeyEntry {
        id: "k".into(),
        user_id: "u".into(),
        hash: [0; 32],
        models: models.map(|m| m.iter().map(|s| s.to_string()).collect()),
        expires_at: None,
        limits: crate::billing::limits::Limits::default(),
    }
}

fn routing() -> RoutingState {
    RoutingState::new(RoutingSettings::default())
}

/// Every choice until the plan is exhausted, as "credential@upstream model".
fn walk(plan: &Plan, routing: &RoutingState, now: Instant) -> Vec<String> {
    let mut planner = Planner::new(plan, routing);
    std::iter::from_fn(|| planner.next(now))
        .map(|c| format!("{}@{}", c.credential().id, c.route.upstream_model))
        .collect()
}

#[test]
fn credentials_then_targets_then_allowed_fallbacks() {
    let snap = snapshot();
    let plan = Plan::build(&snap, &key(Some(&["main", "backup", "unpriced"])), "main", None).unwrap();
    let r = routing();
    assert_eq!(walk(&plan, &r, Instant::now()), ["a@up-main", "b@up-main", "c@up-main", "d@up-backup"]);
    // The rotations moved on: the next call starts on the other credential and target.
    assert_eq!(walk(&plan, &r, Instant::now()), ["c@up-main", "b@up-main", "a@up-main", "d@up-backup"]);
}

#[test]
fn the_requests_models_list_replaces_the_fallbacks() {
    let snap = snapshot();
    let list = vec!["secret".to_string(), "main".to_string(), "nope".to_string()];
    let plan = Plan::build(&snap, &key(None), "backup", Some(list)).unwrap();
    let got = walk(&plan, &routing(), Instant::now());
    assert_eq!(got, ["d@up-backup", "d@up-secret", "a@up-main", "b@up-main", "c@up-main"]);
    let plan = Plan::build(&snap, &key(Some(&["backup"])), "backup", Some(vec!["secret".into()])).unwrap();
    assert_eq!(walk(&plan, &routing(), Instant::now()), ["d@up-backup"], "the key may not use `secret`");
}

#[test]
fn unknown_and_unpriced_models_are_refused() {
    let snap = snapshot();
    assert_eq!(Plan::build(&snap, &key(None), "nope", None).err().unwrap().code, Some("model_not_found"));
    assert_eq!(Plan::build(&snap, &key(None), "unpriced", None).err().unwrap().code, Some("model_not_priced"));
    // provider/model form: one target, priced from a model that targets it.
    let plan = Plan::build(&snap, &key(None), "p3/up-backup", None).unwrap();
    assert_eq!(walk(&plan, &routing(), Instant::now()), ["d@up-backup"]);
}

#[test]
fn unhealthy_members_are_skipped_and_come_back() {
    let snap = snapshot();
    let plan = Plan::build(&snap, &key(None), "main", Some(vec![])).unwrap();
    let r = routing();
    let t0 = Instant::now();
    r.health.disable(&HealthKey::credential("a"), t0, "refused");
    r.health.record(
        &HealthKey::credential("c"),
        t0,
        Outcome::RateLimited { retry_after: Some(Duration::from_secs(2)), error: "429".into() },
    );
    assert_eq!(walk(&plan, &r, t0), ["b@up-main"]);
    // Rotation moved on, so the target of p2 comes first now.
    assert_eq!(walk(&plan, &r, t0 + Duration::from_secs(2)), ["c@up-main", "b@up-main"]);
    // p2's target breaker opens: its credential is not offered even though it is healthy.
    let cfg = *r.health.config();
    for _ in 0..cfg.min_requests {
        r.health.record(&HealthKey::target("p2", "up-main"), t0, Outcome::Failed { error: "500".into() });
    }
    assert_eq!(walk(&plan, &r, t0 + Duration::from_secs(2)), ["b@up-main"]);
}

#[test]
fn skip_target_moves_past_its_other_credentials() {
    let snap = snapshot();
    let plan = Plan::build(&snap, &key(None), "main", Some(vec![])).unwrap();
    let r = routing();
    let mut planner = Planner::new(&plan, &r);
    let first = planner.next(Instant::now()).unwrap();
    assert_eq!(first.credential().id, "a");
    planner.skip_target();
    assert_eq!(planner.next(Instant::now()).unwrap().credential().id, "c");
    assert!(planner.next(Instant::now()).is_none());
}

#[test]
fn request_models_list_is_taken_out_of_the_body() {
    let mut body = json!({"model": "m", "models": ["x", "y"], "messages": []}).as_object().unwrap().clone();
    assert_eq!(take_request_models(&mut body).unwrap(), Some(vec!["x".to_string(), "y".to_string()]));
    assert!(!body.contains_key("models"));
    let mut bad = json!({"models": "x"}).as_object().unwrap().clone();
    assert_eq!(take_request_models(&mut bad).err().unwrap().param, Some("models"));
    let mut none = json!({"model": "m"}).as_object().unwrap().clone();
    assert_eq!(take_request_models(&mut none).unwrap(), None);
}

#[test]
fn a_target_probe_is_given_back_when_no_credential_can_use_it() {
    let snap = snapshot();
    let plan = Plan::build(&snap, &key(None), "backup", Some(vec![])).unwrap();
    let r = routing();
    let t0 = Instant::now();
    let cfg = *r.health.config();
    for _ in 0..cfg.min_requests {
        r.health.record(&HealthKey::target("p3", "up-backup"), t0, Outcome::Failed { error: "500".into() });
    }
    r.health.record(
        &HealthKey::credential("d"),
        t0,
        Outcome::RateLimited { retry_after: Some(cfg.cooloff * 2), error: "429".into() },
    );
    let half_open = t0 + cfg.cooloff;
    assert!(walk(&plan, &r, half_open).is_empty(), "the only credential is cooling");
    assert!(r.health.available(&HealthKey::target("p3", "up-backup"), half_open), "the target's probe is free again");
}

#[test]
fn a_failing_key_blames_its_target_only_when_no_other_key_could_be_tried() {
    let snap = snapshot();
    let plan = Plan::build(&snap, &key(None), "main", Some(vec![])).unwrap();
    let r = routing();
    let t0 = Instant::now();
    let first = Planner::new(&plan, &r).next(t0).unwrap();
    assert_eq!(first.credential().id, "a");
    assert!(!first.blames_target(&r.health, t0), "b could still answer for p1");
    r.health.disable(&HealthKey::credential("b"), t0, "refused");
    assert!(first.blames_target(&r.health, t0), "a is p1's last usable key");
    let only = Planner::new(&Plan::build(&snap, &key(None), "backup", Some(vec![])).unwrap(), &r).next(t0).unwrap();
    assert!(only.blames_target(&r.health, t0), "a target with one key: its failure is the target's");
}

/// A pattern model whose one target on `provider` has `template` as its upstream model.
fn pattern_model(name: &str, provider: &str, template: &str, pricing: Option<Pricing>) -> Arc<ModelEntry> {
    let m = model(name, &[(provider, 1)], &[], pricing);
    let mut m = Arc::into_inner(m).unwrap();
    m.targets[0].upstream_model = template.into();
    Arc::new(m)
}

fn with_patterns(patterns: Vec<Arc<ModelEntry>>) -> Snapshot {
    let mut s = snapshot();
    s.patterns = patterns;
    let len = |m: &ModelEntry| m.pattern.as_ref().unwrap().literal_len();
    s.patterns.sort_by(|a, b| len(b).cmp(&len(a)).then_with(|| a.name.cmp(&b.name)));
    s
}

#[test]
fn patterns_forward_the_requested_name_exact_names_win_and_longer_patterns_beat_shorter() {
    let own = Some(Pricing { input: 7, ..PRICE.unwrap() });
    let s = with_patterns(vec![
        pattern_model("gpt-*", "p1", "gpt-*", None),
        pattern_model("gpt-4o*", "p2", "gpt-4o*", own.clone()),
        pattern_model("vendor/*", "p3", "*", own),
    ]);
    let k = key(None);
    let route = |name: &str| {
        let plan = Plan::build(&s, &k, name, None).unwrap_or_else(|e| panic!("{name}: {}", e.message));
        let r = plan.primary();
        (r.provider.id.clone(), r.upstream_model.clone(), r.pricing.as_ref().map(|p| p.input))
    };
    // Priced from the catalog (the openai kind's gpt-4.1 at 2 USD per million input tokens).
    assert_eq!(route("gpt-4.1"), ("p1".into(), "gpt-4.1".into(), Some(2_000_000_000)));
    // The longer pattern wins, priced by its own price.
    assert_eq!(route("gpt-4o-mini"), ("p2".into(), "gpt-4o-mini".into(), Some(7)));
    // `vendor/*` forwards what its star matched.
    assert_eq!(route("vendor/anything-at-all"), ("p3".into(), "anything-at-all".into(), Some(7)));
    // An exact name wins over every pattern.
    assert_eq!(route("main").1, "up-main");
    // A name the catalog does not know and the pattern does not price is refused.
    let e = Plan::build(&s, &k, "gpt-unknown-model", None).err().unwrap();
    assert_eq!(e.code, Some("model_not_priced"));
    // A key listing the pattern may use every name it serves, and nothing else.
    let only = key(Some(&["gpt-4o*"]));
    assert!(s.key_may_use(&only, "gpt-4o-mini"));
    assert!(!s.key_may_use(&only, "gpt-4.1"));
    assert!(!s.key_may_use(&only, "main"));
}

#[test]
fn models_for_lists_the_catalog_models_a_pattern_serves() {
    let s = with_patterns(vec![pattern_model("gpt-4o*", "p2", "gpt-4o*", None), pattern_model("o*", "p1", "o*", None)]);
    let names = s.models_for(&key(Some(&["gpt-4o*", "main"])));
    assert!(names.contains(&"main".to_string()));
    assert!(names.contains(&"gpt-4o".to_string()) && names.contains(&"gpt-4o-mini".to_string()), "{names:?}");
    assert!(names.iter().all(|n| n == "main" || n.starts_with("gpt-4o")), "{names:?}");
    let all = s.models_for(&key(None));
    assert!(all.contains(&"o3".to_string()));
    assert!(!all.contains(&"gpt-4o*".to_string()), "a pattern itself is not a model name to send");
}

fn times(m: &str) -> Option<Multiplier> {
    Some(Multiplier::parse(m).unwrap())
}

/// The markup each route carries comes from the most specific level that sets it — model,
/// then provider, then global — and prices a call exactly.
#[test]
fn routes_carry_the_most_specific_markup() {
    let mut s = snapshot();
    let price = Pricing { input: 150_000_000, output: 600_000_000, ..Pricing::default() };
    let rebuilt = |s: &mut Snapshot, name: &str, markup: Rule| {
        let old = s.models[name].clone();
        let targets = old
            .targets
            .iter()
            .map(|t| TargetEntry {
                provider_id: t.provider_id.clone(),
                upstream_model: t.upstream_model.clone(),
                weight: t.weight,
                pricing: Some(price.clone()),
            })
            .collect();
        let m = ModelEntry {
            id: old.id.clone(),
            name: old.name.clone(),
            pattern: None,
            targets,
            fallbacks: vec![],
            free: old.free,
            markup,
        };
        s.models.insert(name.into(), Arc::new(m));
    };
    let with_provider_rule = |s: &mut Snapshot, id: &str, markup: Rule| {
        let p = &s.providers[id];
        let p = Arc::new(ProviderEntry {
            id: p.id.clone(),
            name: p.name.clone(),
            kind: p.kind,
            base_url: p.base_url.clone(),
            enabled: p.enabled,
            timeouts: p.timeouts,
            api_version: None,
            credentials: vec![],
            markup,
        });
        s.providers.insert(id.into(), p.clone());
        s.providers_by_name.insert(id.into(), p);
    };
    let u = Usage { input_tokens: 1000, output_tokens: 500, ..Usage::default() };
    let cost = |s: &Snapshot, name: &str| {
        let plan = Plan::build(s, &key(None), name, None).unwrap();
        let r = plan.primary();
        r.markup.charge(r.pricing.as_ref().unwrap(), &u)
    };
    rebuilt(&mut s, "backup", Rule::default());
    // No rule anywhere: at cost (0.00045 credits).
    assert_eq!((cost(&s, "backup").base, cost(&s, "backup").cost), (450_000, 450_000));
    // Global ×1.1 and a fee of 2 nano-credits.
    s.markup = Rule { multiplier: times("1.1"), request_fee: Some(2) };
    assert_eq!(cost(&s, "backup").cost, 495_000 + 2);
    // The provider's ×1.5 beats the global multiplier; the global fee still applies.
    with_provider_rule(&mut s, "p3", Rule { multiplier: times("1.5"), request_fee: None });
    assert_eq!(cost(&s, "backup").cost, 675_000 + 2);
    // The model's ×2 and fee beat both.
    rebuilt(&mut s, "backup", Rule { multiplier: times("2"), request_fee: Some(5) });
    assert_eq!(cost(&s, "backup").cost, 900_000 + 5);
    assert_eq!(cost(&s, "backup").base, 450_000, "the provider cost is the same throughout");
    // `provider/model` addressing takes the rule of the configured model targeting it.
    s.direct_prices.insert(
        direct_key("p3", "up-backup"),
        crate::snapshot::DirectPrice {
            pricing: Some(price.clone()),
            free: false,
            markup: Rule { multiplier: times("3"), request_fee: None },
        },
    );
    assert_eq!(cost(&s, "p3/up-backup").cost, 1_350_000 + 2);
    // A free model carries no markup.
    let free =
        Snapshot::markup_for(&s, &Rule { multiplier: times("2"), request_fee: Some(5) }, &s.providers["p3"], true);
    assert_eq!(free, Markup::NONE);
}
