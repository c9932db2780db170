//! A fresh PostgreSQL database for one run (created with `psql`, dropped when done).

use std::process::{Command, Stdio};

/// Where the bench's PostgreSQL databases live (the local test server).
const ADMIN_ARGS: [&str; 6] = ["-h", "127.0.0.1", "-U", "postgres", "-d", "test"];

pub struct PgDb {
    pub name: String,
}

fn psql(sql: &str) -> Result<(), String> {
    let out = Command::new("psql")
        .args(ADMIN_ARGS)
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("psql: {e}"))?;
    if out.status.success() { Ok(()) } else { Err(format!("psql: {}", String::from_utf8_lossy(&out.stderr).trim())) }
}

impl PgDb {
    pub fn create(name: &str) -> Result<PgDb, String> {
        psql(&format!("CREATE DATABASE {name}"))?;
        Ok(PgDb { name: name.to_string() })
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if let Err(e) = psql(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)) {
            eprintln!("bench: could not drop database {}: {e}", self.name);
        }
    }
}
