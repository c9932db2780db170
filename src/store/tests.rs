//! Store tests, run against SQLite and (when configured) PostgreSQL.

use super::call_list;
use super::calls::{self, CallFilter, CallRecord, CallWrite};
use super::ledger::{self, NewEntry};
use super::test_db;
use super::users::{self, UserRow};
use super::{migrate, new_id, providers};

fn user(name: &str) -> UserRow {
    UserRow::new_member(name, 1)
}

fn grant(user_id: &str, amount: i64, key: &str) -> NewEntry {
    NewEntry {
        user_id: user_id.into(),
        kind: "grant".into(),
        amount,
        idempotency_key: key.into(),
        call_id: None,
        note: None,
    }
}

fn call(user_id: &str, status: &str) -> CallRecord {
    CallRecord {
        id: new_id(),
        request_id: "req".into(),
        user_id: user_id.into(),
        key_id: "k1".into(),
        dialect: "openai".into(),
        endpoint: "chat".into(),
        model: "m".into(),
        status: status.into(),
        started_at: crate::clock::now_ms(),
        ..CallRecord::default()
    }
}

#[tokio::test]
async fn migrations_are_idempotent() {
    for t in test_db::each().await {
        migrate::run(&t.db).await.unwrap();
        migrate::run(&t.db).await.unwrap();
        t.cleanup().await;
    }
}

#[tokio::test]
async fn ledger_is_idempotent_and_balance_is_its_sum() {
    for t in test_db::each().await {
        let db = &t.db;
        let u = user("a");
        users::save(db, &u).await.unwrap();
        let (first, new) = ledger::post(db, &grant(&u.id, 5_000, "g1")).await.unwrap();
        assert!(new);
        assert_eq!(first.balance_after, 5_000);
        let (again, new) = ledger::post(db, &grant(&u.id, 5_000, "g1")).await.unwrap();
        assert!(!new, "a repeated idempotency key changes nothing");
        assert_eq!(again.id, first.id);
        ledger::post(db, &grant(&u.id, -1_500, "g2")).await.unwrap();
        let stored = users::get(db, &u.id).await.unwrap().unwrap();
        assert_eq!(stored.balance, 3_500);
        assert_eq!(ledger::sum(db, &u.id).await.unwrap(), 3_500);
        assert_eq!(ledger::list(db, &u.id, None, 10).await.unwrap().len(), 2);
        assert!(ledger::post(db, &grant("nobody", 1, "g3")).await.is_err(), "unknown user");
        t.cleanup().await;
    }
}

#[tokio::test]
async fn ledger_refuses_out_of_range_balances_and_reused_keys_with_other_content() {
    for t in test_db::each().await {
        let db = &t.db;
        let u = user("overflow");
        users::save(db, &u).await.unwrap();
        ledger::post(db, &grant(&u.id, i64::MAX - 10, "big")).await.unwrap();
        let err = ledger::post(db, &grant(&u.id, 11, "over")).await.unwrap_err();
        assert!(matches!(err, ledger::PostError::OutOfRange { balance } if balance == i64::MAX - 10), "{err:?}");
        ledger::post(db, &grant(&u.id, 10, "to-max")).await.unwrap();
        // And below: an adjustment past i64::MIN.
        ledger::post(db, &grant(&u.id, -i64::MAX, "down")).await.unwrap();
        ledger::post(db, &grant(&u.id, -i64::MAX, "down-2")).await.unwrap();
        let err = ledger::post(db, &grant(&u.id, -2, "floor")).await.unwrap_err();
        assert!(matches!(err, ledger::PostError::OutOfRange { balance } if balance == -i64::MAX), "{err:?}");
        ledger::post(db, &grant(&u.id, i64::MAX, "up")).await.unwrap();
        // Nothing was written by the refused entries: the balance is still the ledger's sum.
        let stored = users::get(db, &u.id).await.unwrap().unwrap();
        assert_eq!(stored.balance, 0);
        assert_eq!(ledger::list(db, &u.id, None, 10).await.unwrap().len(), 5);

        // A key reused with another amount (or user) is refused; the same content is a repeat.
        let (first, _) = ledger::post(db, &grant(&u.id, 5, "k")).await.unwrap();
        assert!(!ledger::post(db, &grant(&u.id, 5, "k")).await.unwrap().1);
        let err = ledger::post(db, &grant(&u.id, 6, "k")).await.unwrap_err();
        assert!(matches!(&err, ledger::PostError::KeyReused(e) if e.id == first.id), "{err:?}");
        let other = user("other");
        users::save(db, &other).await.unwrap();
        assert!(matches!(ledger::post(db, &grant(&other.id, 5, "k")).await, Err(ledger::PostError::KeyReused(_))));
        assert_eq!(ledger::sum(db, &u.id).await.unwrap(), 5);
        assert_eq!(ledger::sum(db, &other.id).await.unwrap(), 0);
        t.cleanup().await;
    }
}

#[tokio::test]
async fn call_batches_upsert_and_charge_exactly_once() {
    for t in test_db::each().await {
        let db = &t.db;
        let u = user("b");
        users::save(db, &u).await.unwrap();
        ledger::post(db, &grant(&u.id, 10_000, "g")).await.unwrap();
        let mut c = call(&u.id, "processing");
        calls::apply_batch(db, &[CallWrite { record: c.clone(), charge: None }]).await.unwrap();
        c.status = "success".into();
        c.cost = 700;
        let charge = NewEntry {
            kind: "charge".into(),
            amount: -700,
            idempotency_key: format!("call:{}", c.id),
            call_id: Some(c.id.clone()),
            ..grant(&u.id, 0, "")
        };
        let w = CallWrite { record: c.clone(), charge: Some(charge) };
        let posted = calls::apply_batch(db, &[w.clone(), w.clone()]).await.unwrap();
        assert_eq!(posted, vec![(u.id.clone(), -700)], "the second write of the same call is not charged");
        calls::apply_batch(db, &[w]).await.unwrap();
        assert_eq!(users::get(db, &u.id).await.unwrap().unwrap().balance, 9_300);
        assert_eq!(ledger::sum(db, &u.id).await.unwrap(), 9_300, "balance = sum of the ledger");
        let entries = ledger::list(db, &u.id, None, 10).await.unwrap();
        assert_eq!((entries.len(), entries[0].balance_after), (2, 9_300), "one charge, after the grant");
        let stored = calls::get(db, &c.id).await.unwrap().unwrap();
        assert_eq!(stored, c);
        t.cleanup().await;
    }
}

#[tokio::test]
async fn stale_calls_close_and_filters_page_by_cursor() {
    for t in test_db::each().await {
        let db = &t.db;
        let mut ids = Vec::new();
        for status in ["processing", "success", "success", "failed"] {
            let c = call("u", status);
            ids.push(c.id.clone());
            calls::apply_batch(db, &[CallWrite { record: c, charge: None }]).await.unwrap();
        }
        assert_eq!(calls::close_stale(db).await.unwrap(), 1);
        let closed = calls::get(db, &ids[0]).await.unwrap().unwrap();
        assert_eq!((closed.status.as_str(), closed.error_class.as_deref()), ("failed", Some("interrupted")));
        let all = CallFilter::default();
        let page1 = call_list::list(db, &all, None, 2).await.unwrap();
        assert_eq!(page1.iter().map(|c| c.id.clone()).collect::<Vec<_>>(), vec![ids[3].clone(), ids[2].clone()]);
        let after = call_list::resolve(db, &call_list::next_cursor(&page1, 2).unwrap()).await.unwrap();
        let legacy = call_list::resolve(db, &page1[1].id).await.unwrap();
        assert_eq!(legacy, after, "a call id, the cursor pages gave before tokens, still pages");
        let page2 = call_list::list(db, &all, after.as_ref(), 2).await.unwrap();
        assert_eq!(page2.iter().map(|c| c.id.clone()).collect::<Vec<_>>(), vec![ids[1].clone(), ids[0].clone()]);
        let failed = CallFilter { status: Some("failed".into()), ..CallFilter::default() };
        assert_eq!(call_list::list(db, &failed, None, 10).await.unwrap().len(), 2);
        let none = CallFilter { user_id: Some("other".into()), ..CallFilter::default() };
        assert!(call_list::list(db, &none, None, 10).await.unwrap().is_empty());
        t.cleanup().await;
    }
}

/// Paging through any filter, page by page, yields exactly the matching rows, newest first by
/// `(started_at, id)`, whatever the page size — ties on `started_at` included.
#[tokio::test]
async fn keyset_pages_cover_every_filter_exactly() {
    for t in test_db::each().await {
        let db = &t.db;
        let mut all = Vec::new();
        for i in 0..120_i64 {
            let mut c = call(["u1", "u2", "u3"][(i % 3) as usize], if i % 7 == 0 { "failed" } else { "success" });
            c.key_id = format!("k{}", i % 4);
            c.model = ["m1", "m2"][(i % 2) as usize].into();
            c.provider_id = Some(["p1", "p2", "p3"][(i % 3) as usize].into());
            // Out of insertion order, with ties.
            c.started_at = 1_000_000 + (i * 37 % 50) * 1000;
            all.push(c.clone());
            calls::apply_batch(db, &[CallWrite { record: c, charge: None }]).await.unwrap();
        }
        let window = CallFilter {
            status: Some("success".into()),
            from_ms: Some(1_010_000),
            to_ms: Some(1_030_000),
            ..CallFilter::default()
        };
        let filters = [
            CallFilter::default(),
            CallFilter { user_id: Some("u2".into()), ..CallFilter::default() },
            CallFilter { key_id: Some("k1".into()), model: Some("m2".into()), ..CallFilter::default() },
            CallFilter { provider_id: Some("p3".into()), ..CallFilter::default() },
            CallFilter { status: Some("failed".into()), ..CallFilter::default() },
            window,
        ];
        for f in &filters {
            let mut want: Vec<&CallRecord> = all
                .iter()
                .filter(|c| f.user_id.as_ref().is_none_or(|v| &c.user_id == v))
                .filter(|c| f.key_id.as_ref().is_none_or(|v| &c.key_id == v))
                .filter(|c| f.model.as_ref().is_none_or(|v| &c.model == v))
                .filter(|c| f.provider_id.as_ref().is_none_or(|v| c.provider_id.as_ref() == Some(v)))
                .filter(|c| f.status.as_ref().is_none_or(|v| &c.status == v))
                .filter(|c| f.from_ms.is_none_or(|v| c.started_at >= v))
                .filter(|c| f.to_ms.is_none_or(|v| c.started_at < v))
                .collect();
            want.sort_by(|a, b| (b.started_at, &b.id).cmp(&(a.started_at, &a.id)));
            let want: Vec<String> = want.iter().map(|c| c.id.clone()).collect();
            assert!(!want.is_empty(), "{f:?} matches some rows");
            for size in [1, 7, 500] {
                let (mut got, mut after) = (Vec::new(), None);
                loop {
                    let page = call_list::list(db, f, after.as_ref(), size).await.unwrap();
                    got.extend(page.iter().map(|c| c.id.clone()));
                    match call_list::next_cursor(&page, size) {
                        Some(token) => after = call_list::Cursor::decode(&token),
                        None => break,
                    }
                }
                assert_eq!(got, want, "{f:?} in pages of {size}");
            }
        }
        t.cleanup().await;
    }
}

#[tokio::test]
async fn providers_and_credentials_round_trip_and_cascade() {
    for t in test_db::each().await {
        let db = &t.db;
        let p = providers::ProviderRow {
            id: new_id(),
            name: "p".into(),
            kind: "openai".into(),
            base_url: Some("http://x/v1".into()),
            region: None,
            enabled: true,
            timeouts: Some(crate::config::Timeouts::default()),
            api_version: Some("2024-10-21".into()),
            markup: crate::billing::markup::Rule {
                multiplier: Some(crate::billing::markup::Multiplier::parse("1.25").unwrap()),
                request_fee: None,
            },
            created_at: 1,
            updated_at: 1,
        };
        providers::save(db, &p).await.unwrap();
        let c = providers::CredentialRow {
            id: new_id(),
            provider_id: p.id.clone(),
            name: "c".into(),
            secret_sealed: "sealed".into(),
            secret_masked: "sk-…1234".into(),
            key_id: "k".into(),
            weight: 5,
            enabled: true,
            disabled_reason: None,
            created_at: 1,
            updated_at: 1,
        };
        providers::save_credential(db, &c).await.unwrap();
        let got = providers::get(db, "p").await.unwrap().unwrap();
        assert_eq!(got.timeouts, p.timeouts);
        assert_eq!(got.markup, p.markup);
        assert_eq!(providers::list_credentials(db, Some(&p.id)).await.unwrap()[0].weight, 5);
        let dup = providers::ProviderRow { id: new_id(), ..p.clone() };
        assert!(super::is_unique_violation(&providers::save(db, &dup).await.unwrap_err()));
        assert!(providers::delete(db, &p.id).await.unwrap());
        assert!(providers::get_credential(db, &c.id).await.unwrap().is_none(), "credentials cascade");
        t.cleanup().await;
    }
}

#[tokio::test]
async fn price_snapshots_keep_base_markup_and_provider_cost() {
    use crate::billing::markup::{Markup, Multiplier};
    use crate::billing::pricing::Pricing;
    for t in test_db::each().await {
        let db = &t.db;
        let mut c = call("u", "success");
        c.price = Some(Pricing { input: 150_000_000, output: 600_000_000, ..Pricing::default() });
        c.markup = Markup { multiplier: Multiplier::parse("1.5").unwrap(), request_fee: 7 };
        (c.cost, c.provider_cost) = (675_007, 450_000);
        calls::apply_batch(db, &[CallWrite { record: c.clone(), charge: None }]).await.unwrap();
        assert_eq!(calls::get(db, &c.id).await.unwrap().unwrap(), c);
        let effective = super::on_db!(db, |pool| {
            sqlx::query_scalar::<_, String>("SELECT effective_price FROM calls WHERE id = $1")
                .bind(&c.id)
                .fetch_one(pool)
                .await
        })
        .unwrap();
        let effective: Pricing = serde_json::from_str(&effective).unwrap();
        assert_eq!((effective.input, effective.output, effective.per_request), (225_000_000, 900_000_000, 7));
        // A record from before markups: ×1, no fee, charged at cost.
        super::on_db!(db, |pool| {
            sqlx::query("UPDATE calls SET multiplier_ppm = NULL, request_fee = NULL, provider_cost = NULL")
                .execute(pool)
                .await
                .map(|_| ())
        })
        .unwrap();
        let old = calls::get(db, &c.id).await.unwrap().unwrap();
        assert_eq!((old.markup, old.provider_cost), (Markup::NONE, 675_007));
        t.cleanup().await;
    }
}
