//! `floor-proxy`: the least a gateway can do, one HTTP/1.1 hop on hyper with a pooled
//! keep-alive client. Request bodies and non-stream response bodies are buffered whole; an
//! SSE response is relayed frame by frame (buffering it would make time to first token
//! meaningless). Its figures are the physical limit of one hop on this machine.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use bytes::Bytes;
use clap::Parser;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// A minimal pass-through HTTP/1.1 proxy: everything received goes to --upstream, same path.
#[derive(Parser, Debug)]
#[command(name = "floor-proxy")]
struct Args {
    /// Address to listen on; port 0 picks a free port (printed as `listening on ADDR`).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// The upstream `HOST:PORT` (plain HTTP).
    #[arg(long)]
    upstream: SocketAddr,
    /// Runtime worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

type Upstream = Client<HttpConnector, Full<Bytes>>;
type Body = BoxBody<Bytes, hyper::Error>;

/// Connection-level headers that a proxy must not forward.
const HOP_BY_HOP: [&str; 8] =
    ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "host"];

fn main() -> ExitCode {
    let args = Args::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(n) = args.threads {
        builder.worker_threads(n.max(1));
    }
    let runtime = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("floor-proxy: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("floor-proxy: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args) -> Result<(), String> {
    let listener = TcpListener::bind(&args.listen).await.map_err(|e| format!("bind {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Upstream = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(4096).build(connector);
    let upstream: Arc<str> = args.upstream.to_string().into();
    println!("listening on {addr}");
    let _ = std::io::stdout().flush();
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("floor-proxy: accept: {e}");
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let (client, upstream) = (client.clone(), upstream.clone());
        tokio::spawn(async move {
            let svc = service_fn(move |req| proxy(client.clone(), upstream.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), svc).await;
        });
    }
}

fn strip_hop_by_hop(h: &mut HeaderMap) {
    for name in HOP_BY_HOP {
        h.remove(name);
    }
}

fn full(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut resp = Response::new(Full::new(body).map_err(|never| match never {}).boxed());
    *resp.status_mut() = status;
    resp
}

fn bad_gateway(why: String) -> Response<Body> {
    full(StatusCode::BAD_GATEWAY, Bytes::from(why))
}

async fn proxy(client: Upstream, upstream: Arc<str>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let (mut parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return Ok(bad_gateway(format!("reading the request: {e}"))),
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = match format!("http://{upstream}{path}").parse() {
        Ok(u) => u,
        Err(e) => return Ok(bad_gateway(format!("bad path: {e}"))),
    };
    strip_hop_by_hop(&mut parts.headers);
    let resp = match client.request(Request::from_parts(parts, Full::new(body))).await {
        Ok(r) => r,
        Err(e) => return Ok(bad_gateway(format!("upstream: {e}"))),
    };
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    let sse = parts.headers.get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if sse {
        return Ok(Response::from_parts(parts, body.boxed()));
    }
    match body.collect().await {
        Ok(b) => {
            let bytes = b.to_bytes();
            parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
            Ok(Response::from_parts(parts, Full::new(bytes).map_err(|never| match never {}).boxed()))
        }
        Err(e) => Ok(bad_gateway(format!("reading the upstream body: {e}"))),
    }
}
