//! Price shapes end to end: a call is priced by what the provider reports it used — the
//! prompt size against a long-context threshold (the whole call at the higher prices one
//! token past it), the service tier its answer names (else the one the request asked for),
//! Anthropic's one-hour cache writes — and its record keeps the prices it paid and which shape
//! they were.

use serde_json::{Value, json};

use crate::harness::*;

/// 2.5 / 10 per million tokens; 5 / 15 for prompts above 1000 tokens; flex 1.25 / 5,
/// priority 4.5 / 18.
fn shaped_pricing() -> Value {
    json!({"input": 2.5, "output": 10, "shapes": [
        {"above": 1000, "input": 5, "output": "15"},
        {"service_tier": "flex", "input": "1.25", "output": 5},
        {"service_tier": "priority", "input": 4.5, "output": 18},
    ]})
}

async fn answer_with(gw: &Gateway, f: &Fixture, base_url: &str) {
    let path = format!("/api/v1/providers/{}", f.provider_name);
    gw.admin_ok("PATCH", &path, Some(json!({"base_url": base_url})), 200).await;
}

async fn charged(gw: &Gateway, f: &Fixture, extra: Value) -> String {
    let mut body = json!({"model": f.model, "messages": [{"role": "user", "content": "hi"}]});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let resp = gw.chat(&f.key, body).await;
    assert_eq!(resp.status(), 200);
    resp.headers()["x-tollgate-cost"].to_str().unwrap().to_string()
}

#[tokio::test]
async fn openai_calls_are_priced_by_their_prompt_size_and_the_tier_the_provider_reports() {
    let mock = mock().await;
    for engine in engines() {
        let gw = Gateway::start(engine).await;
        let usage = |more: &str| mock.scenario_url(&format!("completion_tokens=100,{more}"));
        let f = Fixture::new(&gw, &usage("prompt_tokens=1000"), "10").await;
        let m = gw
            .admin_ok("PATCH", &format!("/api/v1/models/{}", f.model), Some(json!({"pricing": shaped_pricing()})), 200)
            .await;
        assert_eq!(m["pricing"]["shapes"][0], json!({"above": 1000, "input": "5", "output": "15"}));

        // 1000 prompt tokens, at the threshold: the base prices. 1000 × 2.5 + 100 × 10.
        assert_eq!(charged(&gw, &f, json!({})).await, "0.0035");
        // One token past it: the whole call at the long-context prices. 1001 × 5 + 100 × 15.
        answer_with(&gw, &f, &usage("prompt_tokens=1001")).await;
        assert_eq!(charged(&gw, &f, json!({})).await, "0.006505");
        // The answer says flex: 1000 × 1.25 + 100 × 5.
        answer_with(&gw, &f, &usage("prompt_tokens=1000,service_tier=flex")).await;
        assert_eq!(charged(&gw, &f, json!({})).await, "0.00175");
        // The same, streamed: the tier comes from the chunks.
        let body = json!({"model": f.model, "messages": [{"role": "user", "content": "hi"}], "stream": true,
            "stream_options": {"include_usage": true}});
        let resp = gw.chat(&f.key, body).await;
        assert_eq!(resp.status(), 200);
        let text = resp.text().await.unwrap();
        let usage_chunk = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l.strip_prefix("data: ")?).ok())
            .find(|c| c["usage"].is_object())
            .unwrap_or_else(|| panic!("no usage chunk: {text}"));
        assert_eq!(usage_chunk["usage"]["cost"].to_string(), "0.00175", "{usage_chunk}");
        // An answer that names no tier is priced at the one the request asked for.
        answer_with(&gw, &f, &usage("prompt_tokens=1000")).await;
        assert_eq!(charged(&gw, &f, json!({"service_tier": "priority"})).await, "0.0063");
        // An answer that names one wins over the request: asked flex, ran as default.
        answer_with(&gw, &f, &usage("prompt_tokens=1000,service_tier=default")).await;
        assert_eq!(charged(&gw, &f, json!({"service_tier": "flex"})).await, "0.0035");

        // Each record keeps the prices it paid and which shape they were.
        let calls = gw.calls_until(&f.key_id, |c| c.len() == 6 && c.iter().all(|c| c["status"] == "success")).await;
        let costs: Vec<&str> = calls.iter().rev().map(|c| c["cost"].as_str().unwrap()).collect();
        assert_eq!(costs, ["0.0035", "0.006505", "0.00175", "0.00175", "0.0063", "0.0035"]);
        let applied: Vec<&Value> = calls.iter().rev().map(|c| &c["price"]["applied"]).collect();
        assert_eq!(
            applied,
            [
                &Value::Null,
                &json!({"above": 1000}),
                &json!({"service_tier": "flex"}),
                &json!({"service_tier": "flex"}),
                &json!({"service_tier": "priority"}),
                &Value::Null
            ]
        );
        let long = &calls[4];
        assert_eq!((long["price"]["input"].as_str(), long["price"]["output"].as_str()), (Some("5"), Some("15")));
        assert!(long["price"].get("shapes").is_none(), "the snapshot is the prices paid: {long}");
        // The call detail shows the same snapshot.
        let id = long["id"].as_str().unwrap();
        let detail = gw.admin_ok("GET", &format!("/api/v1/calls/{id}"), None, 200).await;
        assert_eq!(detail["price"]["applied"], json!({"above": 1000}));
        assert_eq!(detail["provider_cost"], "0.006505");
        gw.stop().await;
    }
}

#[tokio::test]
async fn anthropic_one_hour_cache_writes_pay_their_own_price_streamed_or_not() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    // 1000 prompt tokens: 500 uncached, 500 written to the cache, 200 of them for an hour.
    let usage = "prompt_tokens=1000,completion_tokens=100,cache_write_tokens=500,cache_write_1h_tokens=200";
    let f = Fixture::of_kind(&gw, "anthropic", &mock.scenario_root(usage), "10").await;
    let pricing = json!({"input": 3, "output": 15, "cache_write": "3.75", "cache_write_1h": 6});
    gw.admin_ok("PATCH", &format!("/api/v1/models/{}", f.model), Some(json!({"pricing": pricing})), 200).await;
    let body = json!({"model": f.model, "max_tokens": 256, "messages": [{"role": "user", "content": "hi"}]});
    // 500 × 3 + 300 × 3.75 + 200 × 6 + 100 × 15 = 5325 per million.
    let resp = gw.messages(&f.key, body.clone()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-tollgate-cost"], "0.005325");
    let m: Value = resp.json().await.unwrap();
    assert_eq!(m["usage"]["cache_creation"]["ephemeral_1h_input_tokens"], 200, "relayed as sent");
    let mut streamed = body;
    streamed["stream"] = true.into();
    let resp = gw.messages(&f.key, streamed).await;
    assert_eq!(resp.status(), 200);
    let events = anthropic_events(&resp.text().await.unwrap());
    let delta = events.iter().find(|(n, _)| n == "message_delta").map(|(_, d)| d.clone()).unwrap();
    assert_eq!(delta["usage"]["cost"].to_string(), "0.005325", "{delta}");
    let calls = gw.calls_until(&f.key_id, |c| c.len() == 2 && c.iter().all(|c| c["status"] == "success")).await;
    for c in &calls {
        assert_eq!(c["cost"], "0.005325");
        assert_eq!(c["cache_write_tokens"], 500);
        assert_eq!(c["price"]["applied"], json!({"cache_write_1h_tokens": 200}));
        assert_eq!(c["price"]["cache_write_1h"], "6");
    }
    assert_eq!(f.balance(&gw).await, "9.98935");
    gw.stop().await;
}
