//! `tollgate backup FILE` and `tollgate restore FILE`.
//!
//! Backup is online: SQLite's `VACUUM INTO` copies the database as of one read transaction
//! while gateways keep writing (WAL mode), and the copy is checked (`PRAGMA
//! integrity_check`, every balance equal to the sum of its ledger) before it is reported
//! written. PostgreSQL is dumped by `pg_dump` (one snapshot) in its custom format; without
//! `pg_dump` on the PATH the command says exactly what to run.
//!
//! Restore needs every gateway on the database stopped (`presence`: refused otherwise).
//! SQLite: the backup is checked, the current database (checkpointed) is moved aside as
//! `<file>.before-restore-<time>`, and the backup copied into place. PostgreSQL: `pg_restore
//! --clean` in one transaction. Either way the data directory's usage journal is moved aside
//! too, so the next start does not replay calls newer than the backup onto it.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use super::presence;

/// What a checked SQLite backup holds.
#[derive(Debug, PartialEq, Eq)]
pub struct Checked {
    pub users: i64,
    pub ledger_entries: i64,
    pub calls: i64,
}

/// Takes a backup of the database `url` into `file` (which must not exist). Returns what to
/// tell the operator.
pub async fn backup(url: &str, file: &Path) -> Result<String, String> {
    if file.exists() {
        return Err(format!("{} already exists; name a new file", file.display()));
    }
    match presence::sqlite_file(url) {
        Some(db_file) => {
            if !db_file.exists() {
                return Err(format!("there is no database at {}", db_file.display()));
            }
            let mut conn = open(&db_file, false).await?;
            let target = file.to_str().ok_or("the backup file's name is not UTF-8")?;
            sqlx::query("VACUUM INTO $1")
                .bind(target)
                .execute(&mut conn)
                .await
                .map_err(|e| format!("backup failed: {e}"))?;
            let _ = conn.close().await;
            let c = check_sqlite(file).await?;
            Ok(format!(
                "backup written to {} ({} users, {} ledger entries, {} call records; integrity and ledger checked)",
                file.display(),
                c.users,
                c.ledger_entries,
                c.calls
            ))
        }
        None if url.starts_with("sqlite:") => Err("an in-memory database cannot be backed up".into()),
        None => {
            let args = ["--format=custom".to_string(), format!("--file={}", file.display())];
            pg_tool("pg_dump", &args, url).await?;
            Ok(format!("backup written to {} (pg_dump, custom format)", file.display()))
        }
    }
}

/// Restores `file` onto the database `url`, refusing while a gateway runs on it. The data
/// directory's journal is moved aside.
pub async fn restore(url: &str, file: &Path, data_dir: &Path) -> Result<String, String> {
    if !file.is_file() {
        return Err(format!("{} is not a file", file.display()));
    }
    let claim = presence::exclusive(url).await?;
    let result = match presence::sqlite_file(url) {
        Some(db_file) => restore_sqlite(file, &db_file).await,
        None if url.starts_with("sqlite:") => Err("an in-memory database cannot be restored".into()),
        None => {
            let args = [
                "--clean".to_string(),
                "--if-exists".into(),
                "--no-owner".into(),
                "--single-transaction".into(),
                file.display().to_string(),
            ];
            pg_tool("pg_restore", &args, url).await.map(|()| format!("{} restored (pg_restore)", file.display()))
        }
    };
    let result = match result {
        Ok(done) => set_journal_aside(data_dir).map(|aside| match aside {
            Some(p) => format!("{done}; the usage journal was moved to {}", p.display()),
            None => done,
        }),
        Err(e) => Err(e),
    };
    claim.release().await;
    result
}

async fn restore_sqlite(file: &Path, db_file: &Path) -> Result<String, String> {
    let c = check_sqlite(file).await?;
    let stamp = crate::clock::rfc3339(crate::clock::now_ms()).replace([':', '.'], "-");
    let aside = with_suffix(db_file, &format!(".before-restore-{stamp}"));
    if db_file.exists() {
        // Everything committed moves into the main file, so the copy set aside is whole.
        let mut conn = open(db_file, false).await?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut conn)
            .await
            .map_err(|e| format!("cannot checkpoint {}: {e}", db_file.display()))?;
        let _ = conn.close().await;
        std::fs::rename(db_file, &aside).map_err(|e| format!("cannot move {} aside: {e}", db_file.display()))?;
    }
    for side in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(with_suffix(db_file, side));
    }
    let incoming = with_suffix(db_file, ".restoring");
    std::fs::copy(file, &incoming).map_err(|e| format!("cannot copy {}: {e}", file.display()))?;
    std::fs::File::open(&incoming).and_then(|f| f.sync_all()).map_err(|e| e.to_string())?;
    std::fs::rename(&incoming, db_file).map_err(|e| format!("cannot put the backup in place: {e}"))?;
    let kept =
        if aside.exists() { format!("; the previous database is kept as {}", aside.display()) } else { "".into() };
    Ok(format!(
        "{} restored to {} ({} users, {} ledger entries, {} call records){kept}",
        file.display(),
        db_file.display(),
        c.users,
        c.ledger_entries,
        c.calls
    ))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Moves `DATA_DIR/journal` aside if it holds anything: its lines are calls of the database
/// that was replaced.
fn set_journal_aside(data_dir: &Path) -> Result<Option<PathBuf>, String> {
    let journal = data_dir.join("journal");
    let holds_lines = std::fs::read_dir(&journal)
        .map(|entries| entries.flatten().any(|e| e.metadata().is_ok_and(|m| m.is_file() && m.len() > 0)))
        .unwrap_or(false);
    if !holds_lines {
        return Ok(None);
    }
    let stamp = crate::clock::rfc3339(crate::clock::now_ms()).replace([':', '.'], "-");
    let aside = data_dir.join(format!("journal.before-restore-{stamp}"));
    std::fs::rename(&journal, &aside).map_err(|e| format!("cannot move the usage journal aside: {e}"))?;
    Ok(Some(aside))
}

async fn open(file: &Path, read_only: bool) -> Result<SqliteConnection, String> {
    let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", file.display()))
        .map_err(|e| e.to_string())?
        .read_only(read_only)
        .busy_timeout(std::time::Duration::from_secs(10));
    SqliteConnection::connect_with(&opts).await.map_err(|e| format!("cannot open {}: {e}", file.display()))
}

/// Opens a SQLite backup read-only and checks it: `PRAGMA integrity_check` answers `ok` and
/// every user's balance equals the sum of their ledger.
pub async fn check_sqlite(file: &Path) -> Result<Checked, String> {
    let mut conn = open(file, true).await?;
    let bad = |e: sqlx::Error| format!("{} is not a Tollgate database: {e}", file.display());
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut conn).await.map_err(bad)?;
    if integrity != "ok" {
        return Err(format!("{} fails its integrity check: {integrity}", file.display()));
    }
    let unbalanced: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM users u
         WHERE u.balance <> (SELECT COALESCE(SUM(l.amount), 0) FROM ledger l WHERE l.user_id = u.id)",
    )
    .fetch_one(&mut conn)
    .await
    .map_err(bad)?;
    if unbalanced != 0 {
        return Err(format!("{}: {unbalanced} user balance(s) differ from the sum of their ledger", file.display()));
    }
    let count = |table: &'static str| format!("SELECT COUNT(*) FROM {table}");
    let mut counts = Vec::new();
    for table in ["users", "ledger", "calls"] {
        counts.push(
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(count(table))).fetch_one(&mut conn).await.map_err(bad)?,
        );
    }
    let _ = conn.close().await;
    Ok(Checked { users: counts[0], ledger_entries: counts[1], calls: counts[2] })
}

/// Runs `pg_dump`/`pg_restore` with `args` against `url`: the password goes by `PGPASSWORD`,
/// never on the command line. Without the tool, the error says exactly what to run.
async fn pg_tool(tool: &str, args: &[String], url: &str) -> Result<(), String> {
    let (dbname, password) = split_password(url)?;
    let mut cmd = std::process::Command::new(tool);
    cmd.args(args).arg(format!("--dbname={dbname}"));
    if let Some(p) = &password {
        cmd.env("PGPASSWORD", p);
    }
    // The dump or restore takes as long as it takes: on a blocking thread.
    let ran = tokio::task::spawn_blocking(move || cmd.output()).await.map_err(|e| e.to_string())?;
    match ran {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!("{tool} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let pass = if password.is_some() { "PGPASSWORD='<the password>' " } else { "" };
            Err(format!(
                "{tool} is not installed here (it comes with the PostgreSQL client, the server's major version or \
                 newer). Run this where it is:\n  {pass}{tool} {} --dbname='{dbname}'",
                args.join(" ")
            ))
        }
        Err(e) => Err(format!("cannot run {tool}: {e}")),
    }
}

/// The URL without its password, and the password.
fn split_password(url: &str) -> Result<(String, Option<String>), String> {
    let mut u = url::Url::parse(url).map_err(|e| format!("database URL: {e}"))?;
    let password = u.password().map(percent_decode);
    u.set_password(None).map_err(|()| "database URL: cannot remove the password".to_string())?;
    Ok((u.to_string(), password))
}

/// `%XX` escapes of a URL's userinfo turned back into their bytes.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = (b[i] == b'%' && i + 2 < b.len())
            .then(|| std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()))
            .flatten();
        match hex {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_leave_the_url() {
        let (url, pass) = split_password("postgres://tg:s%40cret@db:5432/tollgate?sslmode=require").unwrap();
        assert_eq!(url, "postgres://tg@db:5432/tollgate?sslmode=require");
        assert_eq!(pass.as_deref(), Some("s@cret"));
        assert_eq!(percent_decode("a+b%2"), "a+b%2", "a broken escape stays as it is");
        assert_eq!(split_password("postgres://db/x").unwrap(), ("postgres://db/x".into(), None));
    }

    #[tokio::test]
    async fn without_pg_dump_the_error_says_what_to_run() {
        let e = pg_tool("pg_dump-not-installed", &["--format=custom".into()], "postgres://tg:pw@db/x").await;
        let e = e.unwrap_err();
        assert!(e.contains("PGPASSWORD='<the password>' pg_dump-not-installed --format=custom"), "{e}");
        assert!(e.contains("--dbname='postgres://tg@db/x'") && !e.contains("pw@"), "{e}");
    }
}
