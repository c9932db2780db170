//! The machine and moment a run is from (`nproc`, `lscpu`, `free`, `uname`, `date`, git) and
//! how busy it was (`/proc/loadavg`).

use std::process::Command;

#[derive(Debug, Default, Clone)]
pub struct Machine {
    pub cores: String,
    pub cpu: String,
    pub memory: String,
    pub kernel: String,
    pub date: String,
    pub commit: String,
}

fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "?".into())
}

/// HEAD, marked when the gateway's sources differ from it (the binaries were built from them).
fn commit() -> String {
    let head = output("git", &["rev-parse", "--short", "HEAD"]);
    let dirty = output("git", &["status", "--porcelain", "--", "src", "mock-provider"]);
    if dirty.is_empty() || dirty == "?" { head } else { format!("{head} + uncommitted changes") }
}

pub fn describe() -> Machine {
    let lscpu = output("lscpu", &[]);
    let cpu =
        lscpu.lines().find_map(|l| l.strip_prefix("Model name:")).map_or_else(|| "?".into(), |v| v.trim().to_string());
    let memory = output("free", &["-h"])
        .lines()
        .find_map(|l| l.strip_prefix("Mem:"))
        .and_then(|v| v.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into());
    Machine {
        cores: output("nproc", &[]),
        cpu,
        memory,
        kernel: output("uname", &["-sr"]),
        date: output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        commit: commit(),
    }
}

/// The 1-, 5- and 15-minute load averages, as `/proc/loadavg` gives them.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}
