//! PostgreSQL unreachable mid-traffic (issue 12's battery). The shared server cannot be
//! stopped, so the gateway reaches it through a TCP proxy the test controls; cutting the proxy
//! drops every connection and refuses new ones, as a stopped server does. Expected: model
//! calls go on (they are admitted and charged from memory, their records wait in the journal),
//! the management API answers a clear 503, nothing is lost once the database is back, and the
//! gateway recovers without a restart, its claim on the database taken again.
//!
//! The cut lasts `TOLLGATE_TEST_PG_CUT_SECS` (default 12: past the pool's 10-second acquire
//! timeout and the writer's 5-second retry cap, so every timer involved has run out; the
//! 30-second run is documented in bench/RESILIENCE.md).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::Connection;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinSet;

use crate::harness::*;

/// A TCP proxy to PostgreSQL that can be cut (connections dropped, new ones refused) and
/// restored on the same port.
struct Proxy {
    port: u16,
    upstream: String,
    serving: Option<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = Proxy::bind(0);
        let port = listener.local_addr().unwrap().port();
        let mut p = Proxy { port, upstream, serving: None };
        p.serving = Some(tokio::spawn(Proxy::serve(listener, p.upstream.clone())));
        p
    }

    fn bind(port: u16) -> TcpListener {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(([127, 0, 0, 1], port).into()).unwrap();
        socket.listen(128).unwrap()
    }

    /// Accepts and relays until aborted; aborting drops the listener and every connection.
    async fn serve(listener: TcpListener, upstream: String) {
        let mut conns = JoinSet::new();
        loop {
            let (mut client, _) = listener.accept().await.unwrap();
            let upstream = upstream.clone();
            conns.spawn(async move {
                if let Ok(mut server) = TcpStream::connect(&upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    }

    /// Drops every relayed connection and closes the port (a connect is refused).
    fn cut(&mut self) {
        self.serving.take().unwrap().abort();
    }

    fn restore(&mut self) {
        let listener = Proxy::bind(self.port);
        self.serving = Some(tokio::spawn(Proxy::serve(listener, self.upstream.clone())));
    }
}

/// `postgres://user@host:port/db` → (`host:port`, the URL through `proxy_port`).
fn through_proxy(url: &str, proxy_port: u16) -> (String, String) {
    let rest = url.strip_prefix("postgres://").unwrap();
    let (auth_host, db) = rest.split_once('/').unwrap();
    let (auth, host) = auth_host.rsplit_once('@').map_or(("", auth_host), |(a, h)| (a, h));
    let host = if host.contains(':') { host.to_string() } else { format!("{host}:5432") };
    let at = if auth.is_empty() { String::new() } else { format!("{auth}@") };
    (host, format!("postgres://{at}127.0.0.1:{proxy_port}/{db}"))
}

/// What the traffic saw: answers by status, and the cost of every success.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    unavailable: AtomicU64,
    other: std::sync::Mutex<Vec<String>>,
}

/// One call in `dialect`; a 503 must be in that dialect's error shape.
async fn one_call(gw_url: &str, http: &reqwest::Client, f: &Fixture, anthropic: bool, tally: &Tally) {
    let msgs = json!([{"role": "user", "content": "hi"}]);
    let req = if anthropic {
        http.post(format!("{gw_url}/v1/messages"))
            .header("x-api-key", &f.key)
            .header("anthropic-version", ANTHROPIC_VERSION)
            .json(&json!({"model": f.model, "max_tokens": 50, "messages": msgs}))
    } else {
        http.post(format!("{gw_url}/v1/chat/completions"))
            .bearer_auth(&f.key)
            .json(&json!({"model": f.model, "max_tokens": 50, "messages": msgs}))
    };
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    match status {
        200 => {
            tally.ok.fetch_add(1, Ordering::Relaxed);
        }
        503 if anthropic && body["type"] == "error" && body["error"]["message"].is_string() => {
            tally.unavailable.fetch_add(1, Ordering::Relaxed);
        }
        503 if !anthropic && body["error"]["message"].is_string() => {
            tally.unavailable.fetch_add(1, Ordering::Relaxed);
        }
        _ => tally.other.lock().unwrap().push(format!("{status} {body}")),
    }
}

#[tokio::test]
async fn postgres_cut_mid_traffic_loses_no_charge_and_recovers_without_restart() {
    let Some(pg) = tollgate::testing::PostgresDatabase::create_from_env().await else { return };
    let cut_secs: u64 = std::env::var("TOLLGATE_TEST_PG_CUT_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(12);
    let (server, _) = through_proxy(&pg.url, 0);
    let mut proxy = Proxy::start(server).await;
    let (_, proxied) = through_proxy(&pg.url, proxy.port);
    let mock = mock().await;
    let gw = Gateway::start_with(GatewayOptions {
        engine: Engine::Sqlite,
        env: vec![("TOLLGATE_DATABASE_URL".into(), proxied)],
        ..GatewayOptions::default()
    })
    .await;
    let f = Arc::new(Fixture::new(&gw, &mock.scenario_url("prompt_tokens=1000,completion_tokens=20"), "100").await);

    // Four clients, both dialects, calling without pause until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let mut clients = JoinSet::new();
    for i in 0..4 {
        let (url, f, stop, tally) = (gw.url.clone(), f.clone(), stop.clone(), tally.clone());
        clients.spawn(async move {
            let http = reqwest::Client::new();
            while !stop.load(Ordering::Relaxed) {
                one_call(&url, &http, &f, i % 2 == 1, &tally).await;
            }
        });
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = tally.ok.load(Ordering::Relaxed);
    proxy.cut();
    let cut_at = Instant::now();
    // The management API needs the database: a clear 503 in its (OpenAI) shape, not a 500.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let asked = Instant::now();
    let (status, body) = gw.admin("GET", &format!("/api/v1/users/{}", f.user_id), None).await;
    let answered_in = asked.elapsed();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "database_unavailable", "{body}");
    let remaining = Duration::from_secs(cut_secs).saturating_sub(cut_at.elapsed());
    tokio::time::sleep(remaining).await;
    let during = tally.ok.load(Ordering::Relaxed) - before;
    proxy.restore();
    let restored_at = Instant::now();
    // The gateway's claim on the database was taken again: a restore is refused.
    let reclaimed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match tollgate::store::presence::exclusive(&pg.url).await {
                Err(e) => {
                    assert!(e.contains("a gateway is running"), "{e}");
                    return restored_at.elapsed();
                }
                Ok(claim) => claim.release().await,
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the gateway takes its claim on the database again after the outage");
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    while clients.join_next().await.is_some() {}

    let ok = tally.ok.load(Ordering::Relaxed);
    let unavailable = tally.unavailable.load(Ordering::Relaxed);
    let other = tally.other.lock().unwrap().clone();
    assert!(other.is_empty(), "only successes and clear 503s: {other:?}");
    assert!(during > 0, "model calls went on while the database was cut");

    // Recovered without a restart: every success recorded and charged exactly once.
    let recovered = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let (status, v) = gw.admin("GET", &format!("/api/v1/calls?key_id={}&limit=1", f.key_id), None).await;
            if status == 200 && v["data"].is_array() {
                return restored_at.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the management API answers again");
    let db_check = async || {
        let mut conn = sqlx::PgConnection::connect(&pg.url).await.unwrap();
        let charges: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM ledger WHERE kind = 'charge'").fetch_one(&mut conn).await.unwrap();
        let distinct: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT call_id) FROM ledger WHERE kind = 'charge'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        let successes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM calls WHERE status = 'success'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        let unbalanced: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM users u
             WHERE u.balance <> (SELECT COALESCE(SUM(l.amount), 0) FROM ledger l WHERE l.user_id = u.id)",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
        (charges, distinct, successes, unbalanced)
    };
    let settled = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let seen = db_check().await;
            if seen.0 as u64 == ok && seen.2 as u64 == ok {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    let (charges, distinct, successes, unbalanced) = settled.unwrap_or_else(|_| panic!("{:?}", "never settled"));
    assert_eq!((charges, distinct, successes), (ok as i64, ok as i64, ok as i64), "one charge per success");
    assert_eq!(unbalanced, 0, "every balance is the sum of its ledger");
    // The in-memory balance the gateway answers with is the database's.
    let expected = 100_000_000_000i64 - ok as i64 * 2_700_000;
    let shown = f.balance(&gw).await;
    assert_eq!(shown, tollgate::billing::money::format_credits(expected));

    println!(
        "PostgreSQL cut {cut_secs} s: {ok} calls answered ({during} during the cut), {unavailable} clear 503s; \
         management API 503 in {answered_in:?}; management API back {recovered:?} and claim re-taken \
         {reclaimed:?} after the restore; {charges} charges, each once"
    );
    gw.stop().await;
    pg.drop_database().await;
}
