//! The models members may read: `GET /api/v1/models/public` lists exactly the models a key may
//! use with their effective prices in the credit unit (nothing for a bad key, everything on a
//! public page), and `/v1/models` entries carry OpenRouter's context length, modalities and
//! per-token prices.

use serde_json::{Value, json};

use crate::console_session::{PASSWORD, sign_in};
use crate::harness::*;

fn by_id<'a>(list: &'a Value, id: &str) -> Option<&'a Value> {
    list["data"].as_array().unwrap().iter().find(|m| m["id"] == id)
}

#[tokio::test]
async fn members_see_the_models_they_may_use_at_their_effective_prices() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    let f = Fixture::new(&gw, &mock.base_url(), "10").await;
    // The fixture's model at 2.5 / 10 per million, marked up ×2; a catalog-priced one.
    gw.admin_ok("PATCH", &format!("/api/v1/models/{}", f.model), Some(json!({"multiplier": 2})), 200).await;
    let mini = format!("{}-mini", f.model);
    gw.admin_ok(
        "POST",
        "/api/v1/models",
        Some(json!({"name": mini, "targets": [{"provider": f.provider_name, "model": "gpt-4o-mini"}]})),
        201,
    )
    .await;
    let (status, list) = gw.request_as(&f.key, "GET", "/api/v1/models/public", None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["credit_unit"]["name"], "credits");
    let m = by_id(&list, &f.model).unwrap();
    assert_eq!((m["pricing"]["input"].as_str(), m["pricing"]["output"].as_str()), (Some("5"), Some("20")), "{m}");
    assert_eq!(m["free"], false);
    let c = by_id(&list, &mini).unwrap();
    assert_eq!((c["pricing"]["input"].as_str(), c["pricing"]["cached_input"].as_str()), (Some("0.15"), Some("0.075")));
    assert_eq!(c["context_length"], 128_000, "{c}");
    assert_eq!(c["modalities"], json!({"input": ["text", "image"], "output": ["text"]}));
    // A key limited to one model sees that one only.
    let k = gw.admin_ok("POST", "/api/v1/keys", Some(json!({"user_id": f.user_id, "models": [f.model]})), 201).await;
    let (_, only) = gw.request_as(k["key"].as_str().unwrap(), "GET", "/api/v1/models/public", None).await;
    let ids: Vec<&str> = only["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [f.model.as_str()]);
    // A bad key, or none, sees nothing.
    let (status, v) = gw.request_as("tg-not-a-key", "GET", "/api/v1/models/public", None).await;
    assert_eq!((status, v["error"]["code"].as_str()), (401, Some("invalid_api_key")));
    let anonymous = gw.http.get(format!("{}/api/v1/models/public", gw.url)).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);

    // `/v1/models`: OpenAI's fields and OpenRouter's.
    let (_, models) = gw.request_as(&f.key, "GET", "/v1/models", None).await;
    let e = by_id(&models, &mini).unwrap();
    assert_eq!((e["object"].as_str(), e["owned_by"].as_str()), (Some("model"), Some("tollgate")));
    assert_eq!(e["pricing"]["prompt"], "0.00000015");
    assert_eq!(e["pricing"]["completion"], "0.0000006");
    assert_eq!(e["context_length"], 128_000);
    assert_eq!(e["architecture"]["modality"], "text+image->text");
    let e = by_id(&models, &f.model).unwrap();
    assert_eq!(e["pricing"]["prompt"], "0.000005", "the markup is in the price: {e}");
    gw.stop().await;
}

#[tokio::test]
async fn a_public_models_page_answers_without_a_key_but_not_for_a_bad_one() {
    let mock = mock().await;
    let toml = "[public]\nmodels_page = true\n".to_string();
    let gw = Gateway::start_with(GatewayOptions { config_toml: Some(toml), ..GatewayOptions::default() }).await;
    let f = Fixture::new(&gw, &mock.base_url(), "10").await;
    let resp = gw.http.get(format!("{}/api/v1/models/public", gw.url)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let list: Value = resp.json().await.unwrap();
    assert_eq!(by_id(&list, &f.model).unwrap()["pricing"]["input"], "2.5");
    assert_eq!(gw.request_as("tg-not-a-key", "GET", "/api/v1/models/public", None).await.0, 401);
    gw.stop().await;
}

#[tokio::test]
async fn a_model_whose_targets_differ_in_price_shows_the_range() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    let f = Fixture::new(&gw, &mock.base_url(), "10").await;
    // A second target at other prices, the whole model marked up ×2.
    let spread = format!("{}-spread", f.model);
    gw.admin_ok(
        "POST",
        "/api/v1/models",
        Some(json!({"name": spread, "multiplier": 2, "targets": [
            {"provider": f.provider_name, "model": "mock-gpt", "pricing": {"input": "1", "output": "8"}},
            {"provider": f.provider_name, "model": "mock-gpt-2", "pricing": {"input": "3", "output": "4", "cached_input": "0.5"}},
        ]})),
        201,
    )
    .await;
    let (_, list) = gw.request_as(&f.key, "GET", "/api/v1/models/public", None).await;
    let m = by_id(&list, &spread).unwrap();
    assert_eq!(m["pricing"]["input"], "2", "the first target's price, marked up: {m}");
    let range = &m["pricing_range"];
    assert_eq!((range["min"]["input"].as_str(), range["max"]["input"].as_str()), (Some("2"), Some("6")), "{m}");
    assert_eq!((range["min"]["output"].as_str(), range["max"]["output"].as_str()), (Some("8"), Some("16")), "{m}");
    assert_eq!(range["max"]["cached_input"], "1", "{m}");
    // One price everywhere: no range.
    assert!(by_id(&list, &f.model).unwrap()["pricing_range"].is_null(), "{list}");
    // The console's models page shows the range, and each model's status.
    let body = json!({"name": "maria", "password": PASSWORD, "role": "member"});
    gw.admin_ok("POST", "/api/v1/users", Some(body), 201).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let session = sign_in(&gw, &http, "maria").await;
    let page = http.get(format!("{}/me/models", gw.url)).header("cookie", &session.cookie).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("2 – 6") && html.contains("8 – 16"), "{html}");
    assert!(html.contains(">unknown</span>"), "no call and no probe yet: {html}");
    gw.stop().await;
}
