//! Peer gateways, only with `--peers`: each is installed on first use into the peers folder
//! (LiteLLM proxy 1.104.0 in a Python venv, Portkey's gateway from npm, crabllm with
//! `cargo install`), configured with one model per mock mode and started on a free port.
//! A peer that does not install or start is reported, never fatal.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::child::{self, Ready};
use crate::targets::{MockMode, Route, Target};

const LITELLM_KEY: &str = "sk-litellm-bench";
const CRABLLM_KEY: &str = "sk-crabllm-bench";

/// Starts every peer that can be had; returns them and the ones skipped, with why.
pub async fn start_all(
    dir: &Path,
    work: &Path,
    mock: SocketAddr,
    modes: &[MockMode],
) -> (Vec<Target>, Vec<(String, String)>) {
    let mut started = Vec::new();
    let mut skipped = Vec::new();
    if let Err(e) = std::fs::create_dir_all(dir) {
        let why = format!("{}: {e}", dir.display());
        return (started, ["litellm", "portkey", "crabllm"].map(|p| (p.to_string(), why.clone())).into());
    }
    type Starter = fn(&Path, &Path, SocketAddr, &[MockMode]) -> Result<Target, String>;
    let peers: [(&str, Starter); 3] = [("litellm", litellm), ("portkey", portkey), ("crabllm", crabllm)];
    for (name, start) in peers {
        eprintln!("tg-bench: preparing peer {name} (first use installs it into {})", dir.display());
        match start(dir, work, mock, modes) {
            Ok(t) => started.push(t),
            Err(e) => {
                eprintln!("tg-bench: peer {name} not measured: {e}");
                skipped.push((name.to_string(), e));
            }
        }
    }
    (started, skipped)
}

/// Runs an install step once, its output going to `log`.
fn install(what: &str, mut cmd: Command, log: &Path) -> Result<(), String> {
    let file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = file.try_clone().map_err(|e| e.to_string())?;
    let status = cmd
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .status()
        .map_err(|e| format!("{what}: cannot run {:?}: {e}", cmd.get_program()))?;
    if status.success() { Ok(()) } else { Err(format!("{what} failed ({status}); see {}", log.display())) }
}

fn target(name: &str, child: child::Child, route: Route) -> Target {
    Target {
        name: name.into(),
        route,
        addr: child.addr,
        proc: child.proc,
        child: Some(child),
        db: None,
        broken: Vec::new(),
    }
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn litellm(dir: &Path, work: &Path, mock: SocketAddr, modes: &[MockMode]) -> Result<Target, String> {
    let venv = dir.join("litellm-venv");
    let bin = venv.join("bin/litellm");
    if !bin.exists() {
        let mut venv_cmd = Command::new("python3");
        venv_cmd.args(["-m", "venv"]).arg(&venv);
        install("python3 -m venv", venv_cmd, &dir.join("litellm-venv.log"))?;
        let mut pip = Command::new(venv.join("bin/pip"));
        pip.args(["install", "litellm[proxy]==1.104.0"]);
        install("pip install litellm[proxy]==1.104.0", pip, &dir.join("litellm-install.log"))?;
    }
    let mut yaml = String::from("model_list:\n");
    for m in modes {
        yaml.push_str(&format!("  - model_name: {}\n    litellm_params:\n", m.model(false)));
        yaml.push_str(&format!("      model: openai/mock-gpt\n      api_base: {}\n", m.base_url(mock)));
        yaml.push_str("      api_key: sk-bench\n");
    }
    yaml.push_str(&format!("general_settings:\n  master_key: {LITELLM_KEY}\n"));
    let config = write(work, "litellm.yaml", &yaml)?;
    let port = child::free_port()?;
    let mut cmd = Command::new(&bin);
    cmd.arg("--config")
        .arg(&config)
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--num_workers", "1"])
        .env("LITELLM_LOG", "ERROR")
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .env("LITELLM_TELEMETRY", "False");
    let child = child::spawn("litellm", cmd, work, Ready::Port(local(port)), Duration::from_secs(240))?;
    Ok(target("litellm", child, Route::Named { token: LITELLM_KEY.into() }))
}

fn portkey(dir: &Path, work: &Path, mock: SocketAddr, _modes: &[MockMode]) -> Result<Target, String> {
    let prefix = dir.join("portkey");
    let server = prefix.join("node_modules/@portkey-ai/gateway/build/start-server.js");
    if !server.exists() {
        let mut npm = Command::new("npm");
        npm.args(["install", "--no-audit", "--no-fund", "--prefix"]).arg(&prefix).arg("@portkey-ai/gateway");
        install("npm install @portkey-ai/gateway", npm, &dir.join("portkey-install.log"))?;
    }
    let port = child::free_port()?;
    let mut cmd = Command::new("node");
    cmd.arg(&server).arg(format!("--port={port}")).arg("--headless").env("NODE_ENV", "production");
    let child = child::spawn("portkey", cmd, work, Ready::Port(local(port)), Duration::from_secs(60))?;
    Ok(target("portkey", child, Route::Portkey { mock }))
}

fn crabllm(dir: &Path, work: &Path, mock: SocketAddr, modes: &[MockMode]) -> Result<Target, String> {
    let root = dir.join("crabllm");
    let bin = root.join("bin/crabllm");
    if !bin.exists() {
        let mut cargo = Command::new("cargo");
        cargo
            .args(["install", "crabllm", "--locked", "--root"])
            .arg(&root)
            .env("CARGO_TARGET_DIR", dir.join("crabllm-target"));
        install("cargo install crabllm", cargo, &dir.join("crabllm-install.log"))?;
    }
    let port = child::free_port()?;
    let mut toml = format!("listen = \"127.0.0.1:{port}\"\nopenapi = false\n\n");
    toml.push_str(&format!("[[keys]]\nname = \"bench\"\nkey = \"{CRABLLM_KEY}\"\nmodels = [\"*\"]\n\n"));
    toml.push_str("[extensions]\nusage = {}\nrate_limit = { requests_per_minute = 1000000000 }\n");
    for m in modes {
        toml.push_str(&format!(
            "\n[providers.mock-{}]\nkind = \"openai\"\napi_key = \"sk-bench\"\nbase_url = \"{}\"\nmodels = [\"{}\"]\n",
            m.key,
            m.base_url(mock),
            m.model(false)
        ));
    }
    let config = write(work, "crabllm.toml", &toml)?;
    let mut cmd = Command::new(&bin);
    cmd.arg("serve").arg("--config").arg(&config).env("RUST_LOG", "warn");
    let child = child::spawn("crabllm", cmd, work, Ready::Port(local(port)), Duration::from_secs(60))?;
    Ok(target("crabllm", child, Route::Named { token: CRABLLM_KEY.into() }))
}

fn write(work: &Path, name: &str, text: &str) -> Result<PathBuf, String> {
    let path = work.join(name);
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}
