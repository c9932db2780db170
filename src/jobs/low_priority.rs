//! A background job's own OS thread at the lowest CPU priority, running the job on a
//! single-threaded runtime of its own. On Linux the thread alone (not the process) is set to
//! nice 19 and, with [`JobCpu::Idle`], to the idle scheduling class (`SCHED_IDLE`). Threads it
//! starts inherit both: the blocking thread that compresses an archive, and SQLite's worker
//! thread of a database connection the job opens from there. So when the cores are busy the
//! request threads win them, and the job runs on what is left.
//!
//! Why the idle class and not nice alone: a nice-19 thread still keeps a core for the rest of
//! its time slice when a request's thread wakes. Archiving 10 million records beside traffic
//! raised request p99 by +84 % (SQLite) and +86 % (PostgreSQL) at nice 19 alone, and by −2 %
//! and +6 % in the idle class (bench/RESULTS.md). An idle-class thread is preempted as soon
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

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::testing::ThreadPriority;

    /// The calling thread's priority, read from `/proc`.
    fn this_thread() -> ThreadPriority {
        ThreadPriority::of_task("/proc/thread-self").unwrap()
    }

    /// What the job's thread, a blocking task's thread and a thread it starts (as SQLite's
    /// connection worker is) run at.
    fn priorities_under(cpu: JobCpu) -> [ThreadPriority; 3] {
        let (tx, rx) = std::sync::mpsc::channel();
        spawn("low-priority-test", cpu, move || async move {
            let own = this_thread();
            let blocking = tokio::task::spawn_blocking(this_thread).await.unwrap();
            let child = std::thread::spawn(this_thread).join().unwrap();
            tx.send([own, blocking, child]).unwrap();
        })
        .unwrap()
        .join()
        .unwrap();
        rx.recv().unwrap()
    }

    #[test]
    fn the_job_and_the_threads_it_starts_run_in_the_idle_class_at_nice_19() {
        let before = this_thread();
        let idle = ThreadPriority { nice: NICE, policy: libc::SCHED_IDLE };
        assert_eq!(priorities_under(JobCpu::Idle), [idle; 3]);
        assert_eq!(this_thread(), before, "the caller's priority is untouched");
    }

    #[test]
    fn low_keeps_the_normal_class_at_nice_19() {
        let normal = this_thread().policy;
        assert_ne!(normal, libc::SCHED_IDLE);
        assert_eq!(priorities_under(JobCpu::Low), [ThreadPriority { nice: NICE, policy: normal }; 3]);
    }
}
