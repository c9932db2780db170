//! Exact cost, charged once to the ledger; 402 when the balance is used up.

use serde_json::{Value, json};

use mock_provider::MockServer;

use crate::harness::*;

#[tokio::test]
async fn each_call_is_charged_exactly_and_the_balance_is_the_ledger() {
    let mock = mock().await;
    for engine in engines() {
        let gw = Gateway::start(engine).await;
        let f = Fixture::new(&gw, &mock.scenario_url("prompt_tokens=1000,completion_tokens=500"), "10").await;
        let msgs = json!([{"role": "user", "content": "hi"}]);
        let resp = gw.chat(&f.key, json!({"model": f.model, "messages": msgs})).await;
        assert_eq!(resp.status(), 200);
        // 1000 × 2.5/1M + 500 × 10/1M = 0.0025 + 0.005
        assert_eq!(resp.headers()["x-tollgate-cost"], "0.0075");
        let streamed = gw.chat(&f.key, json!({"model": f.model, "stream": true, "messages": msgs})).await;
        assert!(streamed.text().await.unwrap().ends_with("data: [DONE]\n\n"));

        let calls = gw.calls_until(&f.key_id, |c| c.len() == 2 && c.iter().all(|c| c["status"] == "success")).await;
        for c in &calls {
            assert_eq!(c["cost"], "0.0075");
            assert_eq!(c["input_tokens"], 1000);
            assert_eq!(c["output_tokens"], 500);
            assert_eq!(c["price"]["input"], "2.5");
            assert_eq!(c["model"], f.model.as_str());
            assert_eq!(c["upstream_model"], "mock-gpt");
            assert_eq!(c["attempts"], 1);
        }
        assert_eq!(f.balance(&gw).await, "9.985");
        // The ledger agrees once the writer has committed: grant + two charges.
        let mut entries = Vec::new();
        for _ in 0..100 {
            let v = gw.admin_ok("GET", &format!("/api/v1/users/{}/ledger", f.user_id), None, 200).await;
            entries = v["data"].as_array().unwrap().clone();
            if entries.len() == 3 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let kinds: Vec<&str> = entries.iter().map(|e| e["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, vec!["charge", "charge", "grant"]);
        assert_eq!(entries[0]["balance_after"], "9.985");
        let me = gw.request_as(&f.key, "GET", "/api/v1/me", None).await.1;
        assert_eq!(me["user"]["balance"], "9.985");
        assert_eq!(me["key"]["id"], f.key_id.as_str());
        gw.stop().await;
    }
}

#[tokio::test]
async fn a_used_up_balance_is_refused_with_402_before_the_provider_is_called() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    let f = Fixture::new(&gw, &mock.scenario_url("prompt_tokens=1000000,completion_tokens=0"), "1").await;
    let msgs = json!([{"role": "user", "content": "hi"}]);
    // One call costs 2.5 credits (the provider reports a million prompt tokens for "hi"): it
    // is admitted (the balance covers its estimate) and takes the balance to zero, never
    // below; the 1.5 it could not cover is written off, as the charge's note says.
    assert_eq!(gw.chat(&f.key, json!({"model": f.model, "messages": msgs})).await.status(), 200);
    assert_eq!(f.balance(&gw).await, "0");
    let calls = gw.calls_until(&f.key_id, |c| c.len() == 1 && c[0]["status"] == "success").await;
    assert_eq!(calls[0]["cost"], "2.5", "the record keeps the exact cost");
    let before = mock.stats().total;
    let resp = gw.chat(&f.key, json!({"model": f.model, "messages": msgs})).await;
    assert_eq!(resp.status(), 402);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "insufficient_credits");
    assert!(v["error"]["message"].as_str().unwrap().contains("credit"));
    assert_eq!(mock.stats().total, before, "the provider was not called");

    // A grant with an idempotency key counts once, and calls go through again.
    let grant = json!({"amount": "2", "idempotency_key": "topup-1", "kind": "topup"});
    let path = format!("/api/v1/users/{}/credits", f.user_id);
    let first = gw.admin_ok("POST", &path, Some(grant.clone()), 201).await;
    let again = gw.admin_ok("POST", &path, Some(grant), 200).await;
    assert_eq!(first["id"], again["id"]);
    assert_eq!(f.balance(&gw).await, "2");
    assert_eq!(gw.chat(&f.key, json!({"model": f.model, "messages": msgs})).await.status(), 200);
    gw.stop().await;
}

#[tokio::test]
async fn unlimited_plans_and_free_models_are_recorded_but_not_deducted() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    let f = Fixture::new(&gw, &mock.scenario_url("prompt_tokens=1000,completion_tokens=0"), "0").await;
    gw.admin_ok("PATCH", &format!("/api/v1/users/{}", f.user_id), Some(json!({"plan": "unlimited"})), 200).await;
    let msgs = json!([{"role": "user", "content": "hi"}]);
    let resp = gw.chat(&f.key, json!({"model": f.model, "messages": msgs})).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-tollgate-cost"], "0.0025");
    let calls = gw.calls_until(&f.key_id, |c| c.len() == 1 && c[0]["status"] == "success").await;
    assert_eq!(calls[0]["cost"], "0.0025");
    assert_eq!(f.balance(&gw).await, "0");
    gw.stop().await;
}

#[tokio::test]
async fn catalog_prices_known_models_configured_prices_override_and_unknown_ones_fail_closed() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    let f = Fixture::new(&gw, &mock.scenario_url("prompt_tokens=1000,completion_tokens=500"), "10").await;
    let msgs = json!([{"role": "user", "content": "hi"}]);
    let direct = format!("{}/gpt-4o-mini", f.provider_name);
    // Nobody priced gpt-4o-mini here: the built-in catalog does (0.15 in, 0.60 out per
    // million tokens): 1000 × 0.15/1M + 500 × 0.6/1M = 0.00015 + 0.0003.
    let resp = gw.chat(&f.key, json!({"model": direct, "messages": msgs})).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-tollgate-cost"], "0.00045");
    let calls = gw.calls_until(&f.key_id, |c| c.len() == 1 && c[0]["status"] == "success").await;
    assert_eq!(calls[0]["cost"], "0.00045");
    assert_eq!(calls[0]["price"]["input"], "0.15");
    assert_eq!(calls[0]["price"]["output"], "0.6");
    assert_eq!(calls[0]["price"]["cached_input"], "0.075");
    assert_eq!(f.balance(&gw).await, "9.99955");

    // A configured model on the same provider and upstream model overrides the catalog.
    let body = json!({"name": "mini-priced", "targets": [{"provider": f.provider_name, "model": "gpt-4o-mini"}],
        "pricing": {"input": 1, "output": 1}});
    gw.admin_ok("POST", "/api/v1/models", Some(body), 201).await;
    let resp = gw.chat(&f.key, json!({"model": direct, "messages": msgs})).await;
    assert_eq!(resp.headers()["x-tollgate-cost"], "0.0015");

    // A model in neither place is refused before any provider is called, naming it.
    let before = mock.stats().total;
    let unknown = format!("{}/gpt-nobody-priced", f.provider_name);
    let resp = gw.chat(&f.key, json!({"model": unknown, "messages": msgs})).await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "model_not_priced");
    assert!(v["error"]["message"].as_str().unwrap().contains(&unknown), "{v}");
    assert_eq!(mock.stats().total, before);

    // The catalog is listed for operators.
    let cat = gw.admin_ok("GET", "/api/v1/catalog?provider=openai", None, 200).await;
    let mini = cat["data"].as_array().unwrap().iter().find(|m| m["model"] == "gpt-4o-mini").unwrap().clone();
    assert_eq!(mini["pricing"]["input"], "0.15");
    assert_eq!(mini["max_output_tokens"], 16384);
    assert!(cat["data"].as_array().unwrap().iter().all(|m| m["provider"] == "openai"));
    assert!(cat["source"].as_str().unwrap().contains("LiteLLM"));
    let all = gw.admin_ok("GET", "/api/v1/catalog", None, 200).await;
    assert!(all["data"].as_array().unwrap().iter().any(|m| m["provider"] == "anthropic"));
    gw.stop().await;
}

#[tokio::test]
async fn refresh_prices_converts_litellm_data_into_a_catalog_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("prices.json");
    let excerpt = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/litellm/model_prices_excerpt.json");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["refresh-prices", "--from", excerpt, "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(said.contains("wrote 46 models"), "{said}");
    assert!(!said.contains("left out"), "every entry of the excerpt is priced: {said}");
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    // `1024-x-1024/dall-e-2` (1.9e-08 per pixel) is DALL·E 2's price for that size.
    let dalle = written["models"].as_array().unwrap().iter().find(|m| m["model"] == "dall-e-2").unwrap();
    assert_eq!(dalle["image_prices"], json!([{"size": "1024x1024", "price": 19_922_944}]), "{dalle}");
    let mini = written["models"].as_array().unwrap().iter().find(|m| m["model"] == "gpt-4o-mini").unwrap();
    assert_eq!((mini["input"].as_i64(), mini["output"].as_i64()), (Some(150_000_000), Some(600_000_000)));
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["refresh-prices", "--from", "/nonexistent/prices.json", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read /nonexistent/prices.json"));
}

/// LiteLLM-format price data pricing one model of the openai kind.
fn litellm_file(dir: &std::path::Path, model: &str, input: &str, output: &str) -> String {
    let path = dir.join(format!("litellm-{model}-{input}.json"));
    let text = format!(
        r#"{{"{model}": {{"litellm_provider": "openai", "mode": "chat",
            "input_cost_per_token": {input}, "output_cost_per_token": {output}}}}}"#
    );
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn refresh_prices_updates_a_running_gateways_catalog_without_a_restart() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    let f = Fixture::new(&gw, &mock.scenario_url("prompt_tokens=1000,completion_tokens=500"), "10").await;
    let msgs = json!([{"role": "user", "content": "hi"}]);
    let direct = format!("{}/tollgate-test-model", f.provider_name);
    let resp = gw.chat(&f.key, json!({"model": direct, "messages": msgs})).await;
    assert_eq!(resp.status(), 400, "not in the compiled-in catalog");

    // The command writes the data directory's catalog; the running gateway picks it up.
    let scratch = tempfile::tempdir().unwrap();
    let from = litellm_file(scratch.path(), "tollgate-test-model", "1e-06", "2e-06");
    let output = gw.run_command(&["refresh-prices", "--from", &from]).await;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("wrote 1 models"));
    assert!(gw.data_dir().join("prices.json").exists());
    let cost =
        |resp: &reqwest::Response| resp.headers().get("x-tollgate-cost").map(|v| v.to_str().unwrap().to_string());
    let mut priced = None;
    for _ in 0..50 {
        let resp = gw.chat(&f.key, json!({"model": direct, "messages": msgs})).await;
        if resp.status() == 200 {
            priced = cost(&resp);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // 1000 × 1/1M + 500 × 2/1M
    assert_eq!(priced.as_deref(), Some("0.002"), "the new catalog was not picked up; log:\n{}", gw.log());
    let cat = gw.admin_ok("GET", "/api/v1/catalog", None, 200).await;
    assert!(cat["source"].as_str().unwrap().contains(&from), "{}", cat["source"]);
    assert_eq!(cat["models_by_provider"]["openai"], 1);

    // A second refresh with a new price replaces it.
    let from = litellm_file(scratch.path(), "tollgate-test-model", "3e-06", "2e-06");
    assert!(gw.run_command(&["refresh-prices", "--from", &from]).await.status.success());
    let mut repriced = None;
    for _ in 0..50 {
        let resp = gw.chat(&f.key, json!({"model": direct, "messages": msgs})).await;
        repriced = cost(&resp);
        if repriced.as_deref() == Some("0.004") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(repriced.as_deref(), Some("0.004"));

    // A file broken by hand is reported and the prices in effect are kept.
    std::fs::write(gw.data_dir().join("prices.json"), "{ truncated").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let resp = gw.chat(&f.key, json!({"model": direct, "messages": msgs})).await;
    assert_eq!(cost(&resp).as_deref(), Some("0.004"));
    assert!(gw.log().contains("price catalog not reloaded"), "{}", gw.log());
    // Removing the file goes back to the compiled-in catalog.
    std::fs::remove_file(gw.data_dir().join("prices.json")).unwrap();
    let mut refused = false;
    for _ in 0..50 {
        if gw.chat(&f.key, json!({"model": direct, "messages": msgs})).await.status() == 400 {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(refused);
    gw.stop().await;
}

/// A model on its own mock provider answering with `scenario`, priced like the fixture's.
async fn model_on_scenario(gw: &Gateway, mock: &MockServer, name: &str, scenario: &str) {
    let body = json!({"name": name, "kind": "openai", "base_url": mock.scenario_url(scenario)});
    let p = gw.admin_ok("POST", "/api/v1/providers", Some(body), 201).await;
    let path = format!("/api/v1/providers/{}/credentials", p["id"].as_str().unwrap());
    gw.admin_ok("POST", &path, Some(json!({"api_key": PROVIDER_KEY})), 201).await;
    let body = json!({"name": name, "targets": [{"provider": name, "model": "mock-gpt"}],
        "pricing": {"input": 2.5, "output": 10}});
    gw.admin_ok("POST", "/api/v1/models", Some(body), 201).await;
}

/// xorshift64: the cut points are random but replayable from the printed seed.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[tokio::test]
async fn streams_cut_before_usage_are_charged_a_flagged_estimate_of_what_was_produced() {
    let mock = mock().await;
    let seed: u64 = std::env::var("TOLLGATE_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_cafe);
    let mut rng = seed;
    let msgs = json!([{"role": "user", "content": "hi"}]);
    for engine in engines() {
        let gw = Gateway::start(engine).await;
        let f = Fixture::new(&gw, &mock.base_url(), "10").await;
        // The provider sends 16 content chunks and usage last; the connection is cut after k.
        let cuts: Vec<u64> = (0..6).map(|_| 1 + next_random(&mut rng) % 15).collect();
        println!("{engine:?}: seed {seed}, cut after {cuts:?} chunks");
        let mut expected_total = 0;
        for (i, k) in cuts.iter().enumerate() {
            let model = format!("{}-cut{i}", f.model);
            model_on_scenario(&gw, &mock, &model, &format!("chunks=16,cut_after={k}")).await;
            let resp = gw.chat(&f.key, json!({"model": model, "messages": msgs, "stream": true})).await;
            assert_eq!(resp.status(), 200);
            let body = resp.text().await.unwrap();
            let events = sse_data(&body);
            let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
            assert!(last["error"].is_object(), "the cut is reported in-band: {body}");
            // What the client received is what the provider produced.
            let text_bytes: usize = events
                .iter()
                .filter_map(|e| serde_json::from_str::<Value>(e).ok())
                .filter_map(|v| v["choices"][0]["delta"]["content"].as_str().map(str::len))
                .sum();
            assert!(text_bytes > 0);
            let output_tokens = text_bytes.div_ceil(4) as i64;
            // "user" + "hi": 6 bytes → 2 tokens, plus 4 of message framing.
            let cost = 6 * 2_500 + output_tokens * 10_000;
            expected_total += cost;
            let calls = gw.calls_until(&f.key_id, |c| c.len() == i + 1 && c[0]["status"] != "processing").await;
            let c = &calls[0];
            assert_eq!(c["model"], model.as_str());
            assert_eq!(c["status"], "failed");
            assert!(["upstream_io_error", "upstream_truncated"].contains(&c["error_class"].as_str().unwrap()), "{c}");
            assert_eq!(c["usage_estimated"], true);
            assert_eq!(c["input_tokens"], 6);
            assert_eq!(c["output_tokens"], output_tokens, "cut after {k}: {c}");
            assert_eq!(c["cost"], tollgate::billing::money::format_credits(cost).as_str());
        }
        // One record each, each charged once; no reservation left.
        let calls = gw.calls_until(&f.key_id, |c| c.len() == cuts.len()).await;
        assert!(calls.iter().all(|c| c["usage_estimated"] == true));
        let balance = tollgate::billing::money::parse_credits(&f.balance(&gw).await).unwrap();
        assert_eq!(balance, 10_000_000_000 - expected_total);
        let me = gw.request_as(&f.key, "GET", "/api/v1/me", None).await.1;
        assert_eq!(me["user"]["open_reservations"], 0);

        // The same for an Anthropic client of an OpenAI provider: the translated stream's
        // text is counted.
        let model = format!("{}-cut-anthropic", f.model);
        model_on_scenario(&gw, &mock, &model, "chunks=16,cut_after=5").await;
        let body = json!({"model": model, "max_tokens": 100, "stream": true, "messages": msgs});
        let text = gw.messages(&f.key, body).await.text().await.unwrap();
        let text_bytes: usize = text
            .split("\n\n")
            .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .filter(|v| v["type"] == "content_block_delta")
            .filter_map(|v| v["delta"]["text"].as_str().map(str::len))
            .sum();
        assert!(text_bytes > 0 && text.contains("event: error"), "{text}");
        let calls = gw.calls_until(&f.key_id, |c| c.len() == cuts.len() + 1 && c[0]["status"] != "processing").await;
        let c = &calls[0];
        assert_eq!((c["dialect"].as_str(), c["usage_estimated"].as_bool()), (Some("anthropic"), Some(true)), "{c}");
        assert_eq!(c["output_tokens"], text_bytes.div_ceil(4) as i64, "{c}");
        assert!(c["input_tokens"].as_i64().unwrap() > 0);
        // A stream that completes is charged the provider's usage, not flagged.
        let ok = gw.chat(&f.key, json!({"model": f.model, "messages": msgs, "stream": true})).await;
        assert!(ok.text().await.unwrap().ends_with("data: [DONE]\n\n"));
        let calls = gw.calls_until(&f.key_id, |c| c.len() == cuts.len() + 2 && c[0]["status"] == "success").await;
        assert_eq!(calls[0]["usage_estimated"], false);
        gw.stop().await;
    }
}
