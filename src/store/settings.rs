//! Small named values the gateway keeps about itself (e.g. the generated admin key's hash).

use super::on_db;
use super::{Db, StoreResult};

pub async fn get(db: &Db, name: &str) -> StoreResult<Option<String>> {
    on_db!(db, |pool| {
        sqlx::query_scalar("SELECT value FROM settings WHERE name = $1").bind(name).fetch_optional(pool).await
    })
}

pub async fn set(db: &Db, name: &str, value: &str) -> StoreResult<()> {
    on_db!(db, |pool| {
        sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = $2")
            .bind(name)
            .bind(value)
            .execute(pool)
            .await
            .map(|_| ())
    })
}
