//! Waking waiters when a lock is released, instead of at their next poll.
//!
//! Waiters on the same file (by device and inode) share one [`Watch`]. A
//! watch is woken in two ways:
//!
//! - **By this host.** Every release that goes through the host (unlock,
//!   release, dropping a lock resource) calls [`released`], which wakes the
//!   file's waiters at once: a guest→guest hand-off costs a wake-up, not a
//!   poll interval. When nobody in the process waits, [`released`] is one
//!   atomic load.
//! - **By the kernel** (Linux). For releases the host cannot see (native
//!   processes, other hosts, a guest closing its descriptor), each watch runs
//!   one *sentinel* thread that blocks in `flock(2)` on an open file of its
//!   own (the same inode, reopened through `/proc/self/fd`). When the kernel
//!   grants the sentinel the lock, the sentinel releases it at once and wakes
//!   the waiters, who then take the lock on their own open files.
//!
//! The waiters still only take the lock in non-blocking attempts made while
//! their future is polled, so cancelling a wait stays exact: a cancelled
//! guest never holds the lock afterwards. What the sentinel adds, and the
//! price of kernel-speed wake-ups: while guests wait, the host holds the lock
//! itself for the instant between the kernel's grant and the sentinel's
//! release (a native `flock -n` probe at that instant fails), and a sentinel
//! whose waiters all gave up stays blocked until the file is next released,
//! then ends. One sentinel thread per contended file, not per waiter.

use std::collections::HashMap;
use std::fs::File;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};

use tokio::sync::Notify;
use tokio::sync::futures::Notified;

use crate::bindings::portalocker::filelock::types::LockMode;

/// Waits in progress in this process; [`released`] does nothing while zero.
static ACTIVE_WAITS: AtomicUsize = AtomicUsize::new(0);

/// The watches of files that have waiters, by file identity.
static WATCHES: LazyLock<Mutex<HashMap<FileId, Weak<Watch>>>> = LazyLock::new(Default::default);

/// A file's identity: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    #[cfg(unix)]
    fn of(file: &File) -> Option<FileId> {
        use std::os::unix::fs::MetadataExt;
        let metadata = file.metadata().ok()?;
        Some(FileId {
            dev: metadata.dev(),
            ino: metadata.ino(),
        })
    }

    #[cfg(not(unix))]
    fn of(_file: &File) -> Option<FileId> {
        None
    }
}

/// The waiters of one file.
struct Watch {
    id: FileId,
    notify: Notify,
    /// Waiters registered now, and how many of them want an exclusive lock.
    waiters: Mutex<Waiters>,
}

#[derive(Default)]
struct Waiters {
    total: usize,
    exclusive: usize,
    sentinel_running: bool,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut watches = WATCHES.lock().unwrap_or_else(|e| e.into_inner());
        if watches
            .get(&self.id)
            .is_some_and(|weak| weak.strong_count() == 0)
        {
            watches.remove(&self.id);
        }
    }
}

/// A registered waiter; dropping it unregisters.
pub(crate) struct Registration {
    watch: Arc<Watch>,
    mode: LockMode,
}

impl Registration {
    /// Registers a waiter for `mode` on `file`. `None` when the file's
    /// identity cannot be read: the waiter then relies on polling alone.
    pub(crate) fn new(file: &File, mode: LockMode) -> Option<Registration> {
        let id = FileId::of(file)?;
        let watch = {
            let mut watches = WATCHES.lock().unwrap_or_else(|e| e.into_inner());
            match watches.get(&id).and_then(Weak::upgrade) {
                Some(watch) => watch,
                None => {
                    let watch = Arc::new(Watch {
                        id,
                        notify: Notify::new(),
                        waiters: Mutex::default(),
                    });
                    watches.insert(id, Arc::downgrade(&watch));
                    watch
                }
            }
        };
        ACTIVE_WAITS.fetch_add(1, Ordering::SeqCst);
        let start_sentinel = {
            let mut waiters = watch.waiters.lock().unwrap_or_else(|e| e.into_inner());
            waiters.total += 1;
            if mode == LockMode::Exclusive {
                waiters.exclusive += 1;
            }
            !std::mem::replace(&mut waiters.sentinel_running, true)
        };
        if start_sentinel && !sentinel::start(file, Arc::clone(&watch)) {
            watch
                .waiters
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .sentinel_running = false;
        }
        Some(Registration { watch, mode })
    }

    /// A future that completes at the file's next wake-up. Enable it before
    /// the attempt it should follow, so that no wake-up is missed.
    pub(crate) fn notified(&self) -> Notified<'_> {
        self.watch.notify.notified()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut waiters = self.watch.waiters.lock().unwrap_or_else(|e| e.into_inner());
        waiters.total -= 1;
        if self.mode == LockMode::Exclusive {
            waiters.exclusive -= 1;
        }
        ACTIVE_WAITS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Tells this process's waiters on `file` that the host just released a
/// lock on it.
pub(crate) fn released(file: &File) {
    if ACTIVE_WAITS.load(Ordering::SeqCst) == 0 {
        return;
    }
    let Some(id) = FileId::of(file) else { return };
    let watch = WATCHES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&id)
        .and_then(Weak::upgrade);
    if let Some(watch) = watch {
        watch.notify.notify_waiters();
    }
}

#[cfg(target_os = "linux")]
mod sentinel {
    //! The kernel-side waiter of a watch.

    use std::fs::File;
    use std::os::fd::AsRawFd;
    use std::sync::Arc;
    use std::time::Duration;

    use super::Watch;
    use crate::bindings::portalocker::filelock::types::LockMode;

    /// How long a sentinel lets its woken waiters try before it blocks
    /// again, so that it never competes with them for a free lock.
    const SETTLE: Duration = Duration::from_micros(200);

    /// Starts the sentinel thread of `watch`, blocking on its own open file of
    /// `file`'s inode. Returns false if it could not be started.
    pub(super) fn start(file: &File, watch: Arc<Watch>) -> bool {
        let Ok(own) = File::open(format!("/proc/self/fd/{}", file.as_raw_fd())) else {
            return false;
        };
        std::thread::Builder::new()
            .name("portalocker-sentinel".into())
            .spawn(move || run(&own, &watch))
            .is_ok()
    }

    fn run(own: &File, watch: &Watch) {
        loop {
            let mode = {
                let mut waiters = watch.waiters.lock().unwrap_or_else(|e| e.into_inner());
                if waiters.total == 0 {
                    waiters.sentinel_running = false;
                    return;
                }
                if waiters.exclusive > 0 {
                    LockMode::Exclusive
                } else {
                    LockMode::Shared
                }
            };
            let granted = match mode {
                LockMode::Shared => fs4::FileExt::lock_shared(own),
                LockMode::Exclusive => fs4::FileExt::lock(own),
            };
            if granted.is_err() || fs4::FileExt::unlock(own).is_err() {
                watch
                    .waiters
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .sentinel_running = false;
                return;
            }
            watch.notify.notify_waiters();
            std::thread::sleep(SETTLE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod sentinel {
    //! No kernel-side waiter here: waiters rely on host wake-ups and polling.

    use std::fs::File;
    use std::sync::Arc;

    use super::Watch;

    pub(super) fn start(_file: &File, _watch: Arc<Watch>) -> bool {
        false
    }
}
