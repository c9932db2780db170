//! The `tollgate` binary: parse the command line, load settings, bind, run.

use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(name = "tollgate", version, about = "A self-hosted AI gateway")]
struct Cli {
    /// Settings file (default: tollgate.toml in the working directory, if present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the gateway (the default).
    Serve,
    /// Re-encrypt every provider credential under a new master key (gateways keep serving).
    RotateKey {
        /// Finish a rotation: drop the old keys from the key file once no record uses them.
        #[arg(long)]
        retire_old_keys: bool,
    },
    /// Usage statistics.
    Stats {
        #[command(subcommand)]
        command: StatsCommand,
    },
    /// Update the price catalog from LiteLLM's model_prices_and_context_window.json (a file
    /// path or an http(s) URL): writes the data directory's prices.json, which a running
    /// gateway on that data directory picks up within seconds (no rebuild, no restart).
    RefreshPrices {
        /// LiteLLM's price file: a path, or a URL to download it from.
        #[arg(long)]
        from: String,
        /// Write the catalog here instead (`catalog/prices.json` regenerates the compiled-in one).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Take a consistent copy of the database while gateways keep serving: SQLite by `VACUUM
    /// INTO` (checked: integrity, every balance equal to its ledger), PostgreSQL by `pg_dump`
    /// (custom format; without it, prints the command to run).
    Backup {
        /// The backup file to write (must not exist).
        file: PathBuf,
    },
    /// Replace the database with a backup. Every gateway on the database must be stopped
    /// (refused otherwise); the replaced SQLite file and the usage journal are kept aside.
    Restore {
        /// A file `tollgate backup` wrote.
        file: PathBuf,
    },
    /// Call archives that retention (`[retention] calls_days`) writes under DATA_DIR/archive.
    Archive {
        #[command(subcommand)]
        command: ArchiveCommand,
    },
}

#[derive(Subcommand)]
enum ArchiveCommand {
    /// Put a day's archived call records back into the database (records already there are
    /// left alone, so importing twice is harmless). Retention archives them again once they
    /// are older than `calls_days`.
    Import {
        /// An archive file, `calls-YYYY-MM-DD.jsonl.gz`.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum StatsCommand {
    /// Recompute the hourly and daily rollups from the call records, one UTC day at a time
    /// (safe while gateways serve). By default every day that has records; days whose records
    /// were archived keep their rollups unless the range names them.
    Rebuild {
        /// First day to recompute (RFC 3339 or Unix seconds; rounded down to its UTC day).
        #[arg(long)]
        from: Option<String>,
        /// Recompute up to this moment (exclusive; the UTC day holding it is recomputed whole).
        #[arg(long)]
        to: Option<String>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Needs no database or key: it only turns one file into another (the settings only when
    // the data directory is where it goes).
    if let Some(Command::RefreshPrices { from, out: Some(out) }) = &cli.command {
        return exit_with(refresh_prices(from, out, false));
    }
    let config = match tollgate::config::Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tollgate: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    if let Some(Command::RefreshPrices { from, out: None }) = &cli.command {
        let out = config.data_dir.join(tollgate::billing::catalog::DATA_FILE);
        return exit_with(refresh_prices(from, &out, true));
    }
    tollgate::telemetry::init(&config.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(config).await,
            Command::RotateKey { retire_old_keys } => rotate_key(config, retire_old_keys).await,
            Command::Stats { command: StatsCommand::Rebuild { from, to } } => rebuild_stats(config, from, to).await,
            Command::RefreshPrices { .. } => unreachable!("handled before the runtime starts"),
            Command::Archive { command: ArchiveCommand::Import { file } } => archive_import(config, &file).await,
            Command::Backup { file } => {
                tollgate::store::backup::backup(&config.database_url(), &file).await.map(|done| println!("{done}"))
            }
            Command::Restore { file } => {
                tollgate::store::backup::restore(&config.database_url(), &file, &config.data_dir)
                    .await
                    .map(|done| println!("{done}"))
            }
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("tollgate: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(config: tollgate::config::Config) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    #[cfg(unix)]
    survive_file_size_limit();
    let (state, writer) = tollgate::start(config).await?;
    // Printed once start-up work is done, so "listening" means ready; scripts read the port here.
    println!("listening on {addr}");
    let _ = std::io::stdout().flush();
    tollgate::serve(state, writer, listener, shutdown).await
}

async fn rotate_key(config: tollgate::config::Config, retire_old_keys: bool) -> Result<(), String> {
    let r = tollgate::secrets::rotate::run(&config, retire_old_keys).await?;
    if r.new_key {
        println!("new encryption key {} written first in the key file; old keys kept after it", r.key_id);
    }
    println!("{} credential(s) re-encrypted under key {}; {} changed meanwhile", r.resealed, r.key_id, r.skipped);
    if retire_old_keys {
        println!("{} old key(s) retired", r.retired);
    } else {
        println!(
            "running gateways use the new key from their next reload; then run `tollgate rotate-key --retire-old-keys`"
        );
    }
    Ok(())
}

async fn archive_import(config: tollgate::config::Config, file: &std::path::Path) -> Result<(), String> {
    let db = tollgate::store::Db::open(&config).await?;
    let result = tollgate::usage::archive::import(&db, file).await;
    db.close().await;
    let done = result?;
    println!("{} of {} call records restored from {}", done.restored, done.read, file.display());
    Ok(())
}

async fn rebuild_stats(
    config: tollgate::config::Config,
    from: Option<String>,
    to: Option<String>,
) -> Result<(), String> {
    let time = |name: &str, v: Option<String>| {
        v.map(|s| tollgate::clock::parse_timestamp(&serde_json::Value::String(s)).map_err(|e| format!("--{name}: {e}")))
            .transpose()
    };
    let (from, to) = (time("from", from)?, time("to", to)?);
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        return Err("--from must be before --to".into());
    }
    let db = tollgate::store::Db::connect(&config.database_url(), config.database.max_connections)
        .await
        .map_err(|e| format!("cannot open the database: {e}"))?;
    tollgate::store::migrate::run(&db).await.map_err(|e| format!("migrations failed: {e}"))?;
    let result = tollgate::store::rollups::rebuild(&db, from, to).await.map_err(|e| format!("rebuild failed: {e}"));
    db.close().await;
    let (days, records) = result?;
    println!("rebuilt the rollups of {days} day(s) from {records} record(s)");
    Ok(())
}

fn exit_with(result: Result<(), String>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tollgate: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Converts LiteLLM's file into a catalog at `out`, written whole (a gateway watching the data
/// directory never sees half a file).
fn refresh_prices(from: &str, out: &std::path::Path, in_data_dir: bool) -> Result<(), String> {
    let text = if from.starts_with("http://") || from.starts_with("https://") {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
        runtime.block_on(async {
            use http_body_util::BodyExt;
            use tollgate::providers::http;
            let failed = |e: &dyn std::fmt::Display| format!("cannot download {from}: {e}");
            // The operator names the source, so a private mirror is allowed.
            let client = http::client(true, &tollgate::config::Timeouts::default());
            let req = http::request(axum::http::Method::GET, from, Default::default(), Default::default())
                .map_err(|e| failed(&e))?;
            let resp = client.request(req).await.map_err(|e| failed(&e))?;
            if !resp.status().is_success() {
                return Err(failed(&format!("HTTP {}", resp.status())));
            }
            let body = resp.into_body().collect().await.map_err(|e| failed(&e))?.to_bytes();
            String::from_utf8(body.to_vec()).map_err(|e| failed(&e))
        })?
    } else {
        std::fs::read_to_string(from).map_err(|e| format!("cannot read {from}: {e}"))?
    };
    let source = format!("LiteLLM model_prices_and_context_window.json (MIT, see LICENSE-litellm) from {from}");
    let converted = tollgate::billing::litellm::convert(&text, &source)?;
    let total: usize = converted.kept.values().sum();
    if total == 0 {
        return Err(format!("{from} prices no model of the five provider kinds; the catalog is left as it was"));
    }
    tollgate::billing::catalog::write_atomically(out, &converted.text)?;
    let kept: Vec<String> = converted.kept.iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!("wrote {total} models to {} ({})", out.display(), kept.join(", "));
    for (key, why) in &converted.left_out {
        println!("left out {key}: {why}");
    }
    if in_data_dir {
        println!("a gateway running on this data directory uses the new prices within seconds");
    }
    Ok(())
}

/// Reaching a file-size limit (`RLIMIT_FSIZE`) sends SIGXFSZ, whose default action ends the
/// process. Handled, the write fails instead (`EFBIG`), like a full disk's, and the usage
/// journal fails closed: calls are refused until it can write again.
#[cfg(unix)]
fn survive_file_size_limit() {
    let kind = tokio::signal::unix::SignalKind::from_raw(libc::SIGXFSZ);
    match tokio::signal::unix::signal(kind) {
        Ok(mut signals) => {
            tokio::spawn(async move {
                while signals.recv().await.is_some() {
                    tracing::warn!("a write went past the file-size limit (SIGXFSZ)");
                }
            });
        }
        Err(e) => tracing::warn!(error = %e, "cannot handle SIGXFSZ; a file-size limit will end the process"),
    }
}

/// Cancels `token` on SIGTERM or Ctrl-C.
async fn stop_on_signal(token: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down: no new connections; waiting for in-flight requests");
    token.cancel();
}
