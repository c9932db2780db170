//! The coding-agent CLIs the client tests drive, installed by the tests themselves (like the
//! SDK venv) into `target/cli-clients` at pinned versions: npm installs the packages, then
//! Claude Code's own `install.cjs` places its native binary (npm may skip install scripts).

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// The pinned versions; a change reinstalls on the next run.
pub const CLAUDE_CODE: &str = "@anthropic-ai/claude-code@2.1.332";
pub const CODEX: &str = "@openai/codex@0.171.0";

pub struct Clis {
    pub claude: PathBuf,
    pub codex: PathBuf,
}

static INSTALLED: Mutex<Option<(PathBuf, PathBuf)>> = Mutex::new(None);

/// The CLIs' executables, installed once per version pin.
pub fn clis() -> Clis {
    let mut guard = INSTALLED.lock().unwrap();
    if let Some((claude, codex)) = guard.as_ref() {
        return Clis { claude: claude.clone(), codex: codex.clone() };
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target").join("cli-clients");
    let modules = dir.join("node_modules");
    let claude = modules.join("@anthropic-ai/claude-code/bin/claude.exe");
    let codex = modules.join(".bin/codex");
    let stamp = dir.join("installed");
    let wanted = format!("{CLAUDE_CODE} {CODEX}\n");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) || !claude.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        // A package.json of its own, so npm never walks up into another project.
        std::fs::write(dir.join("package.json"), "{\"name\": \"tollgate-cli-clients\", \"private\": true}\n").unwrap();
        let ok = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--no-save", "--loglevel=error", CLAUDE_CODE, CODEX])
            .current_dir(&dir)
            .status()
            .expect("npm (Node.js) is needed to install the coding-agent CLIs")
            .success();
        assert!(ok, "npm install {CLAUDE_CODE} {CODEX} failed");
        let package = modules.join("@anthropic-ai/claude-code");
        let ok = Command::new("node").arg("install.cjs").current_dir(&package).status().unwrap().success();
        assert!(ok, "Claude Code's install.cjs failed");
        std::fs::write(&stamp, wanted).unwrap();
    }
    assert!(claude.exists(), "Claude Code's native binary is missing at {}", claude.display());
    *guard = Some((claude.clone(), codex.clone()));
    Clis { claude, codex }
}
