//! Reading the usage log in pages: newest first by `(started_at, id)`, keyset-paged so the
//! last page of ten million records costs what the first does. The SQL is built from the
//! filters actually given (a `($1 IS NULL OR col = $1)` form hides the column from the
//! planner), so each filter reaches its index: `calls_started`, `calls_user`, `calls_key`,
//! `calls_model`, `calls_provider` (each ending in `started_at, id`) and `calls_failed`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::calls::{CallFilter, CallRecord};
use super::on_db;
use super::{Db, StoreResult};

/// Where a page ends: the last row's `(started_at, id)`. Shown to clients as an opaque token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub started_at: i64,
    pub id: String,
}

impl Cursor {
    pub fn after(c: &CallRecord) -> Cursor {
        Cursor { started_at: c.started_at, id: c.id.clone() }
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.started_at, self.id))
    }

    /// The token [`Cursor::encode`] made, or `None`.
    pub fn decode(token: &str) -> Option<Cursor> {
        let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
        let (at, id) = raw.split_once(':')?;
        let started_at = at.parse().ok()?;
        (!id.is_empty()).then(|| Cursor { started_at, id: id.to_string() })
    }
}

/// A cursor as a client sent it: a token, or (as pages gave out before tokens) a call's id,
/// looked up. `None` when it is neither.
pub async fn resolve(db: &Db, token: &str) -> StoreResult<Option<Cursor>> {
    if let Some(c) = Cursor::decode(token) {
        return Ok(Some(c));
    }
    Ok(super::calls::get(db, token).await?.as_ref().map(Cursor::after))
}

/// A bound value of a built query.
enum Arg {
    Text(String),
    Int(i64),
}

/// `WHERE …` for `f` and the rows strictly older than `after`, with its arguments.
fn conditions(f: &CallFilter, after: Option<&Cursor>) -> (String, Vec<Arg>) {
    let mut terms: Vec<String> = Vec::new();
    let mut args: Vec<Arg> = Vec::new();
    let mut eq = |col: &str, v: &Option<String>, terms: &mut Vec<String>| {
        if let Some(v) = v {
            args.push(Arg::Text(v.clone()));
            terms.push(format!("{col} = ${}", args.len()));
        }
    };
    eq("user_id", &f.user_id, &mut terms);
    eq("key_id", &f.key_id, &mut terms);
    eq("model", &f.model, &mut terms);
    eq("provider_id", &f.provider_id, &mut terms);
    match f.status.as_deref() {
        // A literal, so the partial index of failures (few rows among millions) applies.
        Some("failed") => terms.push("status = 'failed'".into()),
        _ => eq("status", &f.status, &mut terms),
    }
    eq("trace_id", &f.trace_id, &mut terms);
    eq("end_user", &f.end_user, &mut terms);
    if let Some(tag) = &f.tag {
        args.push(Arg::Text(super::calls::tag_pattern(tag)));
        terms.push(format!("',' || tags || ',' LIKE ${} ESCAPE '\\'", args.len()));
    }
    if let Some(from) = f.from_ms {
        args.push(Arg::Int(from));
        terms.push(format!("started_at >= ${}", args.len()));
    }
    if let Some(to) = f.to_ms {
        args.push(Arg::Int(to));
        terms.push(format!("started_at < ${}", args.len()));
    }
    if let Some(c) = after {
        // `(started_at, id) < (a, b)`, spelt so both engines see the range on `started_at`.
        args.push(Arg::Int(c.started_at));
        let at = args.len();
        args.push(Arg::Text(c.id.clone()));
        let id = args.len();
        terms.push(format!("started_at <= ${at} AND (started_at < ${at} OR id < ${id})"));
    }
    let clause = if terms.is_empty() { String::new() } else { format!("WHERE {}", terms.join(" AND ")) };
    (clause, args)
}

/// Calls matching `f`, newest first, after `after` (the previous page's [`Cursor`]).
pub async fn list(db: &Db, f: &CallFilter, after: Option<&Cursor>, limit: i64) -> StoreResult<Vec<CallRecord>> {
    let (clause, mut args) = conditions(f, after);
    args.push(Arg::Int(limit));
    let sql = format!("SELECT * FROM calls {clause} ORDER BY started_at DESC, id DESC LIMIT ${}", args.len());
    on_db!(db, |pool| {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for a in args {
            q = match a {
                Arg::Text(s) => q.bind(s),
                Arg::Int(n) => q.bind(n),
            };
        }
        let rows = q.fetch_all(pool).await?;
        rows.iter().map(CallRecord::from_row).collect()
    })
}

/// The cursor of the page after `rows`, if `rows` filled its `limit`.
pub fn next_cursor(rows: &[CallRecord], limit: i64) -> Option<String> {
    (rows.len() as i64 == limit).then(|| rows.last().map(|c| Cursor::after(c).encode())).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_tokens_round_trip_and_refuse_garbage() {
        let c = Cursor { started_at: 1_700_000_000_123, id: "019a-x".into() };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        for bad in ["", "not base64!", &URL_SAFE_NO_PAD.encode("12"), &URL_SAFE_NO_PAD.encode("x:id")] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_given_filters_reach_the_sql() {
        let (clause, args) = conditions(&CallFilter::default(), None);
        assert!(clause.is_empty() && args.is_empty());
        let f = CallFilter { user_id: Some("u".into()), status: Some("failed".into()), ..CallFilter::default() };
        let (clause, args) = conditions(&f, Some(&Cursor { started_at: 5, id: "i".into() }));
        assert_eq!(
            clause,
            "WHERE user_id = $1 AND status = 'failed' AND started_at <= $2 AND (started_at < $2 OR id < $3)"
        );
        assert_eq!(args.len(), 3);
    }
}
