//! Databases for store tests: a fresh SQLite file always, and a fresh PostgreSQL database
//! whenever `TOLLGATE_TEST_POSTGRES_URL` is set.

use super::Db;

pub struct TestDb {
    pub db: Db,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<crate::testing::PostgresDatabase>,
}

impl TestDb {
    pub async fn cleanup(self) {
        self.db.close().await;
        if let Some(pg) = self.postgres {
            pg.drop_database().await;
        }
    }
}

/// One migrated database per engine under test.
pub async fn each() -> Vec<TestDb> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let db = Db::connect(&url, None).await.unwrap();
    super::migrate::run(&db).await.unwrap();
    let mut out = vec![TestDb { db, _dir: Some(dir), postgres: None }];
    if let Some(pg) = crate::testing::PostgresDatabase::create_from_env().await {
        let db = Db::connect(&pg.url, Some(4)).await.unwrap();
        super::migrate::run(&db).await.unwrap();
        out.push(TestDb { db, _dir: None, postgres: Some(pg) });
    }
    out
}
