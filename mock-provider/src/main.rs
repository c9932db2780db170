//! The `mock-provider` binary: serves the mock on `--listen` for benchmarks and manual tests.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use mock_provider::{Behaviour, MockConfig};

/// A mock AI provider speaking the OpenAI, Anthropic, Gemini, Bedrock and Azure OpenAI dialects.
/// Per-request overrides: /s/{key=value,...}/<route>; per credential: a key
/// `mock:{key=value,...}` (with `times=N`: only its first N requests).
#[derive(Parser, Debug)]
#[command(name = "mock-provider", version)]
struct Args {
    /// Address to listen on; port 0 picks a free port (printed as `listening on ADDR`).
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: String,
    /// Runtime worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Verify Bedrock SigV4 signatures with this secret access key (default: check their form only).
    #[arg(long, env = "MOCK_AWS_SECRET_ACCESS_KEY")]
    aws_secret_access_key: Option<String>,
    #[command(flatten)]
    defaults: Behaviour,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(threads) = args.threads {
        builder.worker_threads(threads.max(1));
    }
    let runtime = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mock-provider: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(&args.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("mock-provider: bind {}: {e}", args.listen);
                return ExitCode::FAILURE;
            }
        };
        let addr = listener.local_addr().map_or(args.listen.clone(), |a| a.to_string());
        let mut stdout = std::io::stdout();
        let _ = writeln!(stdout, "listening on {addr}");
        let _ = stdout.flush();
        let (router, _handle) = mock_provider::router(MockConfig {
            defaults: args.defaults,
            aws_secret_access_key: args.aws_secret_access_key,
        });
        match mock_provider::serve(listener, router).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("mock-provider: serve: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
