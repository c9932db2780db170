//! Margin in the statistics: `GET /api/v1/stats` answers `provider_cost` (what the calls cost
//! at the provider's price) and `margin` (charged − provider cost) per row and in the totals,
//! exactly, from the rollups and from the records alike, and again after `tollgate stats
//! rebuild`; `GET /api/v1/me/stats` shows members neither. SQLite and PostgreSQL.

use serde_json::{Value, json};

use crate::harness::*;

/// Checks every row and the totals of an administrator's stats query.
async fn check(gw: &Gateway, query: &str, want: (&str, &str, &str)) {
    let (status, v) = gw.admin("GET", &format!("/api/v1/stats?from=2020-01-01T00:00:00Z&{query}"), None).await;
    assert_eq!(status, 200, "{v}");
    let figures = |r: &Value| {
        (
            r["cost"].as_str().unwrap().to_string(),
            r["provider_cost"].as_str().unwrap().to_string(),
            r["margin"].as_str().unwrap().to_string(),
        )
    };
    let want = (want.0.to_string(), want.1.to_string(), want.2.to_string());
    assert_eq!(figures(&v["totals"]), want, "{query}: {v}");
    let rows = v["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{query}: one day, one group: {v}");
    assert_eq!(figures(&rows[0]), want, "{query}: {v}");
}

async fn run(engine: Engine) {
    let mock = mock().await;
    let mut gw = Gateway::start(engine).await;
    // Every call reports 1000 prompt and 500 completion tokens: at 2.5 / 10 per million that is
    // 0.0075 at cost, 0.01125 charged at ×1.5.
    let f = Fixture::new(&gw, &mock.scenario_url("prompt_tokens=1000,completion_tokens=500"), "10").await;
    gw.admin_ok("PATCH", &format!("/api/v1/models/{}", f.model), Some(json!({"multiplier": "1.5"})), 200).await;
    for _ in 0..3 {
        let resp = gw
            .chat(&f.key, json!({"model": f.model, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}))
            .await;
        assert_eq!(resp.status(), 200);
    }
    let calls = gw.calls_until(&f.key_id, |c| c.len() == 3 && c.iter().all(|c| c["status"] == "success")).await;
    assert!(calls.iter().all(|c| c["cost"] == "0.01125" && c["provider_cost"] == "0.0075"), "{calls:?}");
    let want = ("0.03375", "0.0225", "0.01125");
    for q in ["group_by=model", "group_by=provider&granularity=hour", "group_by=end_user"] {
        check(&gw, q, want).await;
    }

    // A member sees what they were charged, never the provider cost or the margin.
    let (status, mine) = gw.request_as(&f.key, "GET", "/api/v1/me/stats?from=2020-01-01T00:00:00Z", None).await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(mine["totals"]["cost"], "0.03375");
    let text = mine.to_string();
    assert!(!text.contains("provider_cost") && !text.contains("margin"), "{text}");

    // `tollgate stats rebuild` fills the provider cost from the records.
    gw.terminate().await;
    let out = gw.run_command(&["stats", "rebuild"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    gw.spawn().await;
    check(&gw, "group_by=model", want).await;
    gw.stop().await;
}

#[tokio::test]
async fn stats_report_provider_cost_and_margin_to_administrators_only() {
    for engine in engines() {
        run(engine).await;
    }
}
