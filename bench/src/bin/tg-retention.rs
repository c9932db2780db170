//! `tg-retention`: the gateway (`tollgate serve`, in this process, with the same settings from
//! the environment) whose retention work is switched on and off from stdin, so traffic can be
//! measured with and without it in alternating windows on one machine whose load drifts
//! (`bench/calls-pages`). The gateway's own retention job must be off
//! (`TOLLGATE_RETENTION_CALLS_DAYS` unset): this process runs retention's own functions
//! (`tollgate::jobs::retention`) behind a gate.
//!
//! stdin: `on` (answered `on` once the work may run), `off` (answered `off` once it rests at
//! its gate, between two batches or archive pages), end of input (stops the gateway).
//! stdout: `listening on ADDR`, then the answers, and `done` when the work has run out.
//!
//! `--mode job`: the retention pass as the gateway runs it (archive a day, then delete it,
//! oldest day first, days older than `--calls-days`). `archive`: only archiving, the oldest
//! `--calls-days`-old days again and again into `--scratch` (the file removed first, so each
//! time is a whole day's work). `delete`: only deleting, days as `job` would, unarchived.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use tokio_util::sync::CancellationToken;
use tollgate::config::JobCpu;
use tollgate::jobs::gate::{self, Gate, Mode};
use tollgate::jobs::{low_priority, retention};
use tollgate::store::Db;
use tollgate::store::retention::DAY_MS;
use tollgate::usage::archive;

#[derive(Copy, Clone, Debug, ValueEnum)]
enum Work {
    Job,
    Archive,
    Delete,
}

#[derive(Parser, Debug)]
#[command(name = "tg-retention", about = "The gateway with its retention work switched on and off from stdin")]
struct Args {
    #[arg(long, value_enum, default_value = "job")]
    mode: Work,
    /// Days kept: older whole UTC days are the work.
    #[arg(long, default_value_t = 1)]
    calls_days: u32,
    /// Where `--mode archive` writes its files (default: DATA_DIR/archive-scratch).
    #[arg(long)]
    scratch: Option<PathBuf>,
    /// The work thread's CPU priority, as `[retention] cpu` (default: the configured one).
    #[arg(long, value_enum)]
    cpu: Option<JobCpu>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match tollgate::config::Config::load(None) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tg-retention: {e}");
            return ExitCode::from(2);
        }
    };
    if config.retention.calls_days.is_some() {
        eprintln!("tg-retention: unset TOLLGATE_RETENTION_CALLS_DAYS (this process runs the retention work)");
        return ExitCode::from(2);
    }
    tollgate::telemetry::init(&config.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(run(args, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tg-retention: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args, config: tollgate::config::Config) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(&config.listen).await.map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let mut settings = config.retention;
    settings.calls_days = Some(args.calls_days);
    settings.cpu = args.cpu.unwrap_or(settings.cpu);
    let (data_dir, database_url) = (config.data_dir.clone(), config.database_url());
    let (state, writer) = tollgate::start(config).await?;
    let (mut switch, gate) = gate::new(Mode::Pause);
    let scratch = args.scratch.unwrap_or_else(|| data_dir.join("archive-scratch"));
    let dir = archive::dir(&data_dir);
    // As the gateway starts its job: a thread of its own at the lowest priority, with its own
    // database connection opened there.
    low_priority::spawn("tg-retention-work", settings.cpu, move || async move {
        let r = match retention::open(&database_url).await {
            Ok(db) => work(args.mode, &db, &dir, &scratch, &settings, gate).await,
            Err(e) => Err(e),
        };
        match r {
            Ok(records) => say(&format!("done {records}")),
            Err(e) => eprintln!("tg-retention: the work ended: {e}"),
        }
    })
    .map_err(|e| e.to_string())?;
    say(&format!("listening on {addr}"));
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    // stdin is read on a thread of its own (blocking reads), line by line into a channel.
    let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        while let Some(line) = lines.recv().await {
            match line.trim() {
                "on" => {
                    switch.set(Mode::Go);
                    say("on");
                }
                "off" => {
                    switch.pause().await;
                    say("off");
                }
                other => eprintln!("tg-retention: unknown command {other:?}"),
            }
        }
        switch.set(Mode::Stop);
        stop.cancel();
    });
    tollgate::serve(state, writer, listener, shutdown).await
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The work of `mode`; returns the records archived or deleted.
async fn work(
    mode: Work,
    db: &Db,
    dir: &std::path::Path,
    scratch: &std::path::Path,
    settings: &tollgate::config::RetentionConfig,
    mut gate: Gate,
) -> Result<u64, String> {
    gate.pass().await.map_err(|_| "stopped".to_string())?;
    let cutoff = retention::cutoff(settings.calls_days.unwrap_or(1), tollgate::clock::now_ms());
    let oldest = |db: Db| async move {
        let at = tollgate::store::retention::oldest_started(&db).await.map_err(|e| e.to_string())?;
        Ok::<_, String>(at.map(|at| at.div_euclid(DAY_MS) * DAY_MS).filter(|day| day + DAY_MS <= cutoff))
    };
    let mut total = 0;
    match mode {
        Work::Job => loop {
            let n = retention::pass(db, dir, settings, tollgate::clock::now_ms(), &mut gate).await?;
            if n == 0 {
                return Ok(total);
            }
            total += n;
        },
        Work::Delete => {
            while let Some(day) = oldest(db.clone()).await? {
                total += retention::delete_day(db, settings, day, &mut gate).await?;
            }
            Ok(total)
        }
        Work::Archive => {
            // Never runs out: the same days again, each time a whole day's work.
            let Some(first) = oldest(db.clone()).await? else { return Ok(0) };
            let mut day = first;
            loop {
                let _ = std::fs::remove_file(archive::day_file(scratch, day));
                retention::archive_day(db, scratch, settings, day, &mut gate).await?;
                day = if day + 2 * DAY_MS <= cutoff { day + DAY_MS } else { first };
            }
        }
    }
}
