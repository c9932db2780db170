//! What members see of their calls, and whose fault a broken credential is (issue 12,
//! findings 6 and 7): `GET /api/v1/me` shows a failed call's class and the gateway's own
//! sentence, never the provider's error text or internal ids; a credential not valid for its
//! kind is refused at creation (400 to the operator) and, if one is stored anyway, is a 502
//! `credential_misconfigured` that fails over to a good credential — never the client's 400.

use serde_json::{Value, json};

use crate::harness::*;

#[tokio::test]
async fn members_see_an_error_class_and_the_gateways_sentence_never_provider_text_or_ids() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    // The provider rejects the request; its error text ("mock error 400") stands for whatever a
    // provider may echo.
    let f = Fixture::new(&gw, &mock.scenario_url("status=400"), "1").await;
    let msgs = json!([{"role": "user", "content": "hi"}]);
    assert_eq!(gw.chat(&f.key, json!({"model": f.model, "messages": msgs})).await.status(), 400);
    gw.calls_until(&f.key_id, |c| c.len() == 1 && c[0]["status"] == "failed").await;
    let (status, me) = gw.request_as(&f.key, "GET", "/api/v1/me", None).await;
    assert_eq!(status, 200);
    let call = &me["recent_calls"][0];
    assert_eq!(call["error_class"], "upstream_bad_request", "{call}");
    assert_eq!(call["error_message"], "the provider rejected the request", "{call}");
    for field in ["provider_id", "credential_id", "upstream_model"] {
        assert!(call.get(field).is_none(), "{field} shown to a member: {call}");
    }
    let text = me.to_string();
    assert!(!text.contains("mock error"), "provider text reached the member: {text}");
    // The administrator still reads the recorded detail.
    let calls = gw.admin_ok("GET", &format!("/api/v1/calls?key_id={}", f.key_id), None, 200).await;
    assert!(calls["data"][0]["error_message"].as_str().unwrap().contains("mock error 400"));
    gw.stop().await;
}

const BEDROCK: &str = r#"{"access_key_id":"AKIDEXAMPLE","secret_access_key":"s3cret","region":"us-east-1"}"#;

async fn credentials(gw: &Gateway, provider_id: &str, body: Value) -> (u16, Value) {
    gw.admin("POST", &format!("/api/v1/providers/{provider_id}/credentials"), Some(body)).await
}

#[tokio::test]
async fn a_credential_not_valid_for_its_kind_is_the_operators_400_then_a_502_never_the_clients() {
    let mock = mock().await;
    for engine in engines() {
        let gw = Gateway::start(engine).await;
        let f = Fixture::new(&gw, &mock.base_url(), "1").await;
        let p = gw
            .admin_ok(
                "POST",
                "/api/v1/providers",
                Some(json!({"name": "br", "kind": "bedrock", "base_url": mock.root_url()})),
                201,
            )
            .await;
        let pid = p["id"].as_str().unwrap();
        for bad in [
            "not json",
            r#"{"access_key_id":"A"}"#,
            r#"{"access_key_id":"A","secret_access_key":"s","region":"us east"}"#,
        ] {
            let (status, v) = credentials(&gw, pid, json!({"api_key": bad})).await;
            assert_eq!((status, v["error"]["param"].as_str()), (400, Some("api_key")), "{v}");
            assert!(!v.to_string().contains("secret_access_key\":\"s"), "the secret is not echoed");
        }
        let pretty =
            "{\n  \"access_key_id\": \"AKID\",\n  \"secret_access_key\": \"s\",\n  \"region\": \"us-east-1\"\n}";
        let (status, v) = credentials(&gw, pid, json!({"api_key": pretty})).await;
        assert_eq!(status, 201, "a Bedrock credential is JSON; white space around its members is fine: {v}");
        gw.admin_ok("DELETE", &format!("/api/v1/credentials/{}", v["id"].as_str().unwrap()), None, 200).await;
        let providers = gw.admin_ok("GET", "/api/v1/providers", None, 200).await;
        let openai_id =
            providers["data"].as_array().unwrap().iter().find(|p| p["name"] == f.provider_name.as_str()).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string();
        let (status, _) = credentials(&gw, &openai_id, json!({"api_key": "sk-line\nbreak"})).await;
        assert_eq!(status, 400, "an OpenAI key goes in a header: printable ASCII");

        // A credential stored for another kind (the provider's kind changed under it) is broken
        // at call time: the operator's fault, a 502 in the client's dialect.
        gw.admin_ok(
            "PATCH",
            &format!("/api/v1/providers/{openai_id}"),
            Some(json!({"kind": "bedrock", "base_url": mock.root_url()})),
            200,
        )
        .await;
        let msgs = json!([{"role": "user", "content": "hi"}]);
        let resp = gw.chat(&f.key, json!({"model": f.model, "messages": msgs})).await;
        let v = crate::setup::expect_error(resp, 502, "upstream_error").await;
        assert_eq!(v["error"]["code"], "credential_misconfigured", "{v}");
        assert!(!v.to_string().contains(PROVIDER_KEY));
        let resp = gw.messages(&f.key, json!({"model": f.model, "max_tokens": 10, "messages": msgs})).await;
        assert_eq!(resp.status(), 502);
        let calls = gw.calls_until(&f.key_id, |c| c.len() == 2 && c.iter().all(|c| c["status"] == "failed")).await;
        assert!(calls.iter().all(|c| c["error_class"] == "credential_misconfigured"), "{calls:?}");

        // With a good credential beside it, calls fail over and succeed.
        credentials(&gw, &openai_id, json!({"api_key": BEDROCK, "name": "good"})).await;
        for _ in 0..4 {
            assert_eq!(gw.chat(&f.key, json!({"model": f.model, "messages": msgs})).await.status(), 200);
        }
        gw.stop().await;
    }
}
