//! A background job's own OS thread at the lowest CPU priority (Linux: nice 19 for that thread
//! alone, `setpriority` on its thread id), running the job on a single-threaded runtime of its
//! own. Threads it starts inherit the priority: the blocking thread that compresses an archive,
//! and SQLite's worker thread of a database connection the job opens from there. So when the
//! cores are busy the request threads win them, and the job runs on what is left.

use std::future::Future;

/// The nice value of a job's thread: the lowest priority there is.
pub const NICE: i32 = 19;

/// Starts `job` on a new thread named `name`, lowered to [`NICE`] before anything runs.
pub fn spawn<F, Fut>(name: &str, job: F) -> std::io::Result<std::thread::JoinHandle<()>>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    std::thread::Builder::new().name(name.to_string()).spawn(move || {
        if let Err(e) = lower_this_thread() {
            tracing::warn!("a background job runs at normal CPU priority: {e}");
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

/// The calling thread's nice value.
#[cfg(target_os = "linux")]
pub fn this_thread_nice() -> std::io::Result<i32> {
    rustix::process::getpriority_process(Some(rustix::thread::gettid())).map_err(std::io::Error::from)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The job's thread, and the threads it starts (a blocking task's, SQLite's connection
    /// worker), run at nice 19; the thread that started it keeps its own priority.
    #[test]
    fn the_job_and_the_threads_it_starts_run_at_the_lowest_priority() {
        let before = this_thread_nice().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        spawn("low-priority-test", move || async move {
            let own = this_thread_nice().unwrap();
            let blocking = tokio::task::spawn_blocking(|| this_thread_nice().unwrap()).await.unwrap();
            let child = std::thread::spawn(|| this_thread_nice().unwrap()).join().unwrap();
            tx.send((own, blocking, child)).unwrap();
        })
        .unwrap()
        .join()
        .unwrap();
        assert_eq!(rx.recv().unwrap(), (NICE, NICE, NICE));
        assert_eq!(this_thread_nice().unwrap(), before, "the caller's priority is untouched");
    }
}
