//! The call's cost in the answer's usage (`usage.cost`): a streamed answer's final usage and a
//! whole answer's carry exactly the amount the settlement charged — the marked-up charge, as
//! the call's record and the ledger hold it — written as its exact decimal text.

use serde_json::{Value, json};

use crate::harness::*;

/// 1000 × 2.5/1M + 500 × 10/1M = 0.0075 credits at cost; × 1.1 is what is charged.
const USAGE: &str = "prompt_tokens=1000,completion_tokens=500";
const CHARGE: &str = "0.00825";

async fn post(gw: &Gateway, key: &str, path: &str, body: Value) -> String {
    let resp = gw
        .http
        .post(format!("{}{path}", gw.url))
        .bearer_auth(key)
        .header("anthropic-version", ANTHROPIC_VERSION)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    // A whole answer has the header too (a stream's headers go out before its cost is known).
    let header = resp.headers().get("x-tollgate-cost").map(|h| h.to_str().unwrap().to_string());
    let text = resp.text().await.unwrap();
    if let Some(header) = header {
        assert_eq!(header, CHARGE, "a whole answer's header: {text}");
    }
    text
}

/// The data of the one event whose usage carries a cost, checked to be the charge's exact text.
fn costed_event(stream: &str, usage_at: &str) -> Value {
    let costed: Vec<Value> = stream
        .split("\n\n")
        .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter(|v| v.pointer(usage_at).and_then(|u| u.get("cost")).is_some())
        .collect();
    assert_eq!(costed.len(), 1, "one event carries the cost: {stream}");
    assert!(stream.contains(&format!("\"cost\":{CHARGE}}}")), "the exact decimal text: {stream}");
    costed.into_iter().next().unwrap()
}

#[tokio::test]
async fn every_answer_carries_the_charge_the_ledger_holds() {
    let mock = mock().await;
    let gw = Gateway::start(engines().remove(0)).await;
    gw.admin_ok("PUT", "/api/v1/markup", Some(json!({"multiplier": "1.1"})), 200).await;
    let openai = Fixture::new(&gw, &mock.scenario_url(USAGE), "10").await;
    let anthropic = Fixture::of_kind(&gw, "anthropic", &mock.scenario_root(USAGE), "10").await;
    let msgs = json!([{"role": "user", "content": "hi"}]);

    // OpenAI chat, streamed with the usage chunk and whole; the usage chunk is the last before [DONE].
    let chat =
        json!({"model": openai.model, "messages": msgs, "stream": true, "stream_options": {"include_usage": true}});
    let stream = post(&gw, &openai.key, "/v1/chat/completions", chat).await;
    let last = costed_event(&stream, "/usage");
    assert_eq!(last["choices"], json!([]));
    assert!(stream.ends_with(&format!("\"cost\":{CHARGE}}}}}\n\ndata: [DONE]\n\n")), "{stream}");
    let whole = post(&gw, &openai.key, "/v1/chat/completions", json!({"model": openai.model, "messages": msgs})).await;
    assert!(whole.contains(&format!("\"cost\":{CHARGE}")), "{whole}");
    // A client that did not ask for usage gets none, so no cost either.
    let plain = json!({"model": openai.model, "messages": msgs, "stream": true});
    assert!(!post(&gw, &openai.key, "/v1/chat/completions", plain).await.contains("cost"));

    // The Responses API, passed through to the OpenAI provider: response.completed.
    let responses = json!({"model": openai.model, "input": "hi", "stream": true});
    let completed = costed_event(&post(&gw, &openai.key, "/v1/responses", responses).await, "/response/usage");
    assert_eq!(completed["type"], "response.completed");

    // Anthropic clients, passed through and converted: the final message_delta.
    for f in [&anthropic, &openai] {
        let body = json!({"model": f.model, "max_tokens": 100, "messages": msgs, "stream": true});
        let stream = post(&gw, &f.key, "/v1/messages", body).await;
        assert_eq!(costed_event(&stream, "/usage")["type"], "message_delta");
        let events = anthropic_events(&stream);
        assert_eq!(events[events.len() - 2].0, "message_delta", "held with message_stop, in order");
        let body = json!({"model": f.model, "max_tokens": 100, "messages": msgs});
        let whole: Value = serde_json::from_str(&post(&gw, &f.key, "/v1/messages", body).await).unwrap();
        assert!(whole["usage"]["cost"].is_number(), "{whole}");
    }

    // What the answers said is what was charged: every record and the ledger.
    let calls = gw.calls_until(&openai.key_id, |c| c.len() == 6 && c.iter().all(|c| c["status"] == "success")).await;
    assert!(calls.iter().all(|c| c["cost"] == CHARGE), "{calls:?}");
    assert_eq!(openai.balance(&gw).await, "9.9505", "10 − 6 × 0.00825");
    gw.calls_until(&anthropic.key_id, |c| c.len() == 2 && c.iter().all(|c| c["cost"] == CHARGE)).await;
    assert_eq!(anthropic.balance(&gw).await, "9.9835");
    gw.stop().await;
}
