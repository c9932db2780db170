//! Holding a background job between its steps. The job rests at a [`Gate`] after every unit
//! of work; a [`Switch`] decides whether it goes on, waits, or stops there. The gateway stops
//! retention this way when it shuts down; the retention benchmark (`tg-retention`) pauses and
//! resumes it to compare traffic with and without it in alternating windows.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Go,
    Pause,
    Stop,
}

/// The job was told to stop (or its switch is gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped;

/// The job's side.
#[derive(Debug, Clone)]
pub struct Gate {
    mode: watch::Receiver<Mode>,
    waiting: Arc<watch::Sender<bool>>,
}

/// The controller's side.
#[derive(Debug)]
pub struct Switch {
    mode: watch::Sender<Mode>,
    waiting: watch::Receiver<bool>,
}

/// A switch and its gate, set to `mode`.
pub fn new(mode: Mode) -> (Switch, Gate) {
    let (tx, rx) = watch::channel(mode);
    let (waiting_tx, waiting_rx) = watch::channel(false);
    (Switch { mode: tx, waiting: waiting_rx }, Gate { mode: rx, waiting: Arc::new(waiting_tx) })
}

impl Gate {
    /// Rests `pause` (cut short by stop), then waits while the switch says pause.
    /// `Err(Stopped)` once it says stop, or is dropped.
    pub async fn rest(&mut self, pause: Duration) -> Result<(), Stopped> {
        let until = tokio::time::Instant::now() + pause;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(until) => break,
                changed = self.mode.changed() => {
                    if changed.is_err() || *self.mode.borrow() == Mode::Stop {
                        return Err(Stopped);
                    }
                }
            }
        }
        self.pass().await
    }

    /// Waits while the switch says pause, without resting first.
    pub async fn pass(&mut self) -> Result<(), Stopped> {
        loop {
            if self.mode.has_changed().is_err() {
                return Err(Stopped);
            }
            let mode = *self.mode.borrow_and_update();
            match mode {
                Mode::Go => return Ok(()),
                Mode::Stop => return Err(Stopped),
                Mode::Pause => {
                    self.waiting.send_replace(true);
                    let changed = self.mode.changed().await;
                    self.waiting.send_replace(false);
                    changed.map_err(|_| Stopped)?;
                }
            }
        }
    }

    /// Whether the switch says stop, or is gone.
    pub fn stopped(&self) -> bool {
        self.mode.has_changed().is_err() || *self.mode.borrow() == Mode::Stop
    }
}

impl Switch {
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// Sets pause and returns once the job waits at its gate (or has ended: every gate is
    /// dropped).
    pub async fn pause(&mut self) {
        self.set(Mode::Pause);
        let _ = self.waiting.wait_for(|waiting| *waiting).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_paused_job_waits_until_resumed_and_a_stopped_one_ends() {
        let (mut switch, mut gate) = new(Mode::Go);
        assert_eq!(gate.rest(Duration::ZERO).await, Ok(()));
        let steps = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counted = steps.clone();
        let job = tokio::spawn(async move {
            while gate.rest(Duration::from_millis(1)).await.is_ok() {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        switch.pause().await;
        let at_pause = steps.load(std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(steps.load(std::sync::atomic::Ordering::SeqCst), at_pause, "no step while paused");
        switch.set(Mode::Go);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(steps.load(std::sync::atomic::Ordering::SeqCst) > at_pause, "steps again once resumed");
        switch.set(Mode::Stop);
        job.await.unwrap();
        switch.pause().await; // returns: the job has ended
    }

    #[tokio::test]
    async fn stop_cuts_a_rest_short_and_a_dropped_switch_stops_the_job() {
        let (switch, mut gate) = new(Mode::Go);
        let resting = tokio::spawn(async move { gate.rest(Duration::from_secs(3600)).await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        switch.set(Mode::Stop);
        assert_eq!(tokio::time::timeout(Duration::from_secs(5), resting).await.unwrap().unwrap(), Err(Stopped));
        let (switch, mut gate) = new(Mode::Go);
        assert!(!gate.stopped());
        drop(switch);
        assert!(gate.stopped());
        assert_eq!(gate.pass().await, Err(Stopped));
    }
}
