//! Real coding agents through the gateway, installed at pinned versions by `cli_install` and
//! run headless against one gateway and mock, each through every provider kind: Claude Code
//! (Anthropic dialect) and Codex (the Responses API) — a plain turn,
//! and a turn where the mock asks for one of the client's own tools (Claude Code's Read,
//! Codex's exec_command, on a file the test wrote) and then answers the tool result. Each
//! turn's records and charges are checked. The CLIs never reach the network: each run has a
//! HOME (and CODEX_HOME) of its own, only the environment given here, and telemetry,
//! analytics and updates switched off.

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use mock_provider::{MockConfig, MockServer};
use serde_json::{Value, json};

use crate::cli_install::clis;
use crate::harness::*;

const AWS_SECRET: &str = "cli-clients-aws-secret";
/// Every provider answers with this usage, so every call costs the same, exactly.
const USAGE: &str = "prompt_tokens=1000,completion_tokens=100";
/// 1000 × 3/1M + 100 × 15/1M at the models' price of 3 in / 15 out.
const CALL_COST: &str = "0.0045";
/// CLI runs at once.
const CONCURRENT_CLIS: usize = 6;
const KINDS: [&str; 5] = ["openai", "anthropic", "azure-openai", "gemini", "bedrock"];

/// The upstream model each kind's target names (what the conversions key on: OpenAI
/// reasoning models take `reasoning_effort`, Gemini 2.5 a thinking budget, Claude on Bedrock
/// a `thinking` budget).
fn upstream(kind: &str) -> &'static str {
    match kind {
        "openai" | "azure-openai" => "gpt-5",
        "anthropic" => "claude-sonnet-4-6",
        "gemini" => "gemini-2.5-flash",
        _ => "us.anthropic.claude-sonnet-4-6-v1:0",
    }
}

/// One provider of `kind` on the mock, and a model whose name Claude Code recognizes as a
/// current Claude model (so it sends adaptive thinking, effort and context management).
async fn provider_and_model(gw: &Gateway, mock: &MockServer, kind: &str) -> String {
    let base_url = if matches!(kind, "openai") { mock.scenario_url(USAGE) } else { mock.scenario_root(USAGE) };
    let name = format!("cli-{kind}");
    let p = gw
        .admin_ok("POST", "/api/v1/providers", Some(json!({"name": name, "kind": kind, "base_url": base_url})), 201)
        .await;
    let api_key = match kind {
        "bedrock" => {
            json!({"access_key_id": "AKIDCLI", "secret_access_key": AWS_SECRET, "region": "us-east-1"}).to_string()
        }
        _ => PROVIDER_KEY.to_string(),
    };
    let path = format!("/api/v1/providers/{}/credentials", p["id"].as_str().unwrap());
    gw.admin_ok("POST", &path, Some(json!({"api_key": api_key})), 201).await;
    let model = format!("claude-sonnet-4-6-{kind}");
    let body = json!({"name": model, "targets": [{"provider": name, "model": upstream(kind)}],
        "pricing": {"input": 3, "output": 15}});
    gw.admin_ok("POST", "/api/v1/models", Some(body), 201).await;
    model
}

/// A user with 10 credits and a key of their own (so each turn's records stand apart).
async fn user_and_key(gw: &Gateway) -> (String, String, String) {
    let user = gw.admin_ok("POST", "/api/v1/users", Some(json!({"name": "cli"})), 201).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    gw.admin_ok("POST", &format!("/api/v1/users/{user}/credits"), Some(json!({"amount": "10"})), 201).await;
    let k = gw.admin_ok("POST", "/api/v1/keys", Some(json!({"user_id": user})), 201).await;
    (user, k["id"].as_str().unwrap().to_string(), k["key"].as_str().unwrap().to_string())
}

/// `mock-tool:NAME:ARGS` for the mock (see mock-provider/README.md).
fn directive(tool: &str, args: &Value) -> String {
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(args.to_string());
    format!("mock-tool:{tool}:{encoded}")
}

/// Runs Claude Code once, headless, in `dir` (its HOME and working directory); answers its
/// JSON result.
async fn claude(dir: &Path, gw: &Gateway, key: &str, model: &str, prompt: &str) -> Value {
    let home = dir.join("home");
    std::fs::create_dir_all(home.join(".claude")).unwrap();
    let out = tokio::process::Command::new(clis().claude)
        .args(["-p", prompt, "--model", model, "--output-format", "json"])
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("CLAUDE_CONFIG_DIR", home.join(".claude"))
        .env("ANTHROPIC_BASE_URL", &gw.url)
        .env("ANTHROPIC_API_KEY", key)
        // Background work (titles, summaries) goes to the same model, never elsewhere.
        .env("ANTHROPIC_DEFAULT_HAIKU_MODEL", model)
        .env("ANTHROPIC_SMALL_FAST_MODEL", model)
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_TELEMETRY", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("DISABLE_ERROR_REPORTING", "1")
        .env("DISABLE_BUG_COMMAND", "1")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(180), out).await.expect("Claude Code finishes").unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|_| {
        panic!("Claude Code ({model}) printed no JSON result:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr))
    })
}

/// Runs Codex once, headless (`codex exec`), in `dir` with a CODEX_HOME of its own whose
/// config names the gateway as its Responses provider; answers its last message.
async fn codex(dir: &Path, gw: &Gateway, key: &str, model: &str, prompt: &str) -> String {
    let home = dir.join("codex-home");
    std::fs::create_dir_all(&home).unwrap();
    let config = format!(
        r#"model = "{model}"
model_provider = "tollgate"
approval_policy = "never"
sandbox_mode = "read-only"
check_for_update_on_startup = false
web_search = "disabled"

[analytics]
enabled = false

[model_providers.tollgate]
name = "Tollgate"
base_url = "{url}/v1"
env_key = "TOLLGATE_API_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
"#,
        url = gw.url
    );
    std::fs::write(home.join("config.toml"), config).unwrap();
    let last = dir.join("last-message.txt");
    let out = tokio::process::Command::new(clis().codex)
        .args(["exec", "--skip-git-repo-check", "--output-last-message"])
        .arg(&last)
        .arg(prompt)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("CODEX_HOME", &home)
        .env("TOLLGATE_API_KEY", key)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(180), out).await.expect("Codex finishes").unwrap();
    let said = || format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "Codex ({model}) failed:\n{}", said());
    std::fs::read_to_string(&last).unwrap_or_else(|_| panic!("Codex ({model}) wrote no last message:\n{}", said()))
}

/// Checks a turn's calls: at least `min` of them, every one a success of `model` charged
/// exactly, and the user's balance down by their sum.
async fn check_charges(gw: &Gateway, user: &str, key_id: &str, model: &str, min: usize) -> Vec<Value> {
    let calls = gw.calls_until(key_id, |c| c.len() >= min && c.iter().all(|c| c["status"] != "processing")).await;
    for c in &calls {
        assert_eq!((c["status"].as_str(), c["model"].as_str()), (Some("success"), Some(model)), "{c}");
        assert_eq!(c["cost"], CALL_COST, "{c}");
        assert_eq!(c["usage_estimated"], false, "{c}");
    }
    let balance = gw.admin_ok("GET", &format!("/api/v1/users/{user}"), None, 200).await["balance"].clone();
    let spent = 45 * calls.len() as i64; // in ten-thousandths of a credit
    let want = format!("{}", 100_000 - spent);
    let want = format!("{}.{}", &want[..want.len() - 4], want[want.len() - 4..].trim_end_matches('0'));
    assert_eq!(balance.as_str(), Some(want.as_str()), "{} calls of {model}", calls.len());
    calls
}

/// A plain turn: the mock answers text although Claude Code offers its tools.
async fn plain_turn(gw: &Gateway, model: &str, scratch: &Path) {
    let (user, key_id, key) = user_and_key(gw).await;
    let dir = scratch.join(format!("plain-{model}"));
    std::fs::create_dir_all(&dir).unwrap();
    let result = claude(&dir, gw, &key, model, "Say hello. mock-tool:none").await;
    assert_eq!(result["is_error"], false, "{model}: {result}");
    assert!(result["result"].as_str().unwrap().starts_with("Hello from the mock provider"), "{model}: {result}");
    let calls = check_charges(gw, &user, &key_id, model, 1).await;
    assert!(calls.iter().all(|c| c["dialect"] == "anthropic" && c["endpoint"] == "messages"), "{calls:?}");
}

/// A tool turn: the mock asks for Claude Code's own Read tool on a file in its working
/// directory, Claude Code reads it and sends the result, and the mock answers with it.
async fn tool_turn(gw: &Gateway, model: &str, scratch: &Path) {
    let (user, key_id, key) = user_and_key(gw).await;
    let dir = scratch.join(format!("tool-{model}"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("notes.txt");
    std::fs::write(&file, "canary-4242 in the notes\n").unwrap();
    let call = directive("Read", &json!({"file_path": file.display().to_string()}));
    let result = claude(&dir, gw, &key, model, &format!("Read notes.txt and tell me what it says. {call}")).await;
    assert_eq!(result["is_error"], false, "{model}: {result}");
    let text = result["result"].as_str().unwrap();
    assert!(text.starts_with("tool result received:") && text.contains("canary-4242"), "{model}: {result}");
    // The tool call, then the answer to its result.
    let calls = check_charges(gw, &user, &key_id, model, 2).await;
    assert!(calls.len() >= 2);
}

/// Codex's plain turn: text although its tools are offered.
async fn codex_plain_turn(gw: &Gateway, model: &str, scratch: &Path) {
    let (user, key_id, key) = user_and_key(gw).await;
    let dir = scratch.join(format!("codex-plain-{model}"));
    std::fs::create_dir_all(&dir).unwrap();
    let said = codex(&dir, gw, &key, model, "Say hello. mock-tool:none").await;
    assert!(said.starts_with("Hello from the mock provider"), "{model}: {said}");
    let calls = check_charges(gw, &user, &key_id, model, 1).await;
    assert!(calls.iter().all(|c| c["endpoint"] == "responses"), "{calls:?}");
}

/// Codex's tool turn: the mock asks for `exec_command` reading a file; Codex runs it in its
/// sandbox and sends the output back, which the mock answers with.
async fn codex_tool_turn(gw: &Gateway, model: &str, scratch: &Path) {
    let (user, key_id, key) = user_and_key(gw).await;
    let dir = scratch.join(format!("codex-tool-{model}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "canary-5353 in the notes\n").unwrap();
    let call = directive("exec_command", &json!({"cmd": "cat notes.txt"}));
    let said = codex(&dir, gw, &key, model, &format!("What does notes.txt say? {call}")).await;
    assert!(said.starts_with("tool result received:") && said.contains("canary-5353"), "{model}: {said}");
    check_charges(gw, &user, &key_id, model, 2).await;
}

/// A Codex model on the provider of `kind` made by [`provider_and_model`].
async fn codex_model(gw: &Gateway, kind: &str) -> String {
    let model = format!("gpt-5-{kind}");
    let body = json!({"name": model, "targets": [{"provider": format!("cli-{kind}"), "model": upstream(kind)}],
        "pricing": {"input": 3, "output": 15}});
    gw.admin_ok("POST", "/api/v1/models", Some(body), 201).await;
    model
}

#[tokio::test]
async fn claude_code_and_codex_complete_plain_and_tool_turns_through_the_gateway() {
    let installed = tokio::task::spawn_blocking(clis);
    let mock =
        MockServer::start(MockConfig { aws_secret_access_key: Some(AWS_SECRET.into()), ..MockConfig::default() }).await;
    let gw = Gateway::start(Engine::Sqlite).await;
    let mut models = Vec::new();
    for kind in KINDS {
        models.push(provider_and_model(&gw, &mock, kind).await);
    }
    let mut codex_models = Vec::new();
    for kind in KINDS {
        codex_models.push(codex_model(&gw, kind).await);
    }
    installed.await.unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let started = Instant::now();
    // Every turn at once: each has its own key, HOME and working directory.
    type Turn<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + 'a>>;
    let (g, s) = (&gw, scratch.path());
    let mut turns: Vec<Turn> = Vec::new();
    for m in &models {
        turns.push(Box::pin(plain_turn(g, m, s)));
        turns.push(Box::pin(tool_turn(g, m, s)));
    }
    for m in &codex_models {
        turns.push(Box::pin(codex_plain_turn(g, m, s)));
        turns.push(Box::pin(codex_tool_turn(g, m, s)));
    }
    let count = turns.len();
    // A few CLIs at a time: each is a large native process, and the machine has two cores.
    use futures_util::StreamExt;
    futures_util::stream::iter(turns).buffer_unordered(CONCURRENT_CLIS).collect::<Vec<()>>().await;
    println!("Claude Code and Codex: {count} turns in {:?}", started.elapsed());
    // Every provider kind was reached in its own wire format.
    let by_dialect = mock.stats().by_dialect;
    for dialect in ["openai", "anthropic", "azure-openai", "gemini", "bedrock"] {
        assert!(by_dialect.get(dialect).copied().unwrap_or(0) >= 6, "{dialect}: {by_dialect:?}");
    }
    gw.stop().await;
}
