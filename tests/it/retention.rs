//! Retention under traffic, on each engine: old call records (brought in with `tollgate
//! archive import`) are archived to one gzip'd JSON-lines file per UTC day and deleted in
//! small batches while clients keep calling (every call answered and recorded); the spend
//! they carried still counts against a budget after a restart; importing a day back
//! restores it once, and archiving it again leaves one copy of each record in its file. The
//! import rolls up what the rollups lack, once: records new to the database, and those of a
//! day `stats rebuild` recomputed without them; never the ones retention deleted under
//! rollups it kept.

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};
use tollgate::store::calls::CallRecord;

use crate::harness::*;

const DAY_MS: i64 = 86_400_000;

#[tokio::test]
async fn retention_archives_and_deletes_old_days_under_traffic() {
    let mock = mock().await;
    for engine in engines() {
        let mut gw = Gateway::start_with(GatewayOptions {
            engine,
            config_toml: Some(
                // At nice 19 in the normal class ("low"): beside the rest of the suite the cores
                // are never idle, where the default idle class would barely run the job.
                "[retention]\ncalls_days = 2\ninterval_secs = 1\nbatch_rows = 7\nbatch_pause_ms = 5\nwork_percent = 100\ncpu = \"low\"\n"
                    .into(),
            ),
            ..GatewayOptions::default()
        })
        .await;
        let f = Fixture::new(&gw, &mock.base_url(), "100").await;
        let old_key =
            gw.admin_ok("POST", "/api/v1/keys", Some(json!({"user_id": f.user_id, "budget": "50"})), 201).await;
        let (old_key_id, old_secret) = (old_key["id"].as_str().unwrap(), old_key["key"].as_str().unwrap());

        // 30 records on each of two days long past, half a credit each: 30 credits.
        let today = tollgate::clock::now_ms().div_euclid(DAY_MS) * DAY_MS;
        let days = [today - 10 * DAY_MS, today - 9 * DAY_MS];
        let old: Vec<CallRecord> = days
            .iter()
            .flat_map(|day| (0..30).map(|i| old_record(&f.user_id, old_key_id, day + i * 60_000)).collect::<Vec<_>>())
            .collect();
        let file = gw.dir.join("old.jsonl.gz");
        write_archive(&file, &old);

        // Clients keep calling while the import lands and retention deletes.
        let stop = Arc::new(AtomicBool::new(false));
        let mut clients = Vec::new();
        for _ in 0..2 {
            let (http, url, key, model, stop) =
                (gw.http.clone(), gw.url.clone(), f.key.clone(), f.model.clone(), stop.clone());
            clients.push(tokio::spawn(async move {
                let mut statuses = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
                    let resp = http.post(format!("{url}/v1/chat/completions")).bearer_auth(&key).json(&body);
                    statuses.push(resp.send().await.unwrap().status().as_u16());
                }
                statuses
            }));
        }
        let out = gw.run_command(&["archive", "import", file.to_str().unwrap()]).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("60 of 60 call records restored"), "{stdout}");
        let old_path = format!("/api/v1/calls?key_id={old_key_id}&limit=100");
        wait_until(&gw, &old_path, |n| n == 0).await;
        stop.store(true, Ordering::Relaxed);
        let mut statuses = Vec::new();
        for c in clients {
            statuses.extend(c.await.unwrap());
        }
        assert!(statuses.len() >= 4 && statuses.iter().all(|s| *s == 200), "{engine:?}: {statuses:?}");
        // Every call of the traffic is recorded (the writer batches: poll the export).
        let mut recorded = Vec::new();
        for _ in 0..100 {
            let resp = gw
                .http
                .get(format!("{}/api/v1/calls/export?format=jsonl&key_id={}", gw.url, f.key_id))
                .bearer_auth(MASTER_KEY)
                .send()
                .await
                .unwrap();
            recorded = resp.text().await.unwrap().lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).collect();
            if recorded.len() == statuses.len() && recorded.iter().all(|c| c["status"] == "success") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(recorded.len(), statuses.len(), "the traffic's records are all kept");

        // One file per day, each holding that day's records exactly.
        let archive = gw.data_dir().join("archive");
        for day in days {
            let date = &tollgate::clock::rfc3339(day)[..10];
            let mut ids = read_ids(&archive.join(format!("calls-{date}.jsonl.gz")));
            ids.sort();
            let mut want: Vec<String> =
                old.iter().filter(|c| c.started_at.div_euclid(DAY_MS) * DAY_MS == day).map(|c| c.id.clone()).collect();
            want.sort();
            assert_eq!(ids, want, "{engine:?} {date}");
        }

        // The import rolled the new records up; their rows outlive the records.
        assert_eq!(old_days(&gw, &days).await, [30, 30], "{engine:?}");

        // The deleted records' spend still counts against the key's all-time budget after a restart.
        gw.terminate().await;
        gw.spawn().await;
        assert_eq!(spent(&gw, old_secret).await, "30", "{engine:?}");

        // A day imported back comes back once; retention archives it again without duplicates.
        // (Imported twice while the gateway is stopped: a running one's retention, every second
        // here, could take the first import's records away before the second import looks.)
        let day_file = archive.join(format!("calls-{}.jsonl.gz", &tollgate::clock::rfc3339(days[0])[..10]));
        gw.terminate().await;
        for want in ["30 of 30", "0 of 30"] {
            let out = gw.run_command(&["archive", "import", day_file.to_str().unwrap()]).await;
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(stdout.contains(&format!("{want} call records restored")), "{want}: {stdout}");
        }
        gw.spawn().await;
        wait_until(&gw, &old_path, |n| n == 0).await;
        assert_eq!(read_ids(&day_file).len(), 30);
        gw.terminate().await;
        gw.spawn().await;
        assert_eq!(spent(&gw, old_secret).await, "30", "{engine:?}: counted once");
        assert_eq!(old_days(&gw, &days).await, [30, 30], "{engine:?}: imported back, rolled up once");

        // A day recomputed from the records left (none) loses them; importing it adds them back.
        let (from, to) = (tollgate::clock::rfc3339(days[0]), tollgate::clock::rfc3339(days[0] + DAY_MS));
        let out = gw.run_command(&["stats", "rebuild", "--from", &from, "--to", &to]).await;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(old_days(&gw, &days).await, [0, 30], "{engine:?}");
        let out = gw.run_command(&["archive", "import", day_file.to_str().unwrap()]).await;
        assert!(String::from_utf8_lossy(&out.stdout).contains("30 of 30 call records restored"));
        assert_eq!(old_days(&gw, &days).await, [30, 30], "{engine:?}: rolled up by the import");
        gw.stop().await;
    }
}

/// By default the gateway's retention thread runs in Linux's idle scheduling class at nice 19
/// (read from `/proc`: the thread's name is cut to 15 bytes there), and the request threads
/// do not: only the job yields.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_retention_thread_runs_in_the_idle_class() {
    use tollgate::testing::ThreadPriority;
    let gw = Gateway::start_with(GatewayOptions {
        config_toml: Some("[retention]\ncalls_days = 30\n".into()),
        ..GatewayOptions::default()
    })
    .await;
    let threads = |pid: u32| -> Vec<(String, ThreadPriority)> {
        let mut out = Vec::new();
        for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap().flatten() {
            let (Ok(name), Ok(priority)) =
                (std::fs::read_to_string(task.path().join("comm")), ThreadPriority::of_task(task.path()))
            else {
                continue; // a thread that ended while being read
            };
            out.push((name.trim().to_string(), priority));
        }
        out
    };
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen = threads(gw.pid());
        if seen.iter().any(|(name, _)| name == "tollgate-retent") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The job's thread, and any unnamed thread it starts (Linux gives a new thread its
    // creator's name), all in the idle class at nice 19.
    let job: Vec<_> = seen.iter().filter(|(name, _)| name == "tollgate-retent").collect();
    assert!(!job.is_empty(), "the retention thread runs: {seen:?}");
    let idle = ThreadPriority { nice: 19, policy: libc::SCHED_IDLE };
    assert!(job.iter().all(|(_, p)| *p == idle), "{seen:?}");
    // The main thread and the request runtime's workers keep the normal class (the job's own
    // blocking threads, which inherit its class, carry the same default name as the workers).
    let normal = |(_, p): &&(String, ThreadPriority)| p.policy != libc::SCHED_IDLE;
    assert!(seen.iter().filter(|(name, _)| name == "tollgate").all(|t| normal(&t)), "{seen:?}");
    assert!(seen.iter().filter(|(name, _)| name.starts_with("tokio-")).any(|t| normal(&t)), "{seen:?}");
}

fn old_record(user_id: &str, key_id: &str, started_at: i64) -> CallRecord {
    CallRecord {
        id: tollgate::store::new_id(),
        request_id: format!("req_{started_at}"),
        user_id: user_id.into(),
        key_id: key_id.into(),
        dialect: "openai".into(),
        endpoint: "chat".into(),
        model: "old-model".into(),
        status: "success".into(),
        input_tokens: 10,
        output_tokens: 20,
        cost: 500_000_000,
        started_at,
        duration_ms: Some(40),
        ..CallRecord::default()
    }
}

fn write_archive(path: &std::path::Path, records: &[CallRecord]) {
    let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(path).unwrap(), flate2::Compression::fast());
    for r in records {
        writeln!(gz, "{}", serde_json::to_string(r).unwrap()).unwrap();
    }
    gz.finish().unwrap();
}

fn read_ids(path: &std::path::Path) -> Vec<String> {
    let reader = std::io::BufReader::new(flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap()));
    reader.lines().map(|l| serde_json::from_str::<CallRecord>(&l.unwrap()).unwrap().id).collect()
}

/// Polls a call list until its length satisfies `pred` (retention runs every second), for up
/// to two minutes: retention's thread runs at the lowest CPU priority, so while the rest of
/// the suite keeps both cores busy it gets a sliver of a core and takes far longer than the
/// ten seconds it takes alone.
async fn wait_until(gw: &Gateway, path: &str, pred: impl Fn(usize) -> bool) {
    let mut n = 0;
    for _ in 0..1200 {
        n = gw.admin_ok("GET", path, None, 200).await["data"].as_array().unwrap().len();
        if pred(n) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{path}: still {n} calls; log:\n{}", gw.log());
}

/// The calls of `old-model` the stats count on each of `days` (from the day rollups), and
/// checks each counted call's cost (half a credit).
async fn old_days(gw: &Gateway, days: &[i64]) -> Vec<i64> {
    let (from, to) = (days[0] / 1000, (days[days.len() - 1] + DAY_MS) / 1000);
    let path = format!("/api/v1/stats?granularity=day&group_by=model&from={from}&to={to}");
    let v = gw.admin_ok("GET", &path, None, 200).await;
    let rows: Vec<&Value> = v["data"].as_array().unwrap().iter().filter(|r| r["group"] == "old-model").collect();
    days.iter()
        .map(|day| {
            let label = &tollgate::clock::rfc3339(*day)[..10];
            let row = rows.iter().find(|r| r["bucket"].as_str().unwrap().starts_with(label));
            let calls = row.map_or(0, |r| r["calls"].as_i64().unwrap());
            if let Some(r) = row {
                let cost: f64 = r["cost"].as_str().unwrap().parse().unwrap();
                assert_eq!(cost, calls as f64 * 0.5, "{r}");
            }
            calls
        })
        .collect()
}

async fn spent(gw: &Gateway, key: &str) -> String {
    let (status, me): (u16, Value) = gw.request_as(key, "GET", "/api/v1/me", None).await;
    assert_eq!(status, 200, "{me}");
    me["limits"]["key"]["budget"]["spent"].as_str().unwrap().to_string()
}
