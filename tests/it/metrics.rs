//! `GET /metrics`: the master key guards it (unless configured public), and the counters match
//! what the mock saw: calls by status, attempts by outcome, tokens, cost and health gauges.

use crate::harness::*;
use crate::routing_fixture::*;

/// The value of the sample whose line starts with `series` (name and labels, exactly).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn scrape(gw: &Gateway, key: Option<&str>) -> (u16, String, String) {
    let mut req = gw.http.get(format!("{}/metrics", gw.url));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().await.unwrap();
    let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (resp.status().as_u16(), ct, resp.text().await.unwrap())
}

#[tokio::test]
async fn metrics_count_calls_attempts_tokens_cost_and_health() {
    let mock = mock().await;
    // The failing key's errors are its own: the target's breaker stays closed.
    let gw = Gateway::start_with(GatewayOptions { env: fast_routing_env(), ..GatewayOptions::default() }).await;
    let url = mock.scenario_url("prompt_tokens=1000,completion_tokens=500");
    let failing = "mock:status=500";
    let rig = Rig::new(&gw, &url, &[(failing, 1), ("sk-ok", 1)], None).await;
    let (pname, ids, m, key) = (&rig.provider_name, &rig.credentials, &rig.model, &rig.key);
    for _ in 0..4 {
        assert_eq!(gw.chat(key, hello(m)).await.status(), 200);
    }

    let (status, _, body) = scrape(&gw, None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(scrape(&gw, Some(key)).await.0, 401, "a client key is not the master key");
    let (status, ct, text) = scrape(&gw, Some(MASTER_KEY)).await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");

    let labels = format!("model=\"{m}\",provider=\"{pname}\"");
    let get = |series: String| sample(&text, &series).unwrap_or_else(|| panic!("no {series} in\n{text}"));
    assert_eq!(get(format!("tollgate_requests_total{{{labels},status=\"200\"}}")), 4.0);
    assert_eq!(get(format!("tollgate_request_duration_seconds_count{{{labels}}}")), 4.0);
    assert_eq!(get(format!("tollgate_tokens_total{{{labels},kind=\"input\"}}")), 4000.0);
    assert_eq!(get(format!("tollgate_tokens_total{{{labels},kind=\"output\"}}")), 2000.0);
    // 1500 tokens at 1 credit per million each call: 1.5 million nano-credits.
    assert_eq!(get(format!("tollgate_cost_nano_credits_total{{{labels}}}")), 6_000_000.0);
    let failed = count(&mock, failing) as f64;
    assert!(failed >= 2.0, "the failing key was tried");
    let attempts = |cred: &str, outcome: &str| {
        sample(
            &text,
            &format!(
                "tollgate_upstream_attempts_total{{provider=\"{pname}\",credential=\"{cred}\",outcome=\"{outcome}\"}}"
            ),
        )
    };
    assert_eq!(attempts(&ids[0], "error"), Some(failed));
    assert_eq!(attempts(&ids[1], "ok"), Some(count(&mock, "sk-ok") as f64));
    assert_eq!(attempts(&ids[1], "error"), None, "no zero samples for outcomes that never happened");
    assert!(get("tollgate_overhead_seconds_count".into()) >= 4.0);
    assert_eq!(get("tollgate_usage_writes_rejected_total".into()), 0.0, "no usage write was refused");
    let cred = |name: &str, id: &str| format!("{name}{{provider=\"{pname}\",credential=\"{id}\",name=");
    let line = |prefix: String| {
        text.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("{prefix}")).to_string()
    };
    assert!(line(cred("tollgate_credential_health_state", &ids[1])).ends_with(" 0"), "{text}");
    let rate = line(cred("tollgate_credential_recent_error_rate", &ids[0]));
    assert!(rate.ends_with(" 1"), "every attempt on the failing key failed: {rate}");
    let target = format!("tollgate_target_health_state{{provider=\"{pname}\",upstream_model=\"mock-gpt\"}}");
    assert_eq!(get(target), 0.0);
    gw.stop().await;
}

#[tokio::test]
async fn metrics_can_be_public_and_show_a_disabled_credential() {
    let mock = mock().await;
    let mut env = fast_routing_env();
    env.push(("TOLLGATE_METRICS_PUBLIC".into(), "true".into()));
    env.push(("TOLLGATE_RETEST_BASE_MS".into(), "600000".into()));
    let gw = Gateway::start_with(GatewayOptions { env, ..GatewayOptions::default() }).await;
    let rig = Rig::new(&gw, &mock.base_url(), &[("mock:status=401", 1), ("sk-ok", 1)], None).await;
    let (pname, ids) = (&rig.provider_name, &rig.credentials);
    let resp = gw.chat(&rig.key, hello(&rig.model)).await;
    assert_eq!(resp.status(), 200);
    let (status, _, text) = scrape(&gw, None).await;
    assert_eq!(status, 200, "{text}");
    let refused = format!("tollgate_credential_health_state{{provider=\"{pname}\",credential=\"{}\",name=", ids[0]);
    let line = text.lines().find(|l| l.starts_with(&refused)).unwrap_or_else(|| panic!("{text}"));
    assert!(line.ends_with(" 4"), "disabled: {line}");
    let refused_attempts = format!(
        "tollgate_upstream_attempts_total{{provider=\"{pname}\",credential=\"{}\",outcome=\"refused\"}}",
        ids[0]
    );
    assert_eq!(sample(&text, &refused_attempts), Some(1.0));
    let served = format!("tollgate_requests_total{{model=\"{}\",provider=\"{pname}\",status=\"200\"}}", rig.model);
    assert_eq!(sample(&text, &served), Some(1.0));

    // Deleting the model and the refused key drops their series, not only at a restart.
    gw.admin_ok("DELETE", &format!("/api/v1/credentials/{}", ids[0]), None, 200).await;
    gw.admin_ok("DELETE", &format!("/api/v1/models/{}", rig.model), None, 200).await;
    let (_, _, text) = scrape(&gw, None).await;
    assert_eq!(sample(&text, &served), None, "{text}");
    assert_eq!(sample(&text, &refused_attempts), None, "{text}");
    let ok_attempts =
        format!("tollgate_upstream_attempts_total{{provider=\"{pname}\",credential=\"{}\",outcome=\"ok\"}}", ids[1]);
    assert_eq!(sample(&text, &ok_attempts), Some(1.0), "the remaining key keeps its series");
    gw.stop().await;
}
