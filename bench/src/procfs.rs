//! CPU time and memory of a process and its descendants, read from `/proc` (Linux only):
//! `stat` utime+stime, `status` VmRSS/VmHWM, and `clear_refs` to restart the peak.

use std::fs;
use std::sync::OnceLock;
use std::time::Duration;

/// A process tree rooted at one pid (a runner such as `npx` may put the server in a child).
#[derive(Clone, Copy, Debug)]
pub struct Proc {
    pub pid: u32,
}

fn ticks_per_second() -> u64 {
    static TCK: OnceLock<u64> = OnceLock::new();
    *TCK.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100)
    })
}

/// Fields of `/proc/PID/stat` after the command name (field 3 is index 0).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

fn status_kb(pid: u32, field: &str) -> u64 {
    let Ok(text) = fs::read_to_string(format!("/proc/{pid}/status")) else { return 0 };
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim_start_matches(':').split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Every pid whose parent chain reaches `root`, `root` first.
fn tree(root: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            if let Some(ppid) = stat_fields(pid).and_then(|f| f.get(1)?.parse::<u32>().ok()) {
                parents.push((pid, ppid));
            }
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        out.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    out
}

impl Proc {
    /// User + system CPU time of the tree so far (threads that exited included, processes
    /// that exited not).
    pub fn cpu(&self) -> Duration {
        let ticks: u64 = tree(self.pid)
            .into_iter()
            .filter_map(|p| {
                let f = stat_fields(p)?;
                Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
            })
            .sum();
        Duration::from_secs_f64(ticks as f64 / ticks_per_second() as f64)
    }

    /// Resident memory of the tree now, in kB.
    pub fn rss_kb(&self) -> u64 {
        tree(self.pid).into_iter().map(|p| status_kb(p, "VmRSS")).sum()
    }

    /// Peak resident memory since start (or the last [`Proc::reset_peak`]), in kB, summed over
    /// the tree.
    pub fn peak_kb(&self) -> u64 {
        tree(self.pid).into_iter().map(|p| status_kb(p, "VmHWM")).sum()
    }

    /// Restarts the peak at the current RSS (writes 5 to `clear_refs`; needs the same user).
    pub fn reset_peak(&self) {
        for p in tree(self.pid) {
            let _ = fs::write(format!("/proc/{p}/clear_refs"), "5");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = Proc { pid: std::process::id() };
        assert!(me.rss_kb() > 0);
        assert!(me.peak_kb() >= me.rss_kb() / 2);
        let _ = me.cpu();
    }
}
