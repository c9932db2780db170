//! `GET /api/v1/stats` and `/api/v1/me/stats` through the real binary: two users × two models ×
//! two dialects, streamed and not, then the stats grouped each way equal the call records; a
//! key's `me/stats` shows only its own user; a restart (rollups read back from the database,
//! and `tollgate stats rebuild`) answers the same. SQLite and PostgreSQL.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tollgate::stats::histogram::bucket_of;

use crate::harness::*;

/// Nano-credits of a decimal credit string ("0.0000825").
fn nanos(s: &str) -> i64 {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let frac = format!("{frac:0<9}");
    whole.parse::<i64>().unwrap() * 1_000_000_000 + frac[..9].parse::<i64>().unwrap()
}

#[derive(Default, Debug, PartialEq)]
struct Sums {
    calls: i64,
    successes: i64,
    failures: i64,
    input_tokens: i64,
    output_tokens: i64,
    cached_tokens: i64,
    cost: i64,
}

fn sums_of_row(r: &Value) -> Sums {
    Sums {
        calls: r["calls"].as_i64().unwrap(),
        successes: r["successes"].as_i64().unwrap(),
        failures: r["failures"].as_i64().unwrap(),
        input_tokens: r["input_tokens"].as_i64().unwrap(),
        output_tokens: r["output_tokens"].as_i64().unwrap(),
        cached_tokens: r["cached_tokens"].as_i64().unwrap(),
        cost: nanos(r["cost"].as_str().unwrap()),
    }
}

fn add_call(s: &mut Sums, c: &Value) {
    s.calls += 1;
    if c["status"] == "success" {
        s.successes += 1;
    } else {
        s.failures += 1;
    }
    s.input_tokens += c["input_tokens"].as_i64().unwrap();
    s.output_tokens += c["output_tokens"].as_i64().unwrap();
    s.cached_tokens += c["cached_tokens"].as_i64().unwrap();
    s.cost += nanos(c["cost"].as_str().unwrap());
}

fn group_of(c: &Value, by: &str) -> Value {
    match by {
        "none" => Value::Null,
        "model" => c["model"].clone(),
        "user" => c["user_id"].clone(),
        "key" => c["key_id"].clone(),
        "provider" => c["provider_id"].clone(),
        _ => unreachable!(),
    }
}

fn nearest_rank(mut v: Vec<i64>, p: usize) -> i64 {
    v.sort();
    v[(v.len() * p).div_ceil(100) - 1]
}

/// Every grouping of `stats` (queried as `who`) against `calls`.
async fn check_against(gw: &Gateway, who: &str, path: &str, calls: &[Value], groups: &[&str]) {
    for by in groups {
        for granularity in ["hour", "day"] {
            let q = format!("{path}?granularity={granularity}&group_by={by}&from=2020-01-01T00:00:00Z");
            let (status, v) = gw.request_as(who, "GET", &q, None).await;
            assert_eq!(status, 200, "{q}: {v}");
            let mut want: BTreeMap<String, Sums> = BTreeMap::new();
            for c in calls {
                add_call(want.entry(group_of(c, by).to_string()).or_default(), c);
            }
            let mut got: BTreeMap<String, Sums> = BTreeMap::new();
            for row in v["data"].as_array().unwrap() {
                assert!(row["bucket"].as_str().unwrap().ends_with('Z'), "{row}");
                let s = got.entry(row["group"].to_string()).or_default();
                let r = sums_of_row(row);
                s.calls += r.calls;
                s.successes += r.successes;
                s.failures += r.failures;
                s.input_tokens += r.input_tokens;
                s.output_tokens += r.output_tokens;
                s.cached_tokens += r.cached_tokens;
                s.cost += r.cost;
            }
            assert_eq!(got, want, "{q}");
            let mut total = Sums::default();
            calls.iter().for_each(|c| add_call(&mut total, c));
            assert_eq!(sums_of_row(&v["totals"]), total, "{q}: totals");
        }
    }
    // Percentiles of everything (one bucket: the calls are minutes apart at most, unless the
    // test crossed an hour, so ask by month) within one histogram bucket of the exact values.
    let (_, v) = gw.request_as(who, "GET", &format!("{path}?granularity=month&from=2020-01-01T00:00:00Z"), None).await;
    let durations: Vec<i64> = calls.iter().filter_map(|c| c["duration_ms"].as_i64()).collect();
    let ttfts: Vec<i64> = calls.iter().filter_map(|c| c["ttft_ms"].as_i64()).collect();
    assert!(!ttfts.is_empty(), "the streamed calls have a time to first token");
    for (field, values) in [("duration_ms", &durations), ("ttft_ms", &ttfts)] {
        for p in [50, 95] {
            let exact = nearest_rank(values.clone(), p);
            let got = v["totals"][format!("{field}_p{p}")].as_i64().unwrap();
            assert!(bucket_of(exact).abs_diff(bucket_of(got)) <= 1, "{field} p{p}: exact {exact}, answered {got}");
        }
    }
}

async fn run(engine: Engine) {
    let mock = mock().await;
    let mut gw = Gateway::start(engine).await;
    let a = Fixture::new(&gw, &mock.base_url(), "10").await;
    let b = Fixture::new(&gw, &mock.base_url(), "10").await;
    let mut expected = 0;
    for user in [&a, &b] {
        for model in [&a.model, &b.model] {
            for stream in [false, true] {
                let ask = json!({"model": model, "max_tokens": 20, "stream": stream,
                    "messages": [{"role": "user", "content": "hello there"}]});
                let resp = gw.chat(&user.key, ask.clone()).await;
                assert_eq!(resp.status(), 200);
                resp.text().await.unwrap();
                let resp = gw.messages(&user.key, ask).await;
                assert_eq!(resp.status(), 200);
                resp.text().await.unwrap();
                expected += 2;
            }
        }
    }
    // Failures too: with one request a minute, the second of two is refused and recorded.
    gw.admin_ok("PATCH", &format!("/api/v1/keys/{}", b.key_id), Some(json!({"rpm": 1})), 200).await;
    let mut refused = 0;
    for _ in 0..2 {
        let resp = gw.chat(&b.key, json!({"model": a.model, "messages": [{"role": "user", "content": "hi"}]})).await;
        refused += u16::from(resp.status() == 429);
        expected += 1;
    }
    assert!(refused >= 1, "rpm 1 refuses one of two calls");
    let mut calls = Vec::new();
    for (f, n) in [(&a, 8), (&b, expected - 8)] {
        let settled = |c: &[Value]| c.len() == n && c.iter().all(|c| c["status"] != "processing");
        calls.extend(gw.calls_until(&f.key_id, settled).await);
    }
    assert!(calls.iter().any(|c| c["status"] == "failed"), "a failure is among the records");
    assert_eq!(calls.len(), expected);
    check_against(&gw, MASTER_KEY, "/api/v1/stats", &calls, &["none", "model", "user", "key", "provider"]).await;

    // A key sees its own user's calls only, and no providers.
    let own: Vec<Value> = calls.iter().filter(|c| c["user_id"] == a.user_id.as_str()).cloned().collect();
    check_against(&gw, &a.key, "/api/v1/me/stats", &own, &["none", "model", "user", "key"]).await;
    let (status, v) = gw.request_as(&a.key, "GET", "/api/v1/me/stats?group_by=provider", None).await;
    assert_eq!(status, 400, "{v}");
    let (status, _) = gw.request_as(&a.key, "GET", "/api/v1/stats", None).await;
    assert_eq!(status, 401, "a member key is not an admin key");
    let (status, _) = gw.request_as(MASTER_KEY, "GET", "/api/v1/me/stats", None).await;
    assert_eq!(status, 401, "the master key has no user");

    // Bad parameters are clear 400s.
    for q in [
        "granularity=week",
        "group_by=colour",
        "tz=Mars/Olympus",
        "tz=%2B05:30&granularity=day",
        "tz=%2B05:45",
        "tz=-03:30&granularity=month",
        "from=2030-01-01T00:00:00Z&to=2029-01-01T00:00:00Z",
    ] {
        let (status, v) = gw.admin("GET", &format!("/api/v1/stats?{q}"), None).await;
        assert_eq!(status, 400, "{q}: {v}");
        assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    }
    // Days and months in an offset of whole hours only: such a local day cuts UTC hours in two,
    // which the hourly rollups cannot split. The refusal says so and what to ask instead.
    let (_, v) = gw.admin("GET", "/api/v1/stats?tz=%2B05:45&granularity=day", None).await;
    assert!(v["error"]["message"].as_str().unwrap().contains("granularity=hour"), "{v}");
    assert_eq!(v["error"]["param"], "tz", "{v}");
    // Hours in such an offset are UTC hours, labelled in it, and hold every call.
    let (status, v) =
        gw.admin("GET", "/api/v1/stats?granularity=hour&tz=%2B05:45&from=2020-01-01T00:00:00Z", None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["totals"]["calls"], expected as i64, "{v}");
    assert!(v["data"][0]["bucket"].as_str().unwrap().ends_with(":45:00+05:45"), "{v}");
    // A local day (UTC+8) holds the same calls, labelled at local midnight.
    let (_, v) = gw.admin("GET", "/api/v1/stats?granularity=day&tz=%2B08:00&from=2020-01-01T00:00:00Z", None).await;
    assert_eq!(v["totals"]["calls"], expected as i64, "{v}");
    assert!(v["data"][0]["bucket"].as_str().unwrap().ends_with("T00:00:00+08:00"), "{v}");

    // After a restart, and after `tollgate stats rebuild`, the answers are the same.
    gw.terminate().await;
    let out = gw.run_command(&["stats", "rebuild"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!("from {expected} record(s)")), "{stdout}");
    gw.spawn().await;
    check_against(&gw, MASTER_KEY, "/api/v1/stats", &calls, &["none", "model", "user"]).await;
    gw.stop().await;
}

#[tokio::test]
async fn stats_grouped_each_way_equal_the_records() {
    for engine in engines() {
        run(engine).await;
    }
}

/// Attribution: the client's `traceparent` (or a made trace id) on the answer and the record,
/// the end user each dialect names, the operator's tags; filterable in the call log and
/// groupable in stats; tags over their bounds refused in the caller's dialect.
async fn attribution(engine: Engine) {
    let mock = mock().await;
    let gw = Gateway::start(engine).await;
    let f = Fixture::new(&gw, &mock.base_url(), "10").await;
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let ask = |extra: Value| {
        let mut body = json!({"model": f.model, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    let chat = |body: Value, headers: &[(&str, &str)]| {
        let mut req = gw.http.post(format!("{}/v1/chat/completions", gw.url)).bearer_auth(&f.key).json(&body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send()
    };
    let resp = chat(
        ask(json!({"user": "end-1"})),
        &[("traceparent", &format!("00-{trace}-00f067aa0ba902b7-01")), ("x-tollgate-tags", "team=search, env=prod")],
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-tollgate-trace-id"], trace);
    let resp = chat(ask(json!({"safety_identifier": "end-2", "user": "ignored"})), &[("x-tollgate-tags", "team=ads")])
        .await
        .unwrap();
    let made = resp.headers()["x-tollgate-trace-id"].to_str().unwrap().to_string();
    assert!(made.len() == 32 && made.bytes().all(|b| b.is_ascii_hexdigit()), "{made}");
    let resp = gw
        .http
        .post(format!("{}/v1/messages", gw.url))
        .header("x-api-key", &f.key)
        .header("anthropic-version", ANTHROPIC_VERSION)
        .header("x-tollgate-tags", "team=search")
        .json(&ask(json!({"metadata": {"user_id": "end-1"}})))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // Tags over their bounds: a clear 400 in the caller's dialect, and nothing recorded.
    let many: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
    let resp = chat(ask(json!({})), &[("x-tollgate-tags", &many.join(","))]).await.unwrap();
    let err = crate::setup::expect_error(resp, 400, "invalid_request_error").await;
    assert!(err["error"]["message"].as_str().unwrap().contains("at most 10 tags"), "{err}");
    let resp = gw
        .http
        .post(format!("{}/v1/messages", gw.url))
        .header("x-api-key", &f.key)
        .header("anthropic-version", ANTHROPIC_VERSION)
        .header("x-tollgate-tags", "team")
        .json(&ask(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.unwrap();
    assert_eq!((err["type"].as_str(), err["error"]["type"].as_str()), (Some("error"), Some("invalid_request_error")));
    assert!(err["error"]["message"].as_str().unwrap().contains("x-tollgate-tags"), "{err}");

    let calls = gw.calls_until(&f.key_id, |c| c.len() == 3 && c.iter().all(|c| c["status"] != "processing")).await;
    let first = calls.iter().find(|c| c["trace_id"] == trace).expect("the traced call");
    assert_eq!(
        (first["end_user"].as_str(), &first["tags"]),
        (Some("end-1"), &json!({"env": "prod", "team": "search"}))
    );
    assert!(calls.iter().any(|c| c["trace_id"] == made.as_str() && c["end_user"] == "end-2"), "{calls:?}");
    let ids = |v: &Value| v["data"].as_array().unwrap().iter().map(|c| c["id"].clone()).collect::<Vec<_>>();
    let by_user = gw.admin_ok("GET", "/api/v1/calls?end_user=end-1", None, 200).await;
    assert_eq!(ids(&by_user).len(), 2, "{by_user}");
    let by_tag = gw.admin_ok("GET", "/api/v1/calls?tag=team%3Dsearch", None, 200).await;
    assert_eq!(ids(&by_tag).len(), 2, "{by_tag}");
    let by_trace = gw.admin_ok("GET", &format!("/api/v1/calls?trace_id={trace}"), None, 200).await;
    assert_eq!(ids(&by_trace), vec![first["id"].clone()]);
    assert!(ids(&gw.admin_ok("GET", "/api/v1/calls?tag=team%3Dsea_ch", None, 200).await).is_empty(), "`_` is literal");

    // Stats by end user and by a tag's value equal the records.
    for (by, want) in [("end_user", json!({"end-1": 2, "end-2": 1})), ("tag:team", json!({"search": 2, "ads": 1}))] {
        let v = gw.admin_ok("GET", &format!("/api/v1/stats?group_by={by}&from=2020-01-01T00:00:00Z"), None, 200).await;
        let mut got = serde_json::Map::new();
        for row in v["data"].as_array().unwrap() {
            let n = got.get(row["group"].as_str().unwrap()).and_then(Value::as_i64).unwrap_or(0);
            got.insert(row["group"].as_str().unwrap().to_string(), json!(n + row["calls"].as_i64().unwrap()));
        }
        assert_eq!(Value::Object(got), want, "{by}: {v}");
    }
    let (_, mine) =
        gw.request_as(&f.key, "GET", "/api/v1/me/stats?group_by=tag:env&from=2020-01-01T00:00:00Z", None).await;
    let groups: Vec<&Value> = mine["data"].as_array().unwrap().iter().map(|r| &r["group"]).collect();
    assert!(groups.contains(&&json!("prod")) && groups.contains(&&Value::Null), "{mine}");
    gw.stop().await;
}

#[tokio::test]
async fn calls_carry_their_trace_end_user_and_tags() {
    for engine in engines() {
        attribution(engine).await;
    }
}
