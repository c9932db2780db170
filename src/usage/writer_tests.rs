//! The batch writer against a write the database refuses for good (its user's row is gone):
//! the others commit, exactly once, and the refused one is set aside and counted. Runs on
//! SQLite and, with `TOLLGATE_TEST_POSTGRES_URL`, PostgreSQL.

use std::time::Duration;

use super::quarantine::{Quarantine, REJECTED_FILE};
use super::writer::{commit, replay};
use crate::store::calls::{self, CallRecord, CallWrite};
use crate::store::ledger::{self, NewEntry};
use crate::store::{new_id, test_db, users};

fn entry(user_id: &str, kind: &str, amount: i64, key: String) -> NewEntry {
    NewEntry { user_id: user_id.into(), kind: kind.into(), amount, idempotency_key: key, call_id: None, note: None }
}

fn charged_call(user_id: &str, cost: i64) -> CallWrite {
    let record = CallRecord {
        id: new_id(),
        request_id: "req".into(),
        user_id: user_id.into(),
        key_id: "k".into(),
        dialect: "openai".into(),
        endpoint: "chat".into(),
        model: "m".into(),
        status: "success".into(),
        cost,
        started_at: crate::clock::now_ms(),
        ..CallRecord::default()
    };
    let charge =
        NewEntry { call_id: Some(record.id.clone()), ..entry(user_id, "charge", -cost, format!("call:{}", record.id)) };
    CallWrite { record, charge: Some(charge) }
}

async fn new_user(db: &crate::store::Db, balance: i64) -> String {
    let row = users::UserRow::new_member("u", 1);
    let id = row.id.clone();
    users::save(db, &row).await.unwrap();
    ledger::post(db, &entry(&id, "grant", balance, format!("grant:{id}"))).await.unwrap();
    id
}

/// A batch of two good writes around one for a user with no row.
async fn poisoned_batch(db: &crate::store::Db) -> (String, Vec<CallWrite>) {
    let user = new_user(db, 10_000).await;
    (user.clone(), vec![charged_call(&user, 100), charged_call("no-such-user", 50), charged_call(&user, 200)])
}

async fn check_committed(db: &crate::store::Db, user: &str, batch: &[CallWrite]) {
    assert_eq!(users::get(db, user).await.unwrap().unwrap().balance, 9_700, "both good charges, once each");
    assert_eq!(ledger::sum(db, user).await.unwrap(), 9_700, "balance = sum of the ledger");
    assert_eq!(ledger::list(db, user, None, 10).await.unwrap().len(), 3, "the grant and two charges");
    for w in batch {
        let stored = calls::get(db, &w.record.id).await.unwrap();
        assert_eq!(stored.as_ref(), Some(&w.record), "every record is kept, the refused one without its charge");
    }
    assert_eq!(ledger::sum(db, "no-such-user").await.unwrap(), 0);
}

fn rejected_lines(dir: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join(REJECTED_FILE)).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[tokio::test]
async fn a_refused_write_is_set_aside_and_the_rest_commit_exactly_once() {
    for t in test_db::each().await {
        let db = &t.db;
        let dir = tempfile::tempdir().unwrap();
        let quarantine = Quarantine::new(dir.path());
        let (user, batch) = poisoned_batch(db).await;
        for round in 1..=2 {
            // Committed again, as a replayed journal would be: nothing is charged twice.
            let mut pending = batch.clone();
            tokio::time::timeout(Duration::from_secs(20), commit(db, &mut pending, &quarantine))
                .await
                .expect("a refused write must not make the writer retry forever");
            check_committed(db, &user, &batch).await;
            assert_eq!(quarantine.rejected(), round);
        }
        let lines = rejected_lines(dir.path());
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["write"]["record"]["id"], batch[1].record.id.as_str());
        assert_eq!(lines[0]["write"]["charge"]["amount"], -50);
        assert_eq!(lines[0]["record_kept"], true);
        assert!(lines[0]["error"].as_str().is_some_and(|e| !e.is_empty()));
        t.cleanup().await;
    }
}

#[tokio::test]
async fn replay_sets_a_refused_write_aside_instead_of_failing_start_up() {
    for t in test_db::each().await {
        let db = &t.db;
        let dir = tempfile::tempdir().unwrap();
        let quarantine = Quarantine::new(dir.path());
        let (user, batch) = poisoned_batch(db).await;
        let mut text = String::new();
        for w in &batch {
            text.push_str(&serde_json::to_string(w).unwrap());
            text.push('\n');
        }
        std::fs::write(dir.path().join("calls-000000000001.jsonl"), text).unwrap();
        replay(db, dir.path(), &quarantine).await.expect("replay gets past the refused write");
        check_committed(db, &user, &batch).await;
        assert_eq!(quarantine.rejected(), 1);
        assert_eq!(rejected_lines(dir.path()).len(), 1);
        assert!(!dir.path().join("calls-000000000001.jsonl").exists(), "the replayed segment is deleted");
        t.cleanup().await;
    }
}
