//! The usage log over HTTP, on each engine: `GET /api/v1/calls` paged by its opaque cursor
//! covers every call once, newest first; `GET /api/v1/calls/export` streams the same rows as
//! CSV or JSON lines, with the list's filters.

use serde_json::{Value, json};

use crate::harness::*;

#[tokio::test]
async fn pages_and_exports_cover_every_call_once() {
    let mock = mock().await;
    for engine in engines() {
        let gw = Gateway::start(engine).await;
        let f = Fixture::new(&gw, &mock.base_url(), "10").await;
        let other = Fixture::new(&gw, &mock.base_url(), "10").await;
        let msgs = json!([{"role": "user", "content": "hi"}]);
        for _ in 0..9 {
            assert_eq!(gw.chat(&f.key, json!({"model": f.model, "messages": msgs})).await.status(), 200);
        }
        assert_eq!(gw.chat(&other.key, json!({"model": other.model, "messages": msgs})).await.status(), 200);
        let listed = gw.calls_until(&f.key_id, |c| c.len() == 9 && c.iter().all(|c| c["status"] == "success")).await;
        gw.calls_until(&other.key_id, |c| c.len() == 1 && c[0]["status"] == "success").await;
        let newest_first: Vec<String> = listed.iter().map(|c| c["id"].as_str().unwrap().to_string()).collect();

        // Pages of 4 by `next_cursor`: 4, 4, 1, then no cursor.
        let (mut paged, mut cursor) = (Vec::new(), None::<String>);
        loop {
            let q = cursor.as_ref().map(|c| format!("&cursor={c}")).unwrap_or_default();
            let page = gw.admin_ok("GET", &format!("/api/v1/calls?key_id={}&limit=4{q}", f.key_id), None, 200).await;
            let data = page["data"].as_array().unwrap();
            paged.extend(data.iter().map(|c| c["id"].as_str().unwrap().to_string()));
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
            assert_eq!(data.len(), 4);
        }
        assert_eq!(paged, newest_first, "{engine:?}");
        // A call id, the cursor pages gave before tokens, still pages.
        let after = gw
            .admin_ok("GET", &format!("/api/v1/calls?key_id={}&cursor={}", f.key_id, newest_first[2]), None, 200)
            .await;
        assert_eq!(after["data"].as_array().unwrap().len(), 6);
        let (status, v) = gw.admin("GET", "/api/v1/calls?cursor=nonsense", None).await;
        assert_eq!((status, v["error"]["param"].as_str()), (400, Some("cursor")), "{v}");

        // JSON lines: every call of the key, the list's objects, in the list's order.
        let resp = export(&gw, &format!("format=jsonl&key_id={}", f.key_id)).await;
        assert_eq!(resp.headers()["content-type"], "application/jsonl; charset=utf-8");
        assert!(resp.headers()["content-disposition"].to_str().unwrap().contains("tollgate-calls.jsonl"));
        let text = resp.text().await.unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.iter().map(|c| c["id"].as_str().unwrap().to_string()).collect::<Vec<_>>(), newest_first);
        assert_eq!(lines[0], listed[0], "an exported line is the list's object");

        // CSV of everything: a header and one line per call of both keys; filters narrow it.
        let text = export(&gw, "format=csv").await.text().await.unwrap();
        let rows: Vec<&str> = text.lines().collect();
        assert!(rows[0].starts_with("id,request_id,user_id,key_id,"), "{}", rows[0]);
        assert_eq!(rows.len(), 1 + 10, "{engine:?}: {text}");
        let text = export(&gw, &format!("format=csv&provider={}", other.provider_name)).await.text().await.unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.contains(&other.key_id) && !text.contains(&f.key_id));
        let text = export(&gw, "format=csv&from=2001-01-01T00:00:00Z&to=2001-01-02T00:00:00Z").await.text().await;
        assert_eq!(text.unwrap().lines().count(), 1, "only the header when nothing matches");

        let (status, v) = gw.admin("GET", "/api/v1/calls/export?format=xml", None).await;
        assert_eq!((status, v["error"]["param"].as_str()), (400, Some("format")));
        let resp = gw.http.get(format!("{}/api/v1/calls/export", gw.url)).send().await.unwrap();
        assert_eq!(resp.status(), 401, "the export needs the admin key");
        gw.stop().await;
    }
}

async fn export(gw: &Gateway, query: &str) -> reqwest::Response {
    let resp =
        gw.http.get(format!("{}/api/v1/calls/export?{query}", gw.url)).bearer_auth(MASTER_KEY).send().await.unwrap();
    assert_eq!(resp.status(), 200, "export?{query}");
    resp
}
