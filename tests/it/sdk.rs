//! Client conformance with the official `openai` and `anthropic` Python SDKs (tests/sdk),
//! installed into a venv under target/ on first use, each suite against a gateway and mock
//! provider of its own.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use mock_provider::{MockConfig, MockServer};

use crate::harness::*;

/// The AWS secret access key the mock verifies Bedrock signatures with (in full), and the
/// suites' Bedrock credentials carry (`MOCK_AWS_SECRET_ACCESS_KEY`).
const AWS_SECRET: &str = "sdk-suite-aws-secret";

static VENV: Mutex<Option<PathBuf>> = Mutex::new(None);

/// The venv's python, created (and the pinned requirements installed) once.
pub fn python() -> PathBuf {
    let mut guard = VENV.lock().unwrap();
    if let Some(p) = guard.as_ref() {
        return p.clone();
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let venv = root.join("target").join("sdk-venv");
    let python = venv.join("bin").join("python");
    let requirements = root.join("tests/sdk/requirements.txt");
    let stamp = venv.join("requirements.installed");
    let wanted = std::fs::read_to_string(&requirements).unwrap();
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        let ok = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().unwrap().success();
        assert!(ok, "python3 -m venv failed");
        let ok = Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(&requirements)
            .status()
            .unwrap()
            .success();
        assert!(ok, "installing tests/sdk/requirements.txt failed");
        std::fs::write(&stamp, wanted).unwrap();
    }
    *guard = Some(python.clone());
    python
}

/// Runs one pytest file of tests/sdk against a gateway and mock of its own.
async fn run_suite(file: &str) {
    let python = tokio::task::spawn_blocking(python).await.unwrap();
    let mock =
        MockServer::start(MockConfig { aws_secret_access_key: Some(AWS_SECRET.into()), ..MockConfig::default() }).await;
    let gw = Gateway::start(Engine::Sqlite).await;
    let root = env!("CARGO_MANIFEST_DIR");
    let mock_url = mock.base_url().trim_end_matches("/v1").to_string();
    let out = tokio::process::Command::new(&python)
        .args(["-m", "pytest", "-p", "no:cacheprovider", "-q"])
        .arg(format!("tests/sdk/{file}"))
        .current_dir(root)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("TOLLGATE_URL", &gw.url)
        .env("TOLLGATE_MASTER_KEY", MASTER_KEY)
        .env("MOCK_URL", &mock_url)
        .env("MOCK_AWS_SECRET_ACCESS_KEY", AWS_SECRET)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "SDK suite {file} failed:\n{stdout}\n{stderr}\ngateway log:\n{}", gw.log());
    assert!(stdout.contains(" passed"), "{stdout}");
    println!("{stdout}");
    gw.stop().await;
}

#[tokio::test]
async fn official_openai_sdk_conformance() {
    run_suite("test_openai_sdk.py").await;
}

#[tokio::test]
async fn official_openai_sdk_responses_conformance() {
    run_suite("test_openai_responses.py").await;
}

#[tokio::test]
async fn official_anthropic_sdk_conformance() {
    run_suite("test_anthropic_sdk.py").await;
}
