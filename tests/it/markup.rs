//! Markups end to end: the global default, a provider's and a model's multiplier and fee,
//! each charged exactly, the record keeping base price, markup, effective price and provider
//! cost; refused input in the API's error shape.

use serde_json::{Value, json};

use crate::harness::*;

async fn charged(gw: &Gateway, f: &Fixture) -> String {
    let msgs = json!([{"role": "user", "content": "hi"}]);
    let resp = gw.chat(&f.key, json!({"model": f.model, "messages": msgs})).await;
    assert_eq!(resp.status(), 200);
    resp.headers()["x-tollgate-cost"].to_str().unwrap().to_string()
}

#[tokio::test]
async fn each_markup_level_is_charged_exactly_and_recorded_with_the_provider_cost() {
    let mock = mock().await;
    for engine in engines() {
        let gw = Gateway::start(engine).await;
        // 1000 × 2.5/1M + 500 × 10/1M = 0.0075 credits at cost.
        let f = Fixture::new(&gw, &mock.scenario_url("prompt_tokens=1000,completion_tokens=500"), "10").await;
        assert_eq!(charged(&gw, &f).await, "0.0075");
        assert_eq!(gw.admin_ok("GET", "/api/v1/markup", None, 200).await["multiplier"], Value::Null);

        // Global ×1.1.
        let g = gw.admin_ok("PUT", "/api/v1/markup", Some(json!({"multiplier": 1.1})), 200).await;
        assert_eq!((g["multiplier"].as_str(), g["request_fee"].as_str()), (Some("1.1"), None));
        assert_eq!(charged(&gw, &f).await, "0.00825");

        // The provider's ×1.5 and 0.001 per request beat the global rule.
        let p = gw
            .admin_ok(
                "PATCH",
                &format!("/api/v1/providers/{}", f.provider_name),
                Some(json!({"multiplier": "1.5", "request_fee": "0.001"})),
                200,
            )
            .await;
        assert_eq!((p["multiplier"].as_str(), p["request_fee"].as_str()), (Some("1.5"), Some("0.001")));
        assert_eq!(charged(&gw, &f).await, "0.01225");

        // The model's ×2 beats the provider's multiplier; the provider's fee still applies.
        let m = gw.admin_ok("PATCH", &format!("/api/v1/models/{}", f.model), Some(json!({"multiplier": 2})), 200).await;
        assert_eq!(m["multiplier"], "2");
        assert_eq!(charged(&gw, &f).await, "0.016");

        // The record keeps the base price, the markup, the effective price and the provider cost.
        let calls = gw.calls_until(&f.key_id, |c| c.len() == 4 && c.iter().all(|c| c["status"] == "success")).await;
        let last = &calls[0];
        assert_eq!(last["cost"], "0.016", "{last}");
        assert_eq!(last["provider_cost"], "0.0075");
        assert_eq!(last["price"]["input"], "2.5");
        assert_eq!(last["markup"], json!({"multiplier": "2", "request_fee": "0.001"}));
        assert_eq!(
            (
                &last["effective_price"]["input"],
                &last["effective_price"]["output"],
                &last["effective_price"]["per_request"]
            ),
            (&json!("5"), &json!("20"), &json!("0.001"))
        );
        let costs: Vec<&str> = calls.iter().map(|c| c["cost"].as_str().unwrap()).collect();
        assert_eq!(costs, ["0.016", "0.01225", "0.00825", "0.0075"]);
        assert!(calls.iter().all(|c| c["provider_cost"] == "0.0075"));
        // 10 − (0.0075 + 0.00825 + 0.01225 + 0.016)
        assert_eq!(f.balance(&gw).await, "9.956");

        // A member sees what they paid and the effective price, not the cost or the markup.
        let me = gw.request_as(&f.key, "GET", "/api/v1/me", None).await.1;
        let mine = &me["recent_calls"][0];
        assert_eq!(mine["cost"], "0.016");
        assert_eq!(mine["effective_price"]["input"], "5");
        for hidden in ["price", "provider_cost", "markup", "provider_id", "upstream_model"] {
            assert!(mine.get(hidden).is_none(), "{hidden} shown to a member: {mine}");
        }

        // Clearing the model's and the provider's rules falls back to the global one.
        gw.admin_ok("PATCH", &format!("/api/v1/models/{}", f.model), Some(json!({"multiplier": null})), 200).await;
        gw.admin_ok(
            "PATCH",
            &format!("/api/v1/providers/{}", f.provider_name),
            Some(json!({"multiplier": null, "request_fee": null})),
            200,
        )
        .await;
        assert_eq!(charged(&gw, &f).await, "0.00825");

        // Below ×1, more than six decimals, a negative fee: refused, naming the field.
        for (path, body, param) in [
            ("/api/v1/markup".to_string(), json!({"multiplier": 0.9}), None),
            (format!("/api/v1/models/{}", f.model), json!({"multiplier": "1.0000001"}), None),
            (format!("/api/v1/providers/{}", f.provider_name), json!({"request_fee": "-1"}), Some("request_fee")),
        ] {
            let method = if path.ends_with("markup") { "PUT" } else { "PATCH" };
            let (status, v) = gw.admin(method, &path, Some(body)).await;
            assert_eq!(status, 400, "{v}");
            assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
            if let Some(param) = param {
                assert_eq!(v["error"]["param"], param, "{v}");
            }
        }
        assert_eq!(charged(&gw, &f).await, "0.00825", "a refused write changed nothing");
        gw.stop().await;
    }
}
