//! Child servers: started in their own process group with output to a log file, ready once
//! they print `listening on ADDR` (or once their port answers), and stopped with the group
//! (SIGTERM, then SIGKILL) when dropped.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::procfs::Proc;

/// How to tell that the child is ready.
pub enum Ready {
    /// It prints `listening on ADDR` on stdout.
    Stdout,
    /// It listens on this address (tried every 200 ms).
    Port(SocketAddr),
}

pub struct Child {
    pub name: String,
    pub addr: SocketAddr,
    pub proc: Proc,
    pub log: PathBuf,
    child: std::process::Child,
}

/// A port that was free a moment ago, for servers that cannot be told to use port 0.
pub fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind 127.0.0.1:0: {e}"))?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn parse_listening(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("listening on ")? + "listening on ".len()..];
    let addr = rest.split_whitespace().next()?.trim_start_matches("http://").trim_end_matches('/');
    addr.parse().ok()
}

/// Starts `cmd` and waits until it is ready; its output goes to `log_dir/NAME.log`.
pub fn spawn(name: &str, mut cmd: Command, log_dir: &Path, ready: Ready, timeout: Duration) -> Result<Child, String> {
    let log = log_dir.join(format!("{name}.log"));
    let mut file = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let stderr = file.try_clone().map_err(|e| e.to_string())?;
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(stderr).process_group(0);
    let mut child = cmd.spawn().map_err(|e| format!("{name}: cannot start {:?}: {e}", cmd.get_program()))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = parse_listening(&line) {
                let _ = tx.send(addr);
            }
            let _ = writeln!(file, "{line}");
        }
    });
    let mut started =
        Child { name: name.to_string(), addr: ([127, 0, 0, 1], 0).into(), proc: Proc { pid: child.id() }, log, child };
    let deadline = Instant::now() + timeout;
    let addr = loop {
        if let Ok(Some(status)) = started.child.try_wait() {
            return Err(format!("{name} exited ({status}) before it was ready; see {}", started.log.display()));
        }
        if Instant::now() > deadline {
            return Err(format!("{name} was not ready within {} s; see {}", timeout.as_secs(), started.log.display()));
        }
        match &ready {
            Ready::Stdout => {
                if let Ok(addr) = rx.recv_timeout(Duration::from_millis(200)) {
                    break addr;
                }
            }
            Ready::Port(addr) => {
                if TcpStream::connect_timeout(addr, Duration::from_millis(200)).is_ok() {
                    break *addr;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    };
    started.addr = addr;
    Ok(started)
}

fn signal_group(pgid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([format!("-{signal}"), "--".into(), format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
}

impl Drop for Child {
    fn drop(&mut self) {
        let pgid = self.child.id();
        signal_group(pgid, "TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                // Helpers of the group (e.g. a server under `npx`) may outlive the leader.
                signal_group(pgid, "KILL");
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        signal_group(pgid, "KILL");
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_ready_line() {
        assert_eq!(parse_listening("listening on 127.0.0.1:4000"), Some("127.0.0.1:4000".parse().unwrap()));
        assert_eq!(parse_listening("x listening on http://127.0.0.1:9/ now"), Some("127.0.0.1:9".parse().unwrap()));
        assert_eq!(parse_listening("starting"), None);
    }
}
