//! `tg-load`: the bench's load generator on its own, for ad-hoc measurements of any local
//! OpenAI-style endpoint (closed loop, or open loop with `--rate`).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use serde_json::json;
use tollgate_bench::conn::Template;
use tollgate_bench::load::{self, Mode, Plan};

#[derive(Parser, Debug)]
#[command(name = "tg-load", about = "Sends chat requests to a local endpoint and prints latency figures")]
struct Args {
    /// `http://127.0.0.1:PORT/path` (loopback only).
    url: String,
    /// Keep-alive connections.
    #[arg(long, default_value_t = 1)]
    conns: usize,
    /// Open loop at this many requests per second (latency from the scheduled send time).
    #[arg(long)]
    rate: Option<f64>,
    /// Seconds measured.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Seconds of warm-up before measuring.
    #[arg(long, default_value_t = 0.5)]
    warmup: f64,
    /// The model named in the request body.
    #[arg(long, default_value = "mock-gpt")]
    model: String,
    /// Ask for a stream (and report time to first byte and chunk gaps).
    #[arg(long)]
    stream: bool,
    /// Bearer token.
    #[arg(long)]
    key: Option<String>,
    /// Also write the latency histogram here, one `microseconds count` line per recorded value,
    /// so runs can be pooled (a p99 over many windows, not a median of per-window p99s).
    #[arg(long)]
    histogram: Option<std::path::PathBuf>,
}

fn split_url(url: &str) -> Result<(SocketAddr, String), String> {
    let rest = url.strip_prefix("http://").ok_or("the URL must start with http://")?;
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let addr: SocketAddr = host.parse().map_err(|e| format!("{host}: {e} (give an IP:PORT)"))?;
    if !addr.ip().is_loopback() {
        return Err("only loopback addresses are allowed".into());
    }
    Ok((addr, path))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let (addr, path) = match split_url(&args.url) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("tg-load: {e}");
            return ExitCode::from(2);
        }
    };
    let mut body = json!({"model": args.model, "messages": [{"role": "user", "content": "hello"}]});
    if args.stream {
        body["stream"] = json!(true);
    }
    let mut t = Template::json(addr, &path, &body);
    if let Some(k) = &args.key {
        t = t.bearer(k);
    }
    let mode = match args.rate {
        Some(rate) => Mode::Open { conns: args.conns, rate },
        None => Mode::Closed { conns: args.conns },
    };
    let plan = Plan {
        mode,
        warmup: Duration::from_secs_f64(args.warmup),
        measure: Duration::from_secs_f64(args.duration),
        stream: args.stream,
        timeout: Duration::from_secs(60),
    };
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let st = rt.block_on(load::run(Arc::new(t), plan));
    println!(
        "{:.0} req/s, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms, {} ok, {} errors",
        st.rate(),
        st.latency_ms(0.5),
        st.latency_ms(0.99),
        st.latency_ms(1.0),
        st.ok,
        st.errors
    );
    if args.stream {
        println!(
            "first byte p50 {:.3} ms, p99 {:.3} ms; gap mean {:.3} ms, p99 {:.3} ms",
            st.first_byte_ms(0.5),
            st.first_byte_ms(0.99),
            st.gap_mean_ms(),
            st.gap_ms(0.99)
        );
    }
    if let Some(path) = &args.histogram {
        let lines: String =
            st.latency.iter_recorded().map(|v| format!("{} {}\n", v.value_iterated_to(), v.count_at_value())).collect();
        if let Err(e) = std::fs::write(path, lines) {
            eprintln!("tg-load: {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    for e in &st.error_samples {
        println!("error: {e}");
    }
    if st.errors > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
