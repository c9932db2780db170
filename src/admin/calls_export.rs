//! `GET /api/v1/calls/export?format=csv|jsonl&<the list's filters>`: every matching call,
//! newest first, streamed into the response in keyset-paged chunks read from the database
//! as the client takes them, so memory stays constant over millions of rows. Calls recorded
//! after the export began are newer than its first row and are not in it.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::api::ApiQuery;
use super::calls::CallQuery;
use super::calls_format::{call_json, csv_header, csv_line};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::Db;
use crate::store::call_list::{self, Cursor};
use crate::store::calls::CallFilter;

/// Rows read per query: large enough that the per-query cost vanishes, small enough that a
/// chunk is a few hundred kilobytes.
const CHUNK: i64 = 1000;

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Csv,
    Jsonl,
}

pub async fn export(
    State(state): State<Arc<AppState>>,
    ApiQuery(p): ApiQuery<CallQuery>,
) -> Result<Response, ApiError> {
    let format = match p.format.as_deref() {
        None | Some("csv") => Format::Csv,
        Some("jsonl") => Format::Jsonl,
        Some(_) => return Err(ApiError::invalid("`format` must be csv or jsonl").with_param("format")),
    };
    let filter = p.filter(&state)?;
    let (content_type, name) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "tollgate-calls.csv"),
        Format::Jsonl => ("application/jsonl; charset=utf-8", "tollgate-calls.jsonl"),
    };
    let body = Body::from_stream(rows(state.db.clone(), filter, format));
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response())
}

/// Where the export stands between chunks.
struct Progress {
    db: Db,
    filter: CallFilter,
    format: Format,
    after: Option<Cursor>,
    started: bool,
    done: bool,
}

/// The body: the CSV header first, then one chunk per query until a short page. A database
/// error ends the body with an error (the client sees a cut transfer, not a clean end).
fn rows(db: Db, filter: CallFilter, format: Format) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    let start = Progress { db, filter, format, after: None, started: false, done: false };
    futures_util::stream::unfold(start, |mut p| async move {
        if p.done {
            return None;
        }
        let mut out = if !p.started && p.format == Format::Csv { csv_header() } else { String::new() };
        p.started = true;
        let page = match call_list::list(&p.db, &p.filter, p.after.as_ref(), CHUNK).await {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(error = %e, "call export stopped by a database error");
                p.done = true;
                return Some((Err(std::io::Error::other("the export stopped: database error")), p));
            }
        };
        p.done = (page.len() as i64) < CHUNK;
        p.after = page.last().map(Cursor::after);
        for c in &page {
            match p.format {
                Format::Csv => csv_line(c, &mut out),
                Format::Jsonl => {
                    out.push_str(&call_json(c).to_string());
                    out.push('\n');
                }
            }
        }
        Some((Ok(Bytes::from(out)), p))
    })
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use serde_json::Value;

    use super::super::calls_format::CSV_COLUMNS;
    use super::*;
    use crate::store::calls::{self, CallWrite};

    /// More rows than a chunk, on both engines: every row once, newest first, in several
    /// chunks, each line whole.
    #[tokio::test]
    async fn exports_every_row_across_chunks() {
        for t in crate::store::test_db::each().await {
            let n = CHUNK * 2 + 321;
            let batch: Vec<CallWrite> = (0..n)
                .map(|i| CallWrite {
                    record: crate::store::calls::CallRecord {
                        id: crate::store::new_id(),
                        user_id: format!("u{}", i % 2),
                        model: "m".into(),
                        status: "success".into(),
                        started_at: 1_000 + i,
                        ..Default::default()
                    },
                    charge: None,
                })
                .collect();
            calls::apply_batch(&t.db, &batch).await.unwrap();
            for (format, filter, want) in [
                (Format::Jsonl, CallFilter::default(), n),
                (Format::Csv, CallFilter::default(), n),
                (Format::Jsonl, CallFilter { user_id: Some("u1".into()), ..Default::default() }, n / 2),
            ] {
                let chunks: Vec<Bytes> = rows(t.db.clone(), filter, format).map(|c| c.unwrap()).collect().await;
                assert!(chunks.len() >= 2, "streamed in chunks");
                let text = String::from_utf8(chunks.concat()).unwrap();
                let mut lines: Vec<&str> = text.lines().collect();
                if format == Format::Csv {
                    assert_eq!(lines.remove(0), csv_header().trim_end());
                    assert!(lines.iter().all(|l| l.split(',').count() == CSV_COLUMNS.len()));
                } else {
                    let started: Vec<i64> = lines
                        .iter()
                        .map(|l| {
                            crate::clock::parse_timestamp(&serde_json::from_str::<Value>(l).unwrap()["started_at"])
                        })
                        .collect::<Result<_, _>>()
                        .unwrap();
                    assert!(started.windows(2).all(|w| w[0] >= w[1]), "newest first");
                }
                assert_eq!(lines.len() as i64, want, "{format:?}", format = format as u8);
            }
            t.cleanup().await;
        }
    }
}
