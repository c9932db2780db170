//! The console in a real browser: Debian's Chromium driven over WebDriver through the whole
//! operator and member flow, against the real gateway binary and the mock provider. Every
//! page is saved as a screenshot under target/console-screenshots/ (the `phone-` ones at a
//! phone's width). One browser session for the whole flow keeps the suite's time down.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::*;
use crate::webdriver::Browser;

/// What the first start printed: the management key and the admin's console password.
fn first_start_secrets(banner: &str) -> (String, String) {
    let key = banner.lines().find_map(|l| l.trim().strip_prefix("management API key:")).expect("admin key printed");
    let pw = banner.lines().find_map(|l| l.trim().strip_prefix("console login:")).expect("console login printed");
    let pw = pw.trim().strip_prefix("admin /").expect("`admin / PASSWORD`");
    (key.trim().to_string(), pw.trim().to_string())
}

async fn sign_in(b: &Browser, url: &str, username: &str, password: &str) {
    b.goto(&format!("{url}/login")).await;
    b.type_into("#username", username).await;
    b.type_into("#password", password).await;
    b.submit("form[action=\"/login\"]").await;
}

async fn sign_out(b: &Browser) {
    b.submit("form[action=\"/logout\"]").await;
    assert!(b.url().await.ends_with("/login"), "signed out to the sign-in page");
}

/// A request with the browser's session cookie, from outside the browser (status checks the
/// WebDriver protocol cannot make).
async fn with_cookie(gw: &Gateway, b: &Browser, method: &str, path: &str, body: Option<&str>) -> u16 {
    let cookie = b.cookie("tollgate_session").await.expect("a session cookie");
    let mut req = gw
        .http
        .request(method.parse().unwrap(), format!("{}{path}", gw.url))
        .header("cookie", format!("tollgate_session={}", cookie["value"].as_str().unwrap()))
        .header("accept", "text/html");
    if let Some(body) = body {
        req = req.header("content-type", "application/x-www-form-urlencoded").body(body.to_string());
    }
    req.send().await.unwrap().status().as_u16()
}

/// Waits until the page's charts have drawn from the stats API, then answers what they show:
/// the tiles' texts, the number of charts with a plot, and the group table's rows.
async fn charts_drawn(b: &Browser) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let state = b.run("return document.querySelector('[data-stats-url]').dataset.loaded || ''", json!([])).await;
        match state.as_str() {
            Some("true") => break,
            Some("error") => panic!("the charts failed: {}", b.body_text().await),
            _ if Instant::now() > deadline => panic!("the charts never drew: {}", b.body_text().await),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    b.run(
        "const root = document.querySelector('[data-stats-url]');
         const tiles = {};
         root.querySelectorAll('[data-total]').forEach((el) => { tiles[el.dataset.total] = el.textContent; });
         return {
           tiles,
           plots: root.querySelectorAll('[data-chart] .uplot canvas').length,
           empty: root.querySelectorAll('[data-chart] .chart-empty').length,
           rows: [...root.querySelectorAll('[data-group-table] tr')].map((tr) => tr.innerText),
         };",
        json!([]),
    )
    .await
}

#[tokio::test]
async fn console_in_a_real_browser() {
    let started = Instant::now();
    let mock = mock().await;
    let gw = Gateway::start_with(GatewayOptions { master_key: None, ..GatewayOptions::default() }).await;
    let (admin_key, admin_password) = first_start_secrets(&gw.banner);
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    let b = Browser::start(shots).await;
    let browser_ready = started.elapsed();
    let url = gw.url.clone();

    // `GET /` in a browser shows the sign-in form, with fields `username` and `password`.
    b.goto(&format!("{url}/")).await;
    assert!(b.url().await.ends_with("/login"), "{}", b.url().await);
    b.find("input[name=username]").await;
    b.find("input[name=password][type=password]").await;
    b.shot("01-sign-in").await;

    // A wrong password is refused next to the password field.
    sign_in(&b, &url, "admin", "not-the-password").await;
    let err = b.text(&b.find("#password-error").await).await;
    assert!(err.contains("Wrong"), "{err}");
    b.shot("02-sign-in-wrong-password").await;

    // The first-start administrator signs in with the printed password.
    sign_in(&b, &url, "admin", &admin_password).await;
    assert!(b.url().await.ends_with("/dashboard"), "{}", b.url().await);
    let session = b.cookie("tollgate_session").await.expect("session cookie");
    assert_eq!(session["httpOnly"], true, "{session}");
    assert_eq!(session["sameSite"], "Strict", "{session}");

    // The management API accepts the admin's session (reads without CSRF, writes with it).
    let status = with_cookie(&gw, &b, "GET", "/api/v1/users", None).await;
    assert_eq!(status, 200);

    // Providers: add one against the mock, with its first key; test the key.
    b.goto(&format!("{url}/providers")).await;
    b.type_into("#f-name", "mock").await;
    b.select("#f-kind", "openai").await;
    b.type_into("#f-base_url", &mock.base_url()).await;
    b.type_into("#f-api_key", PROVIDER_KEY).await;
    b.submit("form[action=\"/providers\"]").await;
    assert!(b.url().await.contains("/providers/"), "{}", b.url().await);
    let page = b.body_text().await;
    assert!(page.contains("sk-p") && !page.contains(PROVIDER_KEY), "the key is shown masked:\n{page}");
    b.submit("form[action$=\"/test\"]").await;
    let result = b.text(&b.find("#test-result").await).await;
    assert!(result.contains("accepted"), "{result}");
    b.full_shot("03-provider").await;

    // Models: one with prices; and the price catalog.
    b.goto(&format!("{url}/models/catalog?q=gpt-4o")).await;
    b.wait_for_text("matching models", false).await;
    b.shot("04-price-catalog").await;
    b.goto(&format!("{url}/models")).await;
    b.type_into("#f-name", "house-gpt").await;
    b.type_into("#tm-1", "mock-gpt").await;
    b.type_into("#f-input", "2.5").await;
    b.type_into("#f-output", "10").await;
    b.submit("form[action=\"/models\"]").await;
    assert!(b.url().await.contains("/models/"), "{}", b.url().await);
    b.wait_for_text("house-gpt", false).await;
    b.full_shot("05-model").await;
    b.goto(&format!("{url}/models")).await;
    b.wait_for_text("house-gpt", false).await;
    b.full_shot("05-models-list").await;

    // Users: alice with a password and opening credits; then a key for her.
    b.goto(&format!("{url}/users")).await;
    b.type_into("#f-name", "alice").await;
    b.type_into("#f-email", "alice@example.com").await;
    b.type_into("#f-password", "short").await;
    b.submit("form[action=\"/users\"]").await;
    let err = b.text(&b.find("#password-error").await).await;
    assert!(err.contains("12 characters"), "the error sits next to the password: {err}");
    b.type_into("#f-password", "alice-password-123").await;
    b.type_into("#f-amount", "10").await;
    b.submit("form[action=\"/users\"]").await;
    let alice_url = b.url().await;
    let alice_id = alice_url.rsplit('/').next().unwrap().split('?').next().unwrap().to_string();
    assert_eq!(b.text(&b.find("#balance").await).await, "10");
    b.full_shot("06-user").await;
    b.goto(&format!("{url}/users")).await;
    b.shot("07-users").await;

    b.goto(&format!("{url}/keys?user_id={alice_id}")).await;
    b.type_into("#f-name", "laptop").await;
    b.submit("form[method=post][action=\"/keys\"]").await;
    let secret = b.text(&b.find("#new-key").await).await;
    assert!(secret.starts_with("tg-"), "{secret}");
    b.find("button[data-copy=new-key]").await;
    b.shot("08-key-created").await;

    // A call with that key, then the call log and its detail.
    let resp = gw.chat(&secret, json!({"model": "house-gpt", "messages": [{"role": "user", "content": "hi"}]})).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    b.goto(&format!("{url}/calls")).await;
    b.wait_for_text("house-gpt", true).await;
    b.full_shot("09-call-log").await;
    // The export buttons stream the API's export with the session: every call, one line each.
    let (status, listed) = gw.request_as(&admin_key, "GET", "/api/v1/calls?limit=500", None).await;
    assert_eq!(status, 200, "{listed}");
    let listed = listed["data"].as_array().unwrap().len();
    let export = b.find("button[data-export^=\"/api/v1/calls/export?format=jsonl\"]").await;
    b.click(&export).await;
    b.wait_for_text(&format!("Done. Rows: {listed}"), false).await;
    let first = b.find("table tbody tr td a").await;
    b.click(&first).await;
    b.wait_for_text("Usage and price", false).await;
    b.full_shot("10-call-detail").await;

    // The dashboard draws its charts from the stats API: the call is counted and plotted.
    b.goto(&format!("{url}/dashboard")).await;
    let drawn = charts_drawn(&b).await;
    assert_eq!(drawn["tiles"]["calls"], "1", "{drawn}");
    assert_eq!(drawn["tiles"]["error_rate"], "0%", "{drawn}");
    assert_eq!(drawn["plots"], 6, "six charts with a plot: {drawn}");
    assert_eq!(drawn["empty"], 0, "{drawn}");
    let row = drawn["rows"][0].as_str().unwrap_or_default();
    assert!(row.starts_with("house-gpt") && row.contains("0.0000825"), "the model's row with its cost: {drawn}");
    b.full_shot("11-dashboard").await;
    b.goto(&format!("{url}/dashboard?range=30d&group_by=user")).await;
    let drawn = charts_drawn(&b).await;
    assert!(drawn["rows"][0].as_str().unwrap_or_default().starts_with("alice"), "grouped by user, by name: {drawn}");

    // Revoke the key in the page; the next call with it is refused.
    b.goto(&format!("{url}/keys?user_id={alice_id}")).await;
    b.run("window.confirm = () => true", json!([])).await;
    b.submit("form[action$=\"/revoke\"]").await;
    b.wait_for_text("revoked", false).await;
    b.shot("12-keys-revoked").await;
    let resp = gw.chat(&secret, json!({"model": "house-gpt", "messages": [{"role": "user", "content": "hi"}]})).await;
    assert_eq!(resp.status(), 401);

    // Past 500 users the owner is typed (name, e-mail or id) instead of picked from a list,
    // so every user stays reachable; the key lists name owners past the first 500 too.
    for i in 0..500 {
        let (status, body) =
            gw.request_as(&admin_key, "POST", "/api/v1/users", Some(json!({"name": format!("zz-{i:03}")}))).await;
        assert_eq!(status, 201, "{body}");
    }
    b.goto(&format!("{url}/keys")).await;
    let tag = b.run("return document.querySelector('#f-user_id').tagName", json!([])).await;
    assert_eq!(tag, "INPUT", "a typed owner past 500 users");
    b.type_into("#f-user_id", "zz-499").await;
    b.type_into("#f-name", "late-user-key").await;
    b.submit("form[method=post][action=\"/keys\"]").await;
    assert!(b.text(&b.find("#new-key").await).await.starts_with("tg-"));
    assert!(b.body_text().await.contains("zz-499"), "the key belongs to the typed user");
    b.goto(&format!("{url}/keys?user_id=zz-499")).await;
    let page = b.body_text().await;
    assert!(
        page.contains("late-user-key") && page.contains("zz-499") && !page.contains("alice"),
        "only the typed user's keys: {page}"
    );

    b.goto(&format!("{url}/settings")).await;
    let page = b.body_text().await;
    assert!(!page.contains(&admin_key), "the settings page shows no secret");
    b.full_shot("13-settings").await;
    b.goto(&format!("{url}/account")).await;
    b.shot("14-account").await;

    // Chinese, chosen by the switch; and the pages at a phone's width.
    b.goto(&format!("{url}/lang/zh?next=/dashboard")).await;
    b.wait_for_text("仪表盘", false).await;
    b.shot("15-dashboard-zh").await;
    b.goto(&format!("{url}/lang/ja?next=/providers")).await;
    b.wait_for_text("プロバイダー", false).await;
    b.shot("16-providers-ja").await;
    b.goto(&format!("{url}/lang/en?next=/providers")).await;
    b.set_size(390, 844).await;
    b.shot("phone-providers").await;
    b.goto(&format!("{url}/dashboard")).await;
    b.wait_for_text("Calls", false).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    b.full_shot("phone-dashboard").await;
    b.set_size(1280, 900).await;
    sign_out(&b).await;

    // Alice signs in (by e-mail) and sees only her own data.
    sign_in(&b, &url, "alice@example.com", "alice-password-123").await;
    assert!(b.url().await.ends_with("/me"), "{}", b.url().await);
    let page = b.body_text().await;
    assert!(page.contains("house-gpt"), "her call is listed:\n{page}");
    assert!(!page.contains("Providers") && !page.contains("mock"), "no operator data:\n{page}");
    let drawn = charts_drawn(&b).await;
    assert_eq!(drawn["tiles"]["calls"], "1", "her own call, from /api/v1/me/stats: {drawn}");
    assert_eq!(drawn["plots"], 6, "{drawn}");
    b.full_shot("17-member-overview").await;
    // `GET /api/v1/me` answers for the session too: her user, no key, no provider internals.
    let me = b
        .run_async(
            "const done = arguments[0];
             fetch('/api/v1/me').then(r => r.json()).then(done, e => done(String(e)));",
            json!([]),
        )
        .await;
    assert_eq!(me["user"]["name"], "alice", "{me}");
    assert_eq!(me["user"]["balance"], "9.9999175", "{me}");
    assert!(me["key"].is_null() && me["recent_calls"][0].get("provider_id").is_none(), "{me}");
    b.goto(&format!("{url}/me/calls")).await;
    b.wait_for_text("house-gpt", false).await;
    b.shot("18-member-calls").await;
    b.goto(&format!("{url}/me/keys")).await;
    b.type_into("#f-name", "my-script").await;
    b.type_into("#f-rpm", "30").await;
    b.submit("form[action=\"/me/keys\"]").await;
    let member_secret = b.text(&b.find("#new-key").await).await;
    assert!(member_secret.starts_with("tg-"));
    let resp =
        gw.chat(&member_secret, json!({"model": "house-gpt", "messages": [{"role": "user", "content": "hi"}]})).await;
    assert_eq!(resp.status(), 200);
    b.goto(&format!("{url}/me/keys")).await;
    b.shot("19-member-keys").await;
    b.goto(&format!("{url}/me/quickstart")).await;
    b.wait_for_text("Claude Code", false).await;
    b.full_shot("20-member-quickstart").await;
    b.goto(&format!("{url}/me/models")).await;
    b.wait_for_text("house-gpt", false).await;
    b.full_shot("20-member-models").await;

    // A member opening an administrator's page gets 403, and so does the management API.
    b.goto(&format!("{url}/providers")).await;
    b.wait_for_text("Administrators only", false).await;
    b.shot("21-member-403").await;
    assert_eq!(with_cookie(&gw, &b, "GET", "/providers", None).await, 403);
    assert_eq!(with_cookie(&gw, &b, "GET", "/api/v1/users", None).await, 403);
    assert_eq!(with_cookie(&gw, &b, "GET", &format!("/users/{alice_id}"), None).await, 403);

    // A state change without the CSRF token is refused, from the page itself and from outside.
    b.goto(&format!("{url}/me/keys")).await;
    let status = b
        .run_async(
            "const done = arguments[0];
             fetch('/me/keys', {method: 'POST', body: new URLSearchParams({name: 'forged'})})
               .then(r => done(r.status), e => done(String(e)));",
            json!([]),
        )
        .await;
    assert_eq!(status, 403, "a form post without the CSRF token");
    assert_eq!(with_cookie(&gw, &b, "POST", "/me/keys", Some("name=forged2")).await, 403);
    let csrf = b.run("return document.querySelector('meta[name=csrf-token]').content", json!([])).await;
    let forged = format!("name=with-token&csrf={}", csrf.as_str().unwrap());
    assert_eq!(with_cookie(&gw, &b, "POST", "/me/keys", Some(&forged)).await, 201, "the same post with the token");
    let keys = gw.request_as(&admin_key, "GET", &format!("/api/v1/keys?user_id={alice_id}"), None).await.1;
    let names: Vec<&str> = keys["data"].as_array().unwrap().iter().filter_map(|k| k["name"].as_str()).collect();
    assert!(!names.contains(&"forged") && !names.contains(&"forged2"), "{names:?}");
    sign_out(&b).await;

    // Wrong passwords are throttled: five per account, then even the right one waits.
    for attempt in 1..=5 {
        sign_in(&b, &url, "alice", "wrong-password-000").await;
        let err = b.text(&b.find("#password-error").await).await;
        assert!(err.contains("Wrong"), "attempt {attempt}: {err}");
    }
    sign_in(&b, &url, "alice@example.com", "wrong-password-000").await;
    let err = b.text(&b.find("#password-error").await).await;
    assert!(err.contains("Too many failed sign-ins"), "by e-mail too, the same account: {err}");
    b.shot("22-sign-in-throttled").await;
    sign_in(&b, &url, "alice", "alice-password-123").await;
    assert!(b.body_text().await.contains("Too many failed sign-ins"), "the right password waits too while throttled");

    let total = started.elapsed();
    println!("console browser flow: browser ready after {browser_ready:?}, whole flow {total:?}");
    b.quit().await;
    gw.stop().await;
}
