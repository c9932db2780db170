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

/// Credits per million tokens (or per unit) as shown → nano-credits.
fn nanos(v: &Value) -> i128 {
    tollgate::billing::money::parse_credits(v.as_str().unwrap_or_else(|| panic!("not an amount: {v}"))).unwrap() as i128
}

/// `tokens` at a shown per-million price plus more, rounded up once, as a decimal.
fn charge(parts: &[(i128, &Value)]) -> String {
    let micros: i128 = parts.iter().map(|(n, p)| n * nanos(p)).sum();
    tollgate::billing::money::format_credits(((micros + 999_999) / 1_000_000) as i64)
}

#[tokio::test]
async fn members_see_the_price_shapes_and_a_call_is_charged_what_they_show() {
    let mock = mock().await;
    for engine in engines() {
        let gw = Gateway::start(engine).await;
        let f = Fixture::new(&gw, &mock.scenario_url("prompt_tokens=1001,completion_tokens=100"), "10").await;
        // 2.5 / 10, above 1000 prompt tokens 5 / 15, priority 4.5 (output falls back to 10),
        // one-hour cache writes 6; marked up ×1.5.
        let pricing = json!({"input": 2.5, "output": 10, "cache_write_1h": 6, "shapes": [
            {"above": 1000, "input": 5, "output": 15}, {"service_tier": "priority", "input": 4.5}]});
        let path = format!("/api/v1/models/{}", f.model);
        gw.admin_ok("PATCH", &path, Some(json!({"pricing": pricing, "multiplier": "1.5"})), 200).await;
        let img = format!("{}-img", f.model);
        let body = json!({"name": img, "targets": [{"provider": f.provider_name, "model": "dall-e-3"}],
            "multiplier": "1.5", "pricing": {"input": 0, "output": 0, "per_image": 0.04,
                "image_prices": [{"size": "1024x1024", "quality": "hd", "price": 0.08}]}});
        gw.admin_ok("POST", "/api/v1/models", Some(body), 201).await;

        let (status, list) = gw.request_as(&f.key, "GET", "/api/v1/models/public", None).await;
        assert_eq!(status, 200, "{list}");
        let m = by_id(&list, &f.model).unwrap();
        assert_eq!(m["pricing"]["cache_write_1h"], "9", "{m}");
        assert_eq!(
            m["pricing_tiers"],
            json!([
                {"above": 1000, "input": "7.5", "output": "22.5", "cache_write_1h": "9"},
                {"service_tier": "priority", "input": "6.75", "output": "15", "cache_write_1h": "9"},
            ])
        );
        let i = by_id(&list, &img).unwrap();
        assert_eq!(i["pricing"]["per_image"], "0.06");
        assert_eq!(i["pricing"]["image_prices"], json!([{"size": "1024x1024", "quality": "hd", "price": "0.12"}]));
        // /v1/models: the same, per token and per image.
        let (_, models) = gw.request_as(&f.key, "GET", "/v1/models", None).await;
        let card = by_id(&models, &f.model).unwrap();
        assert_eq!(
            card["pricing"]["tiers"][0],
            json!({"above": 1000, "prompt": "0.0000075", "completion": "0.0000225",
            "input_cache_write_1h": "0.000009"})
        );
        assert_eq!(card["pricing"]["tiers"][1]["service_tier"], "priority");
        assert_eq!(card["pricing"]["input_cache_write_1h"], "0.000009");
        let icard = by_id(&models, &img).unwrap();
        assert_eq!(icard["pricing"]["images"], json!([{"size": "1024x1024", "quality": "hd", "image": "0.12"}]));

        // A call in each shape is charged what the member was shown for it.
        let tiers = m["pricing_tiers"].as_array().unwrap();
        let chat = |extra: Value| {
            let mut body = json!({"model": f.model, "messages": [{"role": "user", "content": "hi"}]});
            body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            body
        };
        let cost = |resp: reqwest::Response| {
            assert_eq!(resp.status(), 200);
            resp.headers()["x-tollgate-cost"].to_str().unwrap().to_string()
        };
        // 1001 prompt tokens: the long-context tier.
        let long = cost(gw.chat(&f.key, chat(json!({}))).await);
        assert_eq!(long, charge(&[(1001, &tiers[0]["input"]), (100, &tiers[0]["output"])]));
        // 1000 prompt tokens, asked for priority: the priority tier.
        let p = format!("/api/v1/providers/{}", f.provider_name);
        let base = json!({"base_url": mock.scenario_url("prompt_tokens=1000,completion_tokens=100")});
        gw.admin_ok("PATCH", &p, Some(base), 200).await;
        let priority = cost(gw.chat(&f.key, chat(json!({"service_tier": "priority"}))).await);
        assert_eq!(priority, charge(&[(1000, &tiers[1]["input"]), (100, &tiers[1]["output"])]));
        // And the base prices.
        let plain = cost(gw.chat(&f.key, chat(json!({}))).await);
        assert_eq!(plain, charge(&[(1000, &m["pricing"]["input"]), (100, &m["pricing"]["output"])]));
        // Two hd images at the shown image price, and one at the base.
        let (g, key) = (&gw, &f.key);
        let image = |body: Value| async move {
            let resp = g.http.post(format!("{}/v1/images/generations", g.url)).bearer_auth(key).json(&body).send();
            cost(resp.await.unwrap())
        };
        let hd = image(json!({"model": img, "prompt": "p", "n": 2, "size": "1024x1024", "quality": "hd"})).await;
        assert_eq!(hd, charge(&[(2_000_000, &i["pricing"]["image_prices"][0]["price"])]));
        let one = image(json!({"model": img, "prompt": "p"})).await;
        assert_eq!(one, charge(&[(1_000_000, &i["pricing"]["per_image"])]));
        assert_eq!(
            (long.as_str(), priority.as_str(), plain.as_str(), hd.as_str(), one.as_str()),
            ("0.0097575", "0.00825", "0.00525", "0.24", "0.06")
        );

        // The console lists the same under each model's row, in the member's language.
        let body = json!({"name": "maria", "password": PASSWORD, "role": "member"});
        gw.admin_ok("POST", "/api/v1/users", Some(body), 201).await;
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let session = sign_in(&gw, &http, "maria").await;
        let page = |lang: &'static str| {
            let req = http.get(format!("{}/me/models", gw.url)).header("cookie", &session.cookie);
            async move { req.header("accept-language", lang).send().await.unwrap().text().await.unwrap() }
        };
        let en = page("en").await;
        for line in [
            "prompt above 1,000 tokens</span> <span class=\"num\">Input 7.5 · Output 22.5 · 1-hour cache write 9</span>",
            "Priority tier</span> <span class=\"num\">Input 6.75 · Output 15 · 1-hour cache write 9</span>",
            "Cache writes</span> <span class=\"num\">1-hour cache write 9</span>",
            "Per image</span> <span class=\"num\">0.06</span>",
            "Image 1024x1024 hd</span> <span class=\"num\">0.12</span>",
        ] {
            assert!(en.contains(line), "{line} in {en}");
        }
        let zh = page("zh-CN").await;
        for line in [
            "提示超过 1,000 个 token</span> <span class=\"num\">输入 7.5 · 输出 22.5",
            "Priority 服务等级",
            "图片 1024x1024 hd",
        ] {
            assert!(zh.contains(line), "{line} in {zh}");
        }
        gw.stop().await;
    }
}
