//! A small WebDriver client (the W3C JSON protocol over the reqwest the tests already use)
//! driving Debian's Chromium through `chromedriver`, both installed with apt-get on first use
//! when missing. Only what the console tests need: navigate, find, type, click, read, run a
//! script, take screenshots, read cookies.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

static INSTALLED: Mutex<bool> = Mutex::new(false);

/// Installs `chromium`, `chromium-driver` and a CJK font (so Chinese and Japanese pages are
/// legible in the screenshots) from Debian when any is missing (as root, like CI; the SDK
/// suites install their venv the same way).
pub fn ensure_chromium() {
    let mut done = INSTALLED.lock().unwrap();
    if *done {
        return;
    }
    let present = |path: &str| Path::new(path).exists();
    let font = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc";
    if !(present("/usr/bin/chromium") && present("/usr/bin/chromedriver") && present(font)) {
        let script = "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                      -o DPkg::Lock::Timeout=600 chromium chromium-driver fonts-wqy-zenhei";
        let ok = std::process::Command::new("sh").args(["-c", script]).status().expect("run apt-get").success();
        assert!(ok, "installing chromium and chromium-driver with apt-get failed");
    }
    *done = true;
}

pub struct Browser {
    http: reqwest::Client,
    base: String,
    driver: Child,
    _profile: tempfile::TempDir,
    pub shots: PathBuf,
}

#[derive(Clone, Debug)]
pub struct El(String);

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium session with a fresh profile.
    pub async fn start(shots: PathBuf) -> Browser {
        tokio::task::spawn_blocking(ensure_chromium).await.unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--lang=en-US", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let resp: Value = http.post(format!("{base}/session")).json(&caps).send().await.unwrap().json().await.unwrap();
        let id = resp["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no WebDriver session: {resp}"));
        std::fs::create_dir_all(&shots).unwrap();
        Browser { http, base: format!("{base}/session/{id}"), driver, _profile: profile, shots }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let v: Value = req.send().await.unwrap().json().await.unwrap();
        if let Some(err) = v["value"]["error"].as_str() {
            panic!("WebDriver {path}: {err}: {}", v["value"]["message"]);
        }
        v["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({"url": url})).await;
    }

    pub async fn url(&self) -> String {
        self.get("/url").await.as_str().unwrap_or_default().to_string()
    }

    pub async fn set_size(&self, width: u32, height: u32) {
        self.post("/window/rect", json!({"width": width, "height": height})).await;
    }

    /// Every element matching `css` now.
    pub async fn all(&self, css: &str) -> Vec<El> {
        let v = self.post("/elements", json!({"using": "css selector", "value": css})).await;
        v.as_array().unwrap().iter().map(|e| El(e[ELEMENT].as_str().unwrap().to_string())).collect()
    }

    /// The first element matching `css`, waiting up to ten seconds for it.
    pub async fn find(&self, css: &str) -> El {
        for _ in 0..100 {
            if let Some(e) = self.all(css).await.into_iter().next() {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no element matches {css} on {}:\n{}", self.url().await, self.body_text().await);
    }

    pub async fn click(&self, e: &El) {
        self.post(&format!("/element/{}/click", e.0), json!({})).await;
    }

    pub async fn clear(&self, e: &El) {
        self.post(&format!("/element/{}/clear", e.0), json!({})).await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.clear(&e).await;
        self.post(&format!("/element/{}/value", e.0), json!({"text": text})).await;
    }

    /// Chooses the option of a `<select>` whose value is `value`.
    pub async fn select(&self, css: &str, value: &str) {
        let e = self.find(&format!("{css} option[value=\"{value}\"]")).await;
        self.click(&e).await;
    }

    pub async fn text(&self, e: &El) -> String {
        self.get(&format!("/element/{}/text", e.0)).await.as_str().unwrap_or_default().to_string()
    }

    pub async fn body_text(&self) -> String {
        match self.all("body").await.first() {
            Some(b) => self.text(b).await,
            None => String::new(),
        }
    }

    /// Runs a script in the page; `arguments` are the args.
    pub async fn run(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": args})).await
    }

    /// Runs a script that calls its last argument with the result.
    pub async fn run_async(&self, script: &str, args: Value) -> Value {
        self.post("/execute/async", json!({"script": script, "args": args})).await
    }

    /// Clicks the submit button of the form `css` and waits for the next page.
    pub async fn submit(&self, css: &str) {
        let before = self.run("return window.performance.timeOrigin", json!([])).await;
        let button = self.find(&format!("{css} button[type=submit]")).await;
        self.click(&button).await;
        for _ in 0..200 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = self
                .run("return document.readyState === 'complete' ? window.performance.timeOrigin : null", json!([]))
                .await;
            if !now.is_null() && now != before {
                return;
            }
        }
        panic!("submitting {css} led to no new page; at {}", self.url().await);
    }

    /// Waits until `pred` holds for the page's text, reloading between tries when `reload`.
    pub async fn wait_for_text(&self, want: &str, reload: bool) {
        for _ in 0..100 {
            if self.body_text().await.contains(want) {
                return;
            }
            if reload {
                self.run("location.reload()", json!([])).await;
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        panic!("`{want}` never appeared on {}:\n{}", self.url().await, self.body_text().await);
    }

    /// Saves a screenshot of the viewport as `{name}.png`.
    pub async fn shot(&self, name: &str) {
        let data = self.get("/screenshot").await;
        let png = base64::engine::general_purpose::STANDARD.decode(data.as_str().unwrap()).unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    /// Saves a screenshot of the whole page, however long, by sizing the window to it.
    pub async fn full_shot(&self, name: &str) {
        let h = self
            .run("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)", json!([]))
            .await;
        let w = self.run("return window.outerWidth", json!([])).await;
        let (w, h) = (w.as_u64().unwrap_or(1280) as u32, (h.as_u64().unwrap_or(900) as u32).clamp(600, 6000));
        let rect = self.get("/window/rect").await;
        self.set_size(w, h + 120).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        self.shot(name).await;
        self.set_size(rect["width"].as_u64().unwrap_or(1280) as u32, rect["height"].as_u64().unwrap_or(900) as u32)
            .await;
    }

    /// The value of cookie `name` (HttpOnly ones too: WebDriver sees them).
    pub async fn cookie(&self, name: &str) -> Option<Value> {
        let all = self.get("/cookie").await;
        all.as_array().unwrap().iter().find(|c| c["name"] == name).cloned()
    }

    pub async fn quit(mut self) {
        let _ = self.http.delete(&self.base).send().await;
        let _ = self.driver.kill().await;
    }
}
