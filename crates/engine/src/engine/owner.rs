//! The owner's loop and its one shutdown path.
//!
//! Theory of operation: a long-running owner (`cortex run`, the desktop
//! app) runs `Engine::run` until asked to stop: inbox requests as the
//! folder watch reports them (and a rescan about once a second), a runtime
//! pass every tick and at once when a process ends, the PM's pass, and
//! snapshots when due. A full disk ends nothing (`survive`). Every shell
//! starts the loop with `Engine::owner_loop` and stops it with
//! `OwnerLoop::stop`, which asks the loop to end and waits until it has:
//! the loop itself then stops the workers when `on_quit` says so, writes
//! what is unwritten, and the engine is closed.
//!
//! May depend on: the facade's other parts, inbox, spares.

#![warn(missing_docs)]

use crate::engine::Engine;
use crate::error::EngineError;
use crate::inbox;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

impl Engine {
    /// The owner's loop as a task for the shell's runtime to spawn, and the
    /// handle that stops it. The loop also ends when `also` resolves (a
    /// signal); its result is the task's (`run_guarded`: a panic in it comes
    /// back as `EngineError::Stopped`).
    pub fn owner_loop(
        &self,
        also: impl Future<Output = ()> + Send + 'static,
    ) -> (
        impl Future<Output = Result<(), EngineError>> + Send + 'static,
        OwnerLoop,
    ) {
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (ended_tx, ended_rx) = std::sync::mpsc::channel::<()>();
        let engine = self.clone();
        let task = async move {
            let stop = async move {
                tokio::select! {
                    _ = stop_rx => {}
                    () = also => {}
                }
            };
            let result = engine.run_guarded(stop).await;
            let _ = ended_tx.send(());
            result
        };
        let handle = OwnerLoop {
            engine: self.clone(),
            stop: Mutex::new(Some(stop_tx)),
            ended: Mutex::new(ended_rx),
        };
        (task, handle)
    }

    /// Starts the thread that keeps `capacity.max_workers` attempt folders
    /// ready (see `spares`): at once, and after each pass that used some.
    pub(crate) fn start_spare_keeper(&self) -> Result<std::thread::JoinHandle<()>, EngineError> {
        self.inner.spares.load();
        let (poke, pokes) = std::sync::mpsc::channel::<()>();
        let engine = self.clone();
        let handle = std::thread::Builder::new()
            .name("cortex-spares".into())
            .spawn(move || {
                while pokes.recv().is_ok() {
                    while pokes.try_recv().is_ok() {}
                    let target = engine.config().capacity.max_workers as usize;
                    match engine.inner.spares.fill(target) {
                        Ok(0) => {}
                        Ok(n) => tracing::debug!(made = n, "attempt folders ready"),
                        Err(e) => tracing::warn!("cannot prepare attempt folders: {e}"),
                    }
                }
            })
            .map_err(|e| EngineError::System(format!("cannot start a thread: {e}")))?;
        let _ = poke.send(());
        *self.spare_keeper() = Some(poke);
        Ok(handle)
    }

    pub(crate) fn stop_spare_keeper(&self, handle: std::thread::JoinHandle<()>) {
        self.spare_keeper().take();
        let _ = handle.join();
    }

    pub(crate) fn spare_keeper(
        &self,
    ) -> std::sync::MutexGuard<'_, Option<std::sync::mpsc::Sender<()>>> {
        self.inner
            .spare_keeper
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Asks for the spares used by a pass to be made again.
    pub(crate) fn replenish_spares(&self) {
        if let Some(poke) = self.spare_keeper().as_ref() {
            let _ = poke.send(());
        }
    }

    /// Runs the owner's loop until `shutdown` resolves: inbox requests are
    /// picked up as the file system reports them (with a periodic rescan in
    /// case an event is lost), snapshots are written when due.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<(), EngineError> {
        let (tx, mut rx) = mpsc::channel::<()>(1);
        let home = self.inner.home.clone();
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(ev) = res {
                if ev
                    .paths
                    .iter()
                    .any(|p| inbox::is_inbox_request_event(&home, p))
                {
                    // A full channel already means "look at the inbox".
                    let _ = tx.try_send(());
                }
            }
        })
        .map_err(|e| EngineError::System(format!("cannot watch the inbox: {e}")))?;
        notify::Watcher::watch(
            &mut watcher,
            &self.inner.home.inbox(),
            notify::RecursiveMode::NonRecursive,
        )
        .map_err(|e| EngineError::System(format!("cannot watch the inbox: {e}")))?;
        let exited = self.start_exit_watcher();
        // The router's model is made ready off this thread: the first
        // submission then routes at full speed.
        let _ = std::thread::Builder::new()
            .name("cortex-warm".into())
            .spawn(cortex_core::linear::warm);
        self.start_runtime()?;
        let keeper = self.start_spare_keeper()?;
        let tick_ms = self.config().pm.tick_millis.clamp(50, 250);
        let mut tick = tokio::time::interval(Duration::from_millis(tick_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        self.survive(self.process_inbox())?;
        // The watcher reports requests as they arrive; the rescan for a lost
        // event runs about once a second, not every tick.
        let rescan_every = (1000 / tick_ms).max(1);
        let mut ticks: u64 = 0;
        // True while workers' output is left to read: a tick reads a bounded
        // amount, and the next runs at once, after shutdown and requests.
        let mut backlog = false;
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                Some(()) = rx.recv() => {
                    // Act on a request at once (a resume, a new task)
                    // instead of at the next tick.
                    if self.survive(self.process_inbox())?.unwrap_or(0) > 0 {
                        backlog = self.survive(self.tick_runtime_reading())?.unwrap_or(false);
                    }
                }
                () = notified(exited.as_deref()) => {
                    // An attempt's process ended: settle it (and start a
                    // due replacement) now, not at the next tick.
                    backlog |= self.survive(self.tick_exits())?.unwrap_or(false);
                }
                _ = tick.tick() => {
                    ticks += 1;
                    let second = ticks.is_multiple_of(rescan_every);
                    if second {
                        self.survive(self.process_inbox())?;
                        self.reload_settings_if_edited();
                        self.store().keep_lock_named();
                        if self.disk_full() {
                            self.survive(self.recover_from_full_disk())?;
                        }
                    }
                    backlog = self.survive(self.tick_runtime_reading())?.unwrap_or(false);
                    self.survive(self.tick_pm())?;
                    if !self.disk_full() {
                        self.survive(self.snapshot_if_due())?;
                    }
                }
                () = tokio::task::yield_now(), if backlog => {
                    backlog = self.survive(self.tick_runtime_reading())?.unwrap_or(false);
                }
            }
        }
        drop(watcher);
        self.stop_spare_keeper(keeper);
        let stop = self.config().on_quit == cortex_core::config::OnQuit::Stop;
        self.stop_runtime(stop);
        self.stop_exit_watcher();
        self.release_alerts();
        self.flush_pm_state();
        self.survive(self.snapshot_if_due())?;
        info!("engine stopped");
        Ok(())
    }

    /// True while the disk was found full and has not been seen to have room.
    pub(crate) fn disk_full(&self) -> bool {
        self.inner
            .disk_full
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// What the owner's loop does with a step's result: a full disk is not
    /// the end of the owner (it refuses new work, keeps supervising, and
    /// retries once a second); any other error is.
    pub(crate) fn survive<T>(
        &self,
        result: Result<T, EngineError>,
    ) -> Result<Option<T>, EngineError> {
        match result {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_disk_full() => {
                let was = self
                    .inner
                    .disk_full
                    .swap(true, std::sync::atomic::Ordering::Relaxed);
                if !was {
                    warn!("{e}; new submissions are refused and running workers still supervised until space returns");
                }
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Once a second while the disk is full: when a snapshot fits again, the
    /// owner takes submissions again and settles what it could not record.
    pub(crate) fn recover_from_full_disk(&self) -> Result<(), EngineError> {
        {
            let mut store = self.store();
            store.sync()?;
            store.write_snapshot(self.now())?;
        }
        self.inner
            .disk_full
            .store(false, std::sync::atomic::Ordering::Relaxed);
        info!("disk space is back: submissions are accepted again");
        self.settle_unrecorded()
    }

    /// `run`, guarded so that a panic anywhere in the owner's loop comes
    /// back as `EngineError::Stopped` with its message instead of ending
    /// the task that runs it: a caller that lives on (the app) must learn
    /// that nothing supervises its workers any more.
    pub async fn run_guarded(
        &self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), EngineError> {
        Guarded(Box::pin(self.run(shutdown))).await
    }
}

/// A future whose panic comes back as `EngineError::Stopped` with its
/// message. It runs on the thread that polls it: the CLI's loop stays on
/// its own thread (a task spawned on a worker thread of the runtime cost
/// the owner a malloc arena of its own, about 2 MB with 200 workers).
struct Guarded<F>(std::pin::Pin<Box<F>>);

impl<F: Future<Output = Result<(), EngineError>>> Future for Guarded<F> {
    type Output = Result<(), EngineError>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let inner = self.get_mut().0.as_mut();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(polled) => polled,
            Err(payload) => {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".into());
                std::task::Poll::Ready(Err(EngineError::Stopped(message)))
            }
        }
    }
}

/// Resolves when `notify` is notified; never without one.
async fn notified(notify: Option<&tokio::sync::Notify>) {
    match notify {
        Some(n) => n.notified().await,
        None => std::future::pending().await,
    }
}

/// A started owner's loop, as a shell holds it. Dropping it does not stop
/// the loop; `stop` does.
#[derive(Debug)]
pub struct OwnerLoop {
    pub(crate) engine: Engine,
    pub(crate) stop: Mutex<Option<oneshot::Sender<()>>>,
    /// Receives once when the loop has ended (whatever the reason).
    pub(crate) ended: Mutex<std::sync::mpsc::Receiver<()>>,
}

impl OwnerLoop {
    /// Asks the loop to end and waits until it has (its own stopping of
    /// workers under `on_quit: stop` included), at most `limit`; then closes
    /// the engine. A loop that already ended (an error, a panic) is not
    /// waited for. Every shell quits through this.
    pub fn stop(&self, limit: Duration) -> Result<(), EngineError> {
        if let Some(tx) = self.stop.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = tx.send(());
        }
        let waited = self
            .ended
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .recv_timeout(limit);
        let closed = self.engine.close();
        match waited {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(EngineError::System(format!(
                "the owner's loop did not end within {}s",
                limit.as_secs()
            ))),
            _ => closed,
        }
    }

    /// How long `stop` should wait: the workers' grace period when
    /// `on_quit` stops them, and a margin.
    pub fn patience(&self) -> Duration {
        Duration::from_secs(self.engine.config().pm.kill_grace_secs.saturating_add(15))
    }
}
