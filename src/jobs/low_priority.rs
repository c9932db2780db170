//! A background job's own OS thread at the lowest CPU priority, running the job on a
//! single-threaded runtime of its own. On Linux the thread alone (not the process) is set to
//! nice 19 and, with [`JobCpu::Idle`], to the idle scheduling class (`SCHED_IDLE`). Threads it
//! starts inherit both: the blocking thread that compresses an archive, and SQLite's worker
//! thread of a database connection the job opens from there. So when the cores are busy the
//! request threads win them, and the job runs on what is left.
//!
//! Why the idle class and not nice alone: a nice-19 thread still keeps a core for the rest of
//! its time slice when a request's thread wakes, which measured as request p99 +77 % while
//! retention archived 10 million records on SQLite; the same run with the job's threads in
//! the idle class measured +2 % (bench/RESULTS.md). An idle-class thread is preempted as soon
//! as any normal thread wants its core.

use std::future::Future;

use crate::config::JobCpu;

/// The nice value of a job's thread: the lowest priority there is.
pub const NICE: i32 = 19;

/// Starts `job` on a new thread named `name`, lowered to [`NICE`] (and to the idle class
/// when `cpu` says so) before anything runs.
pub fn spawn<F, Fut>(name: &str, cpu: JobCpu, job: F) -> std::io::Result<std::thread::JoinHandle<()>>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    std::thread::Builder::new().name(name.to_string()).spawn(move || {
        if let Err(e) = lower_this_thread() {
            tracing::warn!("a background job runs at normal CPU priority: {e}");
        }
        if cpu == JobCpu::Idle
            && let Err(e) = idle_this_thread()
        {
            tracing::warn!("a background job runs at nice {NICE}, not in the idle scheduling class: {e}");
        }
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("a background job could not start its runtime: {e}");
                return;
            }
        };
        runtime.block_on(job());
    })
}

/// Sets the calling thread's nice value to [`NICE`].
#[cfg(target_os = "linux")]
fn lower_this_thread() -> std::io::Result<()> {
    rustix::process::setpriority_process(Some(rustix::thread::gettid()), NICE).map_err(std::io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn lower_this_thread() -> std::io::Result<()> {
    Err(std::io::Error::other("per-thread priority is set on Linux only"))
}

/// Moves the calling thread to the idle scheduling class. Any thread may move itself there
/// (no privilege needed); only moving back out needs one, which no job does.
///
/// The crate's one `unsafe` block: rustix leaves `sched_setscheduler` out, so it is called
/// through libc. It reads one `sched_param` on this stack frame for the length of the call
/// and keeps no pointer; pid 0 means the calling thread.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn idle_this_thread() -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid, initialised `sched_param` that outlives the call, which
    // only reads it; the call takes no other pointer.
    let result = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    if result == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

#[cfg(not(target_os = "linux"))]
fn idle_this_thread() -> std::io::Result<()> {
    Err(std::io::Error::other("the idle scheduling class is Linux's"))
}

/// The calling thread's nice value.
#[cfg(target_os = "linux")]
pub fn this_thread_nice() -> std::io::Result<i32> {
    rustix::process::getpriority_process(Some(rustix::thread::gettid())).map_err(std::io::Error::from)
}

/// The scheduling policy in a thread's `/proc/…/stat` line (field 41: 0 normal, 3 batch,
/// 5 idle). The command name, field 2, is in parentheses and may hold spaces or
/// parentheses itself, so fields are counted from the last `)`.
pub fn policy_in_stat(stat: &str) -> Option<u32> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(41 - 3)?.parse().ok()
}

/// Linux's number for the idle scheduling class, as `/proc/…/stat` shows it.
pub const SCHED_IDLE_POLICY: u32 = 5;

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The calling thread's scheduling policy, read from `/proc`.
    fn this_thread_policy() -> u32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        policy_in_stat(&stat).unwrap()
    }

    /// What the job's thread, a blocking task's thread and a thread it starts (as SQLite's
    /// connection worker is) run at: (nice, policy) each.
    fn priorities_under(cpu: JobCpu) -> [(i32, u32); 3] {
        let (tx, rx) = std::sync::mpsc::channel();
        spawn("low-priority-test", cpu, move || async move {
            let read = || (this_thread_nice().unwrap(), this_thread_policy());
            let own = read();
            let blocking = tokio::task::spawn_blocking(read).await.unwrap();
            let child = std::thread::spawn(read).join().unwrap();
            tx.send([own, blocking, child]).unwrap();
        })
        .unwrap()
        .join()
        .unwrap();
        rx.recv().unwrap()
    }

    #[test]
    fn the_job_and_the_threads_it_starts_run_in_the_idle_class_at_nice_19() {
        let before = (this_thread_nice().unwrap(), this_thread_policy());
        assert_eq!(priorities_under(JobCpu::Idle), [(NICE, SCHED_IDLE_POLICY); 3]);
        let after = (this_thread_nice().unwrap(), this_thread_policy());
        assert_eq!(after, before, "the caller's priority is untouched");
    }

    #[test]
    fn low_keeps_the_normal_class_at_nice_19() {
        let normal = this_thread_policy();
        assert_ne!(normal, SCHED_IDLE_POLICY);
        assert_eq!(priorities_under(JobCpu::Low), [(NICE, normal); 3]);
    }

    #[test]
    fn the_policy_is_read_past_a_command_name_with_spaces_and_parentheses() {
        let tail = (3..=52).map(|n| if n == 41 { "5".to_string() } else { n.to_string() }).collect::<Vec<_>>();
        let stat = format!("1234 (a (b) c) {}", tail.join(" "));
        assert_eq!(policy_in_stat(&stat), Some(5));
        assert_eq!(policy_in_stat("1234 (short) S 1"), None);
    }
}
