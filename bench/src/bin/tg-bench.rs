//! `tg-bench`: the bench driver. Starts the mock, the floor proxy, Tollgate on SQLite and on
//! PostgreSQL (and the peers when asked), runs the plan, and writes the report. `bench/run`
//! builds everything and calls it.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use clap::Parser;
use tollgate_bench::child::{self, Ready};
use tollgate_bench::pg::PgDb;
use tollgate_bench::plan::{self, Settings};
use tollgate_bench::results::Results;
use tollgate_bench::targets::{MockMode, Route, Target};
use tollgate_bench::{machine, peers, report, tollgate};

#[derive(Parser, Debug)]
#[command(name = "tg-bench", about = "Runs Tollgate's benchmark and writes the report")]
struct Args {
    /// Where `tollgate`, `mock-provider` and `floor-proxy` are (default: next to this binary).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// A run of a few seconds per scenario that only shows that everything works.
    #[arg(long)]
    smoke: bool,
    /// Also install (into --peers-dir) and measure LiteLLM, Portkey and crabllm.
    #[arg(long)]
    peers: bool,
    /// Where peers are installed (kept between runs; delete it to reinstall).
    #[arg(long, default_value = "/tmp/tollgate-bench-peers")]
    peers_dir: PathBuf,
    /// Skip Tollgate on PostgreSQL.
    #[arg(long)]
    no_postgres: bool,
    /// Write the report here as well as to stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Worker threads of the load generator.
    #[arg(long, default_value_t = 2)]
    load_threads: usize,
    /// The command line to name in the report.
    #[arg(long, default_value = "bench/run")]
    command: String,
    /// Keep the scratch directory (data directories and server logs).
    #[arg(long)]
    keep: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().worker_threads(args.load_threads.max(1)).enable_all().build()
        {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("tg-bench: runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
    let work = std::env::temp_dir().join(format!("tollgate-bench-{}", std::process::id()));
    let result = std::fs::create_dir_all(&work)
        .map_err(|e| format!("{}: {e}", work.display()))
        .and_then(|()| runtime.block_on(run(&args, &work)));
    if args.keep {
        eprintln!("tg-bench: scratch directory kept: {}", work.display());
    } else {
        let _ = std::fs::remove_dir_all(&work);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tg-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn bin_dir(args: &Args) -> Result<PathBuf, String> {
    if let Some(d) = &args.bin_dir {
        return Ok(d.clone());
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    exe.parent().map(Path::to_path_buf).ok_or_else(|| "cannot locate the binaries".into())
}

fn server(dir: &Path, name: &str, bin: &str, args: &[String], work: &Path) -> Result<child::Child, String> {
    let mut cmd = Command::new(dir.join(bin));
    cmd.args(args);
    child::spawn(name, cmd, work, Ready::Stdout, Duration::from_secs(30))
}

async fn run(args: &Args, work: &Path) -> Result<(), String> {
    let settings = if args.smoke { Settings::smoke() } else { Settings::full() };
    let modes = settings.modes();
    let dir = bin_dir(args)?;
    // Before the run: the sources the binaries were just built from.
    let machine = machine::describe();
    let mut results = Results::default();

    let mock = server(&dir, "mock", "mock-provider", &["--listen".into(), "127.0.0.1:0".into()], work)?;
    let direct = Target {
        name: "direct".into(),
        route: Route::Mock,
        addr: mock.addr,
        proc: mock.proc,
        child: None,
        db: None,
        broken: Vec::new(),
    };
    let floor = server(&dir, "floor", "floor-proxy", &["--upstream".into(), mock.addr.to_string()], work)?;
    let mut targets = vec![Target {
        name: "floor".into(),
        route: Route::Mock,
        addr: floor.addr,
        proc: floor.proc,
        child: Some(floor),
        db: None,
        broken: Vec::new(),
    }];
    let tollgate_bin = dir.join("tollgate");
    targets
        .push(tollgate::start("tollgate-sqlite", &tollgate_bin, &work.join("sqlite"), None, mock.addr, &modes).await?);
    if args.no_postgres {
        results.skipped.push(("tollgate-postgres".into(), "--no-postgres".into()));
    } else {
        match start_postgres(&tollgate_bin, work, mock.addr, &modes).await {
            Ok(t) => targets.push(t),
            Err(e) => {
                eprintln!("tg-bench: tollgate-postgres not measured: {e}");
                results.skipped.push(("tollgate-postgres".into(), e));
            }
        }
    }
    if args.peers {
        let (started, skipped) = peers::start_all(&args.peers_dir, work, mock.addr, &modes).await;
        targets.extend(started);
        results.skipped.extend(skipped);
    }
    let mut checked = Vec::new();
    for mut t in targets {
        probe_all(&mut t, &modes).await;
        for (mode, why) in &t.broken {
            eprintln!("tg-bench: {} not measured in mode {mode}: {why}", t.name);
            results.skipped.push((t.name.clone(), format!("{mode} mode: {why}")));
        }
        if t.works_in("fast") {
            checked.push(t);
        }
    }
    let mut direct = direct;
    probe_all(&mut direct, &modes).await;
    if let Some((mode, why)) = direct.broken.first() {
        return Err(format!("the mock itself fails in mode {mode}: {why}"));
    }
    eprintln!("tg-bench: measuring direct, {}", checked.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", "));
    plan::execute(&settings, &direct, &checked, &mut results).await;
    let md = report::render(&results, &settings, &machine, &args.command);
    println!("{md}");
    if let Some(out) = &args.out {
        // Sections other scripts added after this report's (bench/calls-pages) are kept.
        let old = std::fs::read_to_string(out).unwrap_or_default();
        let md = report::keeping_other_sections(&md, &old);
        std::fs::write(out, &md).map_err(|e| format!("{}: {e}", out.display()))?;
        eprintln!("tg-bench: wrote {}", out.display());
    }
    drop(checked);
    drop(mock);
    Ok(())
}

async fn start_postgres(
    bin: &Path,
    work: &Path,
    mock: std::net::SocketAddr,
    modes: &[MockMode],
) -> Result<Target, String> {
    let db = PgDb::create(&format!("bench_{}", std::process::id()))?;
    tollgate::start("tollgate-postgres", bin, &work.join("postgres"), Some(db), mock, modes).await
}

/// Probes every mode but the held streams, noting the modes the target fails in.
async fn probe_all(t: &mut Target, modes: &[MockMode]) {
    for m in modes.iter().filter(|m| m.key != "hold") {
        if let Err(e) = t.probe(m).await {
            t.broken.push((m.key, e));
        }
    }
}
