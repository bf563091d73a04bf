//! Noticing at once that an attempt's process ended, instead of at the next
//! tick.
//!
//! On Linux every watched process gets a pidfd (`pidfd_open`), which turns
//! readable when the process exits. One thread waits on all of them with
//! epoll and wakes the engine's loop, which runs a runtime pass at once: the
//! end is settled and, after a first crash, the replacement started within
//! milliseconds. The watcher never reaps: the runtime's `waitpid` does, so
//! the exit status is still there for it. Each pidfd is closed as soon as it
//! fires, and the rest when the watcher stops. Where pidfds are not
//! available (other systems, Linux before 5.3) there is no watcher and the
//! tick notices ends, as it always does anyway.
//!
//! The watcher also says which processes ended (`take_ended`), so a pass
//! asks the kernel for the exit status of those only, not of every live
//! attempt: a process it watches is polled only once it reported its end,
//! and every process is polled again should the watcher's thread stop.

use std::sync::Arc;

use tokio::sync::Notify;

/// The watcher of a running engine; stops its thread when dropped.
#[derive(Debug)]
pub struct ExitWatcher {
    wake: Arc<Notify>,
    #[cfg(target_os = "linux")]
    imp: linux::Watcher,
}

impl ExitWatcher {
    /// Starts watching, or `None` where pidfds are not available.
    #[cfg(target_os = "linux")]
    pub fn start() -> Option<Self> {
        let wake = Arc::new(Notify::new());
        let imp = linux::Watcher::start(wake.clone())?;
        Some(Self { wake, imp })
    }

    #[cfg(not(target_os = "linux"))]
    pub fn start() -> Option<Self> {
        None
    }

    /// Notified (one stored permit at most) when a watched process ended.
    pub fn wake(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Watches `pid` until it ends; false if it cannot be watched (the
    /// tick then notices its end).
    pub fn watch(&self, pid: u32) -> bool {
        #[cfg(target_os = "linux")]
        let watched = self.imp.watch(pid);
        #[cfg(not(target_os = "linux"))]
        let watched = {
            let _ = pid;
            false
        };
        watched
    }

    /// The pids whose end was seen since the last call, or `None` when the
    /// watcher's thread stopped (then nothing it watched is reported any
    /// more, and every process must be polled).
    pub(crate) fn take_ended(&self) -> Option<Vec<u32>> {
        #[cfg(target_os = "linux")]
        let ended = self.imp.take_ended();
        #[cfg(not(target_os = "linux"))]
        let ended = None;
        ended
    }

    /// Processes watched and not yet seen to end.
    #[cfg(all(test, target_os = "linux"))]
    fn watched(&self) -> usize {
        self.imp.watched()
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::collections::HashMap;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex, MutexGuard};
    use std::thread::JoinHandle;

    use tokio::sync::Notify;

    /// The epoll data of the stop signal (pidfds carry their descriptor).
    const STOP: u64 = u64::MAX;

    #[derive(Debug)]
    struct Shared {
        epoll: OwnedFd,
        /// An eventfd written once to stop the thread.
        stop: OwnedFd,
        /// Open pidfds (and their pid) by descriptor number; only the
        /// thread removes them.
        pidfds: Mutex<HashMap<RawFd, (OwnedFd, u32)>>,
        /// Pids whose pidfd fired, until the runtime takes them.
        ended: Mutex<Vec<u32>>,
        /// False once the thread returned: nothing is reported any more.
        running: AtomicBool,
    }

    impl Shared {
        fn pidfds(&self) -> MutexGuard<'_, HashMap<RawFd, (OwnedFd, u32)>> {
            self.pidfds.lock().unwrap_or_else(|e| e.into_inner())
        }

        fn ended(&self) -> MutexGuard<'_, Vec<u32>> {
            self.ended.lock().unwrap_or_else(|e| e.into_inner())
        }
    }

    #[derive(Debug)]
    pub(super) struct Watcher {
        shared: Arc<Shared>,
        thread: Option<JoinHandle<()>>,
    }

    /// A descriptor the kernel just returned, or `None` for -1.
    fn owned(fd: i64) -> Option<OwnedFd> {
        let fd = RawFd::try_from(fd).ok().filter(|fd| *fd >= 0)?;
        // SAFETY: `fd` was just returned by the kernel and nothing else owns it.
        Some(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// A pidfd for `pid` (close-on-exec, as pidfd_open always makes it).
    fn pidfd_open(pid: u32) -> Option<OwnedFd> {
        let pid = libc::pid_t::try_from(pid).ok().filter(|p| *p > 0)?;
        // SAFETY: pidfd_open takes a pid and flags (none) and returns a new
        // descriptor or -1; it touches no memory of ours.
        owned(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })
    }

    fn add(epoll: &OwnedFd, fd: RawFd, data: u64, flags: u32) -> bool {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32 | flags,
            u64: data,
        };
        // SAFETY: both descriptors are open, and `ev` is a valid event.
        unsafe { libc::epoll_ctl(epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) == 0 }
    }

    impl Watcher {
        pub(super) fn start(wake: Arc<Notify>) -> Option<Self> {
            // Kernels before 5.3 have no pidfd_open: then there is no watcher.
            drop(pidfd_open(std::process::id())?);
            // SAFETY: epoll_create1 and eventfd with valid flags return a
            // new descriptor or -1.
            let epoll = owned(i64::from(unsafe {
                libc::epoll_create1(libc::EPOLL_CLOEXEC)
            }))?;
            // SAFETY: as above.
            let stop = owned(i64::from(unsafe {
                libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK)
            }))?;
            if !add(&epoll, stop.as_raw_fd(), STOP, 0) {
                return None;
            }
            let shared = Arc::new(Shared {
                epoll,
                stop,
                pidfds: Mutex::new(HashMap::new()),
                ended: Mutex::new(Vec::new()),
                running: AtomicBool::new(true),
            });
            let thread = std::thread::Builder::new()
                .name("cortex-exits".into())
                .spawn({
                    let shared = shared.clone();
                    move || {
                        wait_for_exits(&shared, &wake);
                        shared.running.store(false, Ordering::SeqCst);
                        // Whoever waits polls everything from now on.
                        wake.notify_one();
                    }
                })
                .ok()?;
            Some(Self {
                shared,
                thread: Some(thread),
            })
        }

        pub(super) fn watch(&self, pid: u32) -> bool {
            // Held while the pidfd is added, so that the thread, woken by a
            // process that ends at once, finds it in the table.
            let mut pidfds = self.shared.pidfds();
            let Some(fd) = pidfd_open(pid) else {
                return false;
            };
            let raw = fd.as_raw_fd();
            let Ok(data) = u64::try_from(raw) else {
                return false;
            };
            if !add(&self.shared.epoll, raw, data, libc::EPOLLONESHOT as u32) {
                return false;
            }
            pidfds.insert(raw, (fd, pid));
            true
        }

        pub(super) fn take_ended(&self) -> Option<Vec<u32>> {
            // Taken before the liveness check: an end reported just before
            // the thread stopped is still handed over, and polled anyway.
            let ended = std::mem::take(&mut *self.shared.ended());
            self.shared.running.load(Ordering::SeqCst).then_some(ended)
        }

        #[cfg(test)]
        pub(super) fn watched(&self) -> usize {
            self.shared.pidfds().len()
        }
    }

    fn wait_for_exits(shared: &Shared, wake: &Notify) {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 64];
        loop {
            // SAFETY: the buffer holds `events.len()` events and outlives the call.
            let n = unsafe {
                libc::epoll_wait(
                    shared.epoll.as_raw_fd(),
                    events.as_mut_ptr(),
                    events.len() as libc::c_int,
                    -1,
                )
            };
            let Ok(n) = usize::try_from(n) else {
                if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return;
            };
            let mut ended = false;
            {
                let mut pidfds = shared.pidfds();
                for ev in &events[..n] {
                    let data = ev.u64;
                    if data == STOP {
                        return;
                    }
                    // Closing the pidfd also takes it out of the epoll set.
                    if let Some((_, pid)) =
                        RawFd::try_from(data).ok().and_then(|fd| pidfds.remove(&fd))
                    {
                        // Recorded before the wake-up, so the woken pass finds it.
                        shared.ended().push(pid);
                        ended = true;
                    }
                }
            }
            if ended {
                wake.notify_one();
            }
        }
    }

    impl Drop for Watcher {
        fn drop(&mut self) {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a live u64 to our own eventfd.
            let _ = unsafe {
                libc::write(
                    self.shared.stop.as_raw_fd(),
                    std::ptr::from_ref(&one).cast(),
                    std::mem::size_of::<u64>(),
                )
            };
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::spawner::{spawn, Launch};

    fn start(dir: &std::path::Path, n: usize, script: &str) -> crate::spawner::Spawned {
        spawn(&Launch {
            argv: vec!["sh".into(), "-c".into(), script.into()],
            env: vec![],
            cwd: dir.to_path_buf(),
            stdout: dir.join(format!("out-{n}")),
            stderr: dir.join(format!("err-{n}")),
            stdin_fifo: None,
            stdin_file: None,
            deadline_secs: None,
        })
        .expect("sh starts")
    }

    #[test]
    fn an_exit_wakes_the_engine_and_its_status_is_left_to_reap() {
        let dir = tempfile::tempdir().unwrap();
        let watcher = ExitWatcher::start().expect("this kernel has pidfd_open");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let mut child = start(dir.path(), 0, "sleep 0.2; exit 7");
        assert!(watcher.watch(child.id()));
        let wake = watcher.wake();
        let woke = runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(20), wake.notified()).await
        });
        assert!(woke.is_ok(), "the exit woke the waiter");
        let status = child.try_wait().unwrap().expect("ended, not yet reaped");
        assert_eq!(status.code(), Some(7), "the watcher did not reap it");
        assert_eq!(watcher.watched(), 0, "its pidfd was closed");
    }

    #[test]
    fn the_watcher_says_which_processes_ended_and_only_those() {
        let dir = tempfile::tempdir().unwrap();
        let watcher = ExitWatcher::start().expect("this kernel has pidfd_open");
        let mut ends = start(dir.path(), 0, "exit 0");
        let mut stays = start(dir.path(), 1, "sleep 600");
        assert!(watcher.watch(ends.id()));
        assert!(watcher.watch(stays.id()));
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !seen.contains(&ends.id()) {
            assert!(Instant::now() < deadline, "the end was reported");
            seen.extend(watcher.take_ended().expect("the watcher runs"));
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            !seen.contains(&stays.id()),
            "a running process is not reported"
        );
        assert_eq!(
            watcher.take_ended(),
            Some(vec![]),
            "each end is reported once"
        );
        assert!(ends.try_wait().unwrap().is_some(), "left to reap");
        crate::spawner::signal_group(stays.id(), libc::SIGKILL);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !seen.contains(&stays.id()) {
            assert!(Instant::now() < deadline, "the second end was reported");
            seen.extend(watcher.take_ended().expect("the watcher runs"));
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = stays.try_wait();
    }

    #[test]
    fn processes_that_end_before_or_after_they_are_watched_all_wake_it() {
        let dir = tempfile::tempdir().unwrap();
        let watcher = ExitWatcher::start().expect("this kernel has pidfd_open");
        let mut children: Vec<_> = (0..5)
            .map(|i| start(dir.path(), i, &format!("exit {i}")))
            .collect();
        // Some have surely ended by now: a zombie's pidfd is readable at once.
        for c in &children {
            assert!(watcher.watch(c.id()));
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while watcher.watched() > 0 {
            assert!(Instant::now() < deadline, "every end was seen");
            std::thread::sleep(Duration::from_millis(5));
        }
        for (i, c) in children.iter_mut().enumerate() {
            let status = c.try_wait().unwrap().expect("ended");
            assert_eq!(status.code(), i32::try_from(i).ok());
        }
        assert!(!watcher.watch(u32::MAX), "no such process");
    }
}
