//! The authorization matrix (issue 12's battery): every management route — the management
//! API (`src/admin/mod.rs`), the console (`src/console/mod.rs`) and the process's own routes
//! (`src/app.rs`) — × every kind of caller, with the status each must get. The routes are
//! read from those files' `.route(...)` calls, so a route added without a row here fails
//! `every_management_route_has_a_row`.
//!
//! Callers (the columns):
//! - `none`: no key, no cookie;
//! - `mkey`: a member's Tollgate key (`Authorization: Bearer tg-...`);
//! - `msess`: a member's console session (cookie, and its CSRF token on writes);
//! - `other`: that member's session asking for another member's ids (user, key, call);
//! - `akey`: the master key;
//! - `asess`: an administrator's console session (cookie, CSRF token on writes).
//!
//! Ids in paths are the member's own (`other`: the other member's); an administrator's
//! destructive calls (deletes, revocations) name an id that does not exist, so the answer
//! (404) proves the call got past authorization without destroying what later cells use.
//! Writes send `{}` (the API) or a form with only the CSRF token (the console): an
//! administrator's write is then refused by validation (400) or does nothing harmful.
//! 303 is a redirect: to `/login` for the console without a session.
//!
//! Read together: management needs the master key or an administrator's session (401 without
//! either, 401 for a member's key, 403 for a member's session); the member routes take a key
//! or a session and never show another member's data; the console sends strangers to sign in
//! and members away from administrators' pages (403).

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Value, json};

use crate::console_session::{PASSWORD, sign_in};
use crate::harness::*;

/// `(method, path, [none, mkey, msess, other, akey, asess])`.
type Row = (&'static str, &'static str, [u16; 6]);

#[rustfmt::skip]
const MATRIX: &[Row] = &[
    // The management API: administrators only.
    //  method    path                                      none mkey msess other akey asess
    ("GET",    "/api/v1/providers",                       [401, 401, 403, 403, 200, 200]),
    ("POST",   "/api/v1/providers",                       [401, 401, 403, 403, 400, 400]),
    ("GET",    "/api/v1/providers/{id}",                  [401, 401, 403, 403, 200, 200]),
    ("PATCH",  "/api/v1/providers/{id}",                  [401, 401, 403, 403, 200, 200]),
    ("DELETE", "/api/v1/providers/{id}",                  [401, 401, 403, 403, 404, 404]),
    ("GET",    "/api/v1/providers/{id}/health",           [401, 401, 403, 403, 200, 200]),
    ("GET",    "/api/v1/health",                          [401, 401, 403, 403, 200, 200]),
    ("GET",    "/api/v1/providers/{id}/credentials",      [401, 401, 403, 403, 200, 200]),
    ("POST",   "/api/v1/providers/{id}/credentials",      [401, 401, 403, 403, 400, 400]),
    ("GET",    "/api/v1/credentials/{id}",                [401, 401, 403, 403, 200, 200]),
    ("PATCH",  "/api/v1/credentials/{id}",                [401, 401, 403, 403, 200, 200]),
    ("DELETE", "/api/v1/credentials/{id}",                [401, 401, 403, 403, 404, 404]),
    ("POST",   "/api/v1/credentials/{id}/test",           [401, 401, 403, 403, 200, 200]),
    ("GET",    "/api/v1/models",                          [401, 401, 403, 403, 200, 200]),
    ("POST",   "/api/v1/models",                          [401, 401, 403, 403, 400, 400]),
    ("GET",    "/api/v1/models/{id}",                     [401, 401, 403, 403, 200, 200]),
    ("PATCH",  "/api/v1/models/{id}",                     [401, 401, 403, 403, 200, 200]),
    ("DELETE", "/api/v1/models/{id}",                     [401, 401, 403, 403, 404, 404]),
    ("GET",    "/api/v1/users",                           [401, 401, 403, 403, 200, 200]),
    ("POST",   "/api/v1/users",                           [401, 401, 403, 403, 400, 400]),
    ("GET",    "/api/v1/users/{id}",                      [401, 401, 403, 403, 200, 200]),
    ("PATCH",  "/api/v1/users/{id}",                      [401, 401, 403, 403, 200, 200]),
    ("DELETE", "/api/v1/users/{id}",                      [401, 401, 403, 403, 404, 404]),
    ("POST",   "/api/v1/users/{id}/credits",              [401, 401, 403, 403, 400, 400]),
    ("GET",    "/api/v1/users/{id}/ledger",               [401, 401, 403, 403, 200, 200]),
    ("GET",    "/api/v1/keys",                            [401, 401, 403, 403, 200, 200]),
    ("POST",   "/api/v1/keys",                            [401, 401, 403, 403, 400, 400]),
    ("GET",    "/api/v1/keys/{id}",                       [401, 401, 403, 403, 200, 200]),
    ("PATCH",  "/api/v1/keys/{id}",                       [401, 401, 403, 403, 200, 200]),
    ("DELETE", "/api/v1/keys/{id}",                       [401, 401, 403, 403, 404, 404]),
    ("GET",    "/api/v1/catalog",                         [401, 401, 403, 403, 200, 200]),
    ("GET",    "/api/v1/markup",                          [401, 401, 403, 403, 200, 200]),
    ("PUT",    "/api/v1/markup",                          [401, 401, 403, 403, 200, 200]),
    ("GET",    "/api/v1/calls",                           [401, 401, 403, 403, 200, 200]),
    ("GET",    "/api/v1/calls/export",                    [401, 401, 403, 403, 200, 200]),
    ("GET",    "/api/v1/calls/{id}",                      [401, 401, 403, 403, 200, 200]),
    ("GET",    "/api/v1/stats",                           [401, 401, 403, 403, 200, 200]),
    // The member routes: a key or a session, each seeing only its own.
    ("GET",    "/api/v1/me",                              [401, 200, 200, 200, 401, 200]),
    ("GET",    "/api/v1/me/stats",                        [401, 200, 200, 200, 401, 200]),
    ("GET",    "/api/v1/models/public",                   [401, 200, 200, 200, 200, 200]),
    ("GET",    "/api/v1/models/status",                   [401, 200, 200, 200, 200, 200]),
    // The process: open health, metrics for the master key.
    ("GET",    "/healthz",                                [200, 200, 200, 200, 200, 200]),
    ("GET",    "/readyz",                                 [200, 200, 200, 200, 200, 200]),
    ("GET",    "/metrics",                                [401, 401, 401, 401, 200, 401]),
    // The console: sign-in for strangers, members kept to their own pages.
    ("GET",    "/",                                       [303, 303, 303, 303, 303, 303]),
    ("GET",    "/login",                                  [200, 200, 303, 303, 200, 303]),
    ("POST",   "/login",                                  [403, 403, 403, 403, 403, 403]),
    ("POST",   "/logout",                                 [303, 303, 303, 303, 303, 303]),
    ("GET",    "/account",                                [303, 303, 200, 200, 303, 200]),
    ("POST",   "/account",                                [303, 303, 400, 400, 303, 400]),
    ("POST",   "/account/sessions/end",                   [303, 303, 303, 303, 303, 303]),
    ("GET",    "/lang/{code}",                            [303, 303, 303, 303, 303, 303]),
    ("GET",    "/dashboard",                              [303, 303, 403, 403, 303, 200]),
    ("GET",    "/providers",                              [303, 303, 403, 403, 303, 200]),
    ("POST",   "/providers",                              [303, 303, 403, 403, 303, 400]),
    ("GET",    "/providers/{id}",                         [303, 303, 403, 403, 303, 200]),
    ("POST",   "/providers/{id}",                         [303, 303, 403, 403, 303, 303]),
    ("POST",   "/providers/{id}/delete",                  [303, 303, 403, 403, 303, 404]),
    ("POST",   "/providers/{id}/credentials",             [303, 303, 403, 403, 303, 400]),
    ("POST",   "/credentials/{id}",                       [303, 303, 403, 403, 303, 303]),
    ("POST",   "/credentials/{id}/test",                  [303, 303, 403, 403, 303, 200]),
    ("POST",   "/credentials/{id}/delete",                [303, 303, 403, 403, 303, 404]),
    ("GET",    "/models",                                 [303, 303, 403, 403, 303, 200]),
    ("POST",   "/models",                                 [303, 303, 403, 403, 303, 400]),
    ("GET",    "/models/catalog",                         [303, 303, 403, 403, 303, 200]),
    ("GET",    "/models/{id}",                            [303, 303, 403, 403, 303, 200]),
    ("POST",   "/models/{id}",                            [303, 303, 403, 403, 303, 400]),
    ("POST",   "/models/{id}/delete",                     [303, 303, 403, 403, 303, 404]),
    ("POST",   "/markup",                                 [303, 303, 403, 403, 303, 303]),
    ("GET",    "/users",                                  [303, 303, 403, 403, 303, 200]),
    ("POST",   "/users",                                  [303, 303, 403, 403, 303, 400]),
    ("GET",    "/users/{id}",                             [303, 303, 403, 403, 303, 200]),
    ("POST",   "/users/{id}",                             [303, 303, 403, 403, 303, 400]),
    ("POST",   "/users/{id}/password",                    [303, 303, 403, 403, 303, 400]),
    ("POST",   "/users/{id}/credits",                     [303, 303, 403, 403, 303, 400]),
    ("POST",   "/users/{id}/sessions/end",                [303, 303, 403, 403, 303, 303]),
    ("POST",   "/users/{id}/delete",                      [303, 303, 403, 403, 303, 404]),
    ("GET",    "/keys",                                   [303, 303, 403, 403, 303, 200]),
    ("POST",   "/keys",                                   [303, 303, 403, 403, 303, 400]),
    ("POST",   "/keys/{id}/revoke",                       [303, 303, 403, 403, 303, 404]),
    ("GET",    "/calls",                                  [303, 303, 403, 403, 303, 200]),
    ("GET",    "/calls/{id}",                             [303, 303, 403, 403, 303, 200]),
    ("GET",    "/settings",                               [303, 303, 403, 403, 303, 200]),
    ("GET",    "/me",                                     [303, 303, 200, 200, 303, 200]),
    ("GET",    "/me/keys",                                [303, 303, 200, 200, 303, 200]),
    ("POST",   "/me/keys",                                [303, 303, 201, 201, 303, 201]),
    ("POST",   "/me/keys/{id}/revoke",                    [303, 303, 303, 404, 303, 404]),
    ("GET",    "/me/calls",                               [303, 303, 200, 200, 303, 200]),
    ("GET",    "/me/models",                              [303, 303, 200, 200, 303, 200]),
    ("GET",    "/me/calls/{id}",                          [303, 303, 200, 404, 303, 404]),
    ("GET",    "/me/quickstart",                          [303, 303, 200, 200, 303, 200]),
    ("GET",    "/static/{version}/{name}",                [404, 404, 404, 404, 404, 404]),
];

const COLUMNS: [&str; 6] = ["none", "mkey", "msess", "other", "akey", "asess"];

/// The `.route(PATH, METHODS)` calls of the files that route management: `(method, path)`.
fn declared_routes() -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for file in ["src/admin/mod.rs", "src/console/mod.rs", "src/app.rs"] {
        let src = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
        for (at, _) in src.match_indices(".route(") {
            let Some(rest) = src[at + ".route(".len()..].trim_start().strip_prefix('"') else { continue };
            let path = &rest[..rest.find('"').unwrap()];
            // The call's arguments, to its closing parenthesis.
            let mut depth = 1;
            let args: String = rest
                .chars()
                .take_while(|c| {
                    depth += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    depth > 0
                })
                .collect();
            for method in ["get", "post", "put", "patch", "delete"] {
                let called = args.match_indices(&format!("{method}(")).any(|(i, _)| {
                    i == 0 || !args.as_bytes()[i - 1].is_ascii_alphanumeric() && args.as_bytes()[i - 1] != b'_'
                });
                if called {
                    out.insert((method.to_uppercase(), path.to_string()));
                }
            }
        }
    }
    out
}

#[test]
fn every_management_route_has_a_row() {
    let declared = declared_routes();
    assert!(declared.len() > 60, "the route reader found only {declared:?}");
    let rows: BTreeSet<(String, String)> = MATRIX.iter().map(|(m, p, _)| (m.to_string(), p.to_string())).collect();
    let missing: Vec<_> = declared.difference(&rows).collect();
    let stale: Vec<_> = rows.difference(&declared).collect();
    assert!(missing.is_empty(), "routes without a row in the authorization matrix: {missing:?}");
    assert!(stale.is_empty(), "rows for routes that no longer exist: {stale:?}");
    assert_eq!(rows.len(), MATRIX.len(), "a route has two rows");
}

/// The ids a path's `{id}` is filled with.
struct Ids {
    user: String,
    key: String,
    call: String,
}

/// One member of the gateway with a password, credits, a key and one call: `Ids`, key.
async fn member(gw: &Gateway, name: &str, model: &str) -> (Ids, String) {
    let user = gw
        .admin_ok("POST", "/api/v1/users", Some(json!({"name": name, "password": PASSWORD, "role": "member"})), 201)
        .await;
    let user_id = user["id"].as_str().unwrap().to_string();
    gw.admin_ok("POST", &format!("/api/v1/users/{user_id}/credits"), Some(json!({"amount": "5"})), 201).await;
    let k = gw.admin_ok("POST", "/api/v1/keys", Some(json!({"user_id": user_id})), 201).await;
    let (key, key_id) = (k["key"].as_str().unwrap().to_string(), k["id"].as_str().unwrap().to_string());
    let resp = gw.chat(&key, json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})).await;
    assert_eq!(resp.status(), 200);
    let calls = gw.calls_until(&key_id, |c| c.len() == 1 && c[0]["status"] == "success").await;
    (Ids { user: user_id, key: key_id, call: calls[0]["id"].as_str().unwrap().to_string() }, key)
}

/// True for the rows an administrator must not run on a real id (they destroy or end it).
fn destructive(method: &str, path: &str) -> bool {
    method == "DELETE" || ["/delete", "/revoke", "/sessions/end"].iter().any(|s| path.ends_with(s))
}

/// `path` with its parameters filled for `column`.
fn fill(path: &str, column: &str, own: &Ids, other: &Ids, shared: &(String, String, String), method: &str) -> String {
    let missing = "0190f000-0000-7000-8000-000000000000";
    let admin = column.starts_with('a');
    let ids = if column == "other" { other } else { own };
    let pick = |id: &str| if admin && destructive(method, path) { missing.to_string() } else { id.to_string() };
    let (provider, credential, model) = shared;
    let resource = path.trim_start_matches("/api/v1").trim_start_matches("/me");
    let id = if resource.starts_with("/providers/") {
        pick(provider)
    } else if resource.starts_with("/credentials/") {
        pick(credential)
    } else if resource.starts_with("/models/") {
        pick(model)
    } else if resource.starts_with("/users/") {
        pick(&ids.user)
    } else if resource.starts_with("/keys/") {
        // `/me/keys/{id}/revoke` on the member's own key is refused for an administrator by
        // ownership, not by the missing id.
        if path.starts_with("/me/") && admin { own.key.clone() } else { pick(&ids.key) }
    } else if resource.starts_with("/calls/") {
        if path.starts_with("/me/") && admin { own.call.clone() } else { pick(&ids.call) }
    } else {
        String::new()
    };
    path.replace("{id}", &id).replace("{code}", "en").replace("{version}", "0").replace("{name}", "nothing.css")
}

#[tokio::test]
async fn every_management_route_answers_each_caller_as_the_matrix_says() {
    let mock = mock().await;
    // The matrix is many refusals from one address: the auth throttle (its own tests are in
    // `auth_throttle.rs`) would answer 429 to the rest.
    let gw = Gateway::start_with(GatewayOptions {
        env: vec![("TOLLGATE_AUTH_THROTTLE_BURST".into(), "0".into())],
        ..GatewayOptions::default()
    })
    .await;
    let f = Fixture::new(&gw, &mock.base_url(), "1").await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let (own, own_key) = member(&gw, "member-a", &f.model).await;
    let (other, other_key) = member(&gw, "member-b", &f.model).await;
    gw.admin_ok("POST", "/api/v1/users", Some(json!({"name": "admin-a", "password": PASSWORD, "role": "admin"})), 201)
        .await;
    let providers = gw.admin_ok("GET", "/api/v1/providers", None, 200).await;
    let provider = providers["data"][0]["id"].as_str().unwrap().to_string();
    let creds = gw.admin_ok("GET", &format!("/api/v1/providers/{provider}/credentials"), None, 200).await;
    let credential = creds["data"][0]["id"].as_str().unwrap().to_string();
    let models = gw.admin_ok("GET", "/api/v1/models", None, 200).await;
    let model = models["data"][0]["id"].as_str().unwrap().to_string();
    let shared = (provider, credential, model);

    let mut failures = Vec::new();
    let mut observed = Vec::new();
    // Rows that end sessions run with sessions of their own, signed in for the one cell.
    let ends_sessions = |m: &str, p: &str| m == "POST" && (p == "/logout" || p == "/account/sessions/end");
    let member_session = sign_in(&gw, &http, "member-a").await;
    let other_session = sign_in(&gw, &http, "member-a").await;
    let admin_session = sign_in(&gw, &http, "admin-a").await;
    // Those end every other session of their user too, so they run last.
    let (last, first): (Vec<&Row>, Vec<&Row>) = MATRIX.iter().partition(|(m, p, _)| ends_sessions(m, p));
    for (method, path, want) in first.into_iter().chain(last) {
        let mut got = [0u16; 6];
        for (c, column) in COLUMNS.iter().enumerate() {
            let mut url = format!("{}{}", gw.url, fill(path, column, &own, &other, &shared, method));
            if *column == "other" && path.starts_with("/api/v1/me") {
                url.push_str(&format!("?user_id={}&key_id={}", other.user, other.key));
            }
            let fresh;
            let session = match *column {
                "msess" | "other" | "asess" if ends_sessions(method, path) => {
                    fresh = sign_in(&gw, &http, if *column == "asess" { "admin-a" } else { "member-a" }).await;
                    Some(&fresh)
                }
                "msess" => Some(&member_session),
                "other" => Some(&other_session),
                "asess" => Some(&admin_session),
                _ => None,
            };
            let mut req = http.request(method.parse().unwrap(), &url);
            match *column {
                "mkey" => req = req.bearer_auth(&own_key),
                "akey" => req = req.bearer_auth(MASTER_KEY),
                _ => {}
            }
            if let Some(s) = session {
                req = req.header("cookie", &s.cookie);
            }
            let console = !path.starts_with("/api/") && !["/metrics", "/healthz", "/readyz"].contains(path);
            if *method != "GET" {
                if console {
                    let csrf = session.map(|s| format!("csrf={}", s.csrf)).unwrap_or_default();
                    req = req.header("content-type", "application/x-www-form-urlencoded").body(csrf);
                } else {
                    if let Some(s) = session {
                        req = req.header(tollgate::sessions::CSRF_HEADER, &s.csrf);
                    }
                    req = req.json(&json!({}));
                }
            }
            let resp = req.send().await.unwrap();
            got[c] = resp.status().as_u16();
            let location = resp.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            let body = resp.text().await.unwrap_or_default();
            if got[c] != want[c] {
                failures.push(format!("{method} {path} as {column}: {} instead of {} {:.200}", got[c], want[c], body));
            }
            // A stranger is sent to sign in; no answer to a member shows another member's ids.
            if got[c] == 303
                && session.is_none()
                && console
                && *path != "/lang/{code}"
                && !location.starts_with("/login")
            {
                failures.push(format!("{method} {path} as {column}: redirected to {location:?}, not /login"));
            }
            if c < 4 {
                // (An id the request named itself may be echoed: "key X does not exist".)
                for id in [&other.user, &other.key, &other.call].into_iter().filter(|id| !url.contains(id.as_str())) {
                    if body.contains(id.as_str()) {
                        failures.push(format!("{method} {path} as {column}: the answer shows the other member's {id}"));
                    }
                }
            }
            if got[c] >= 500 {
                failures.push(format!("{method} {path} as {column}: a server error {}", got[c]));
            }
        }
        observed.push(format!("    (\"{method}\", \"{path}\", {got:?}),"));
    }
    // The other member's key was never revoked by anyone's request, and still authenticates.
    let k = gw.admin_ok("GET", &format!("/api/v1/keys/{}", other.key), None, 200).await;
    assert_eq!(k["revoked"], false, "the other member's key survived the matrix: {k}");
    assert_eq!(gw.request_as(&other_key, "GET", "/api/v1/me", None).await.0, 200);
    assert!(
        failures.is_empty(),
        "{} cells differ:\n{}\nobserved:\n{}",
        failures.len(),
        failures.join("\n"),
        observed.join("\n")
    );
    gw.stop().await;
}

/// A session's writes to the management API need its CSRF token; a key's do not.
#[tokio::test]
async fn session_writes_to_the_management_api_need_the_csrf_token() {
    let gw = Gateway::start(Engine::Sqlite).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    gw.admin_ok("POST", "/api/v1/users", Some(json!({"name": "admin-b", "password": PASSWORD, "role": "admin"})), 201)
        .await;
    let s = sign_in(&gw, &http, "admin-b").await;
    let writes: Vec<_> = MATRIX.iter().filter(|(m, p, _)| *m != "GET" && p.starts_with("/api/v1/")).collect();
    assert!(writes.len() >= 15);
    for (method, path, _) in writes {
        let url = format!("{}{}", gw.url, path.replace("{id}", "0190f000-0000-7000-8000-000000000000"));
        for csrf in [None, Some("wrong")] {
            let mut req = http.request(method.parse().unwrap(), &url).header("cookie", &s.cookie).json(&json!({}));
            if let Some(t) = csrf {
                req = req.header(tollgate::sessions::CSRF_HEADER, t);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 403, "{method} {path} with CSRF {csrf:?}");
            let v: Value = resp.json().await.unwrap();
            assert_eq!(v["error"]["code"], "csrf_failed", "{method} {path}: {v}");
        }
    }
    gw.stop().await;
}
