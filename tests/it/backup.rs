//! `tollgate backup` and `tollgate restore` on each engine: a backup taken while a real
//! gateway takes calls opens, passes its integrity check and has every balance equal to the
//! sum of its ledger; a restore is refused while the gateway runs, and once it is stopped the
//! restored gateway shows the backup's balances.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;
use sqlx::Connection;

use crate::harness::*;

#[tokio::test]
async fn a_backup_under_write_load_is_whole_and_restores_its_balances() {
    let mock = mock().await;
    for engine in engines() {
        let mut gw = Gateway::start(engine).await;
        let f = Fixture::new(&gw, &mock.base_url(), "100").await;
        let stop = Arc::new(AtomicBool::new(false));
        let mut clients = Vec::new();
        for _ in 0..3 {
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
        // Writes are landing (charges in the ledger) when the backup starts.
        gw.calls_until(&f.key_id, |c| c.len() >= 10).await;
        let file = gw.dir.join(if engine == Engine::Sqlite { "backup.db" } else { "backup.dump" });
        let out = gw.run_command(&["backup", file.to_str().unwrap()]).await;
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() && said.contains("backup written"), "{engine:?}: {said}");
        // More calls after the backup: the restore must take the balance back.
        gw.calls_until(&f.key_id, |c| c.len() >= 30).await;
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            let statuses = c.await.unwrap();
            assert!(statuses.iter().all(|s| *s == 200), "{engine:?}: {statuses:?}");
        }

        // What the backup holds: whole, balanced.
        let scratch = match engine {
            Engine::Sqlite => None,
            Engine::Postgres => Some(restore_into_scratch(&file).await),
        };
        let backup_url = match &scratch {
            None => format!("sqlite://{}?mode=ro", file.display()),
            Some(pg) => pg.url.clone(),
        };
        let backup_balance = check_balanced(&backup_url, &f.user_id, engine).await;
        if let Some(pg) = scratch {
            pg.drop_database().await;
        }
        let before_restore = f.balance(&gw).await;
        assert_ne!(before_restore, tollgate::billing::money::format_credits(backup_balance), "calls after the backup");

        let out = gw.run_command(&["restore", file.to_str().unwrap()]).await;
        let said = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!out.status.success() && said.contains("a gateway is running"), "{engine:?}: {said}");
        gw.terminate().await;
        let out = gw.run_command(&["restore", file.to_str().unwrap()]).await;
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() && said.contains("restored"), "{engine:?}: {said}");
        gw.spawn().await;
        assert_eq!(f.balance(&gw).await, tollgate::billing::money::format_credits(backup_balance), "{engine:?}");
        gw.stop().await;
    }
}

/// `pg_restore` of a custom-format dump into a fresh database.
async fn restore_into_scratch(file: &std::path::Path) -> tollgate::testing::PostgresDatabase {
    let pg = tollgate::testing::PostgresDatabase::create_from_env().await.unwrap();
    let out = tokio::process::Command::new("pg_restore")
        .args(["--no-owner", &format!("--dbname={}", pg.url), file.to_str().unwrap()])
        .output()
        .await
        .expect("pg_restore");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    pg
}

/// Checks the database at `url` (integrity on SQLite; every balance equal to the sum of its
/// ledger) and answers `user_id`'s balance in nano-credits.
async fn check_balanced(url: &str, user_id: &str, engine: Engine) -> i64 {
    const UNBALANCED: &str = "SELECT COUNT(*) FROM users u
        WHERE u.balance <> (SELECT COALESCE(SUM(l.amount), 0) FROM ledger l WHERE l.user_id = u.id)";
    if engine == Engine::Sqlite {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        let ok: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut conn).await.unwrap();
        assert_eq!(ok, "ok");
        let unbalanced: i64 = sqlx::query_scalar(UNBALANCED).fetch_one(&mut conn).await.unwrap();
        assert_eq!(unbalanced, 0, "every balance is the sum of its ledger");
        let charges: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM ledger WHERE kind = 'charge'").fetch_one(&mut conn).await.unwrap();
        assert!(charges >= 10, "the backup holds the charges made before it: {charges}");
        sqlx::query_scalar("SELECT balance FROM users WHERE id = $1").bind(user_id).fetch_one(&mut conn).await.unwrap()
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        let unbalanced: i64 = sqlx::query_scalar(UNBALANCED).fetch_one(&mut conn).await.unwrap();
        assert_eq!(unbalanced, 0, "every balance is the sum of its ledger");
        let charges: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM ledger WHERE kind = 'charge'").fetch_one(&mut conn).await.unwrap();
        assert!(charges >= 10, "the backup holds the charges made before it: {charges}");
        let balance: i64 = sqlx::query_scalar("SELECT balance FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        balance
    }
}
