//! Stats groupings the rollups do not keep — by end user, by one tag's value — summed from the
//! call records themselves (finished calls started in the range), so they cost a scan of the
//! range's records rather than of its rollup rows.

use std::collections::BTreeMap;

use futures_util::TryStreamExt;

use super::call_record::CallRecord;
use super::rollups::{GroupedRow, sample};
use super::{Db, StoreResult};
use crate::protocol::attribution::tag_value;
use crate::stats::rollup::Rollup;

/// What the records are grouped by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordGroup {
    EndUser,
    /// The value of this tag (calls without it form the empty group).
    Tag(String),
}

impl RecordGroup {
    fn of(&self, c: &CallRecord) -> String {
        match self {
            RecordGroup::EndUser => c.end_user.clone().unwrap_or_default(),
            RecordGroup::Tag(name) => {
                c.tags.as_deref().and_then(|t| tag_value(t, name)).unwrap_or_default().to_string()
            }
        }
    }
}

/// The finished calls started in `[from, to)` (of `user_id` only, when given), summed per
/// `bucket(started_at)` and group.
pub async fn query(
    db: &Db,
    from: i64,
    to: i64,
    group: &RecordGroup,
    user_id: Option<&str>,
    bucket: impl Fn(i64) -> i64,
) -> StoreResult<Vec<GroupedRow>> {
    let mut cells: BTreeMap<(i64, String), Rollup> = BTreeMap::new();
    let sql = "SELECT * FROM calls WHERE started_at >= $1 AND started_at < $2 AND status <> 'processing'
                   AND ($3 IS NULL OR user_id = $3)";
    super::on_db!(db, |pool| {
        let mut rows = sqlx::query(sql).bind(from).bind(to).bind(user_id).fetch(pool);
        while let Some(row) = rows.try_next().await? {
            let c = CallRecord::from_row(&row)?;
            cells.entry((bucket(c.started_at), group.of(&c))).or_default().add(&sample(&c));
        }
    });
    Ok(cells.into_iter().map(|((bucket, group), rollup)| GroupedRow { bucket, group, rollup }).collect())
}
