//! Waking waiters when a lock is released, instead of at their next poll.
//!
//! Waiters on the same lock (by [`LockKey`]: for a whole file, its device and
//! inode) share one [`Watch`]. A watch is woken in two ways:
//!
//! - **By this host.** Every release that goes through the host (unlock,
//!   release, dropping a lock resource) calls [`released`], which wakes the
//!   file's waiters at once: a guest→guest hand-off costs a wake-up, not a
//!   poll interval. When nobody in the process waits, [`released`] is one
//!   atomic load.
//! - **By the kernel**, where the backend offers a [`KernelWatcher`] (whole
//!   files on Linux). For releases the host cannot see (native processes,
//!   other hosts, a guest closing its descriptor), each watch runs one
//!   *sentinel* thread that blocks in the kernel on a lock of its own (for a
//!   whole file: `flock(2)` on the same inode, reopened through
//!   `/proc/self/fd`). When the kernel grants the sentinel the lock, the
//!   sentinel releases it at once and wakes the waiters, who then take the
//!   lock on their own open files.
//!
//! **Fairness.** Waiters of a store whose context asks for it
//! ([`crate::FileLockCtxBuilder::fair`], the default) line up in a queue per
//! file: a wake-up lets only the oldest try (or the run of shared waiters at
//! the front), a failed attempt keeps its place, and a newcomer lines up
//! behind a non-empty queue instead of trying first. Other waiters are all
//! woken at once and race. The queue orders this host's waiters only; the
//! kernel still arbitrates between them and other processes.
//!
//! The waiters still only take the lock in non-blocking attempts made while
//! their future is polled, so cancelling a wait stays exact: a cancelled
//! guest never holds the lock afterwards. What the sentinel adds, and the
//! price of kernel-speed wake-ups: while guests wait, the host holds the lock
//! itself for the instant between the kernel's grant and the sentinel's
//! release (a native `flock -n` probe at that instant fails), and a sentinel
//! whose waiters all gave up stays blocked until the file is next released,
//! then ends. One sentinel thread per contended file, not per waiter.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::sync::futures::Notified;

use crate::backend::{KernelWatcher, LockKey, Lockable};
use crate::bindings::portalocker::filelock::types::LockMode;

/// Waits in progress in this process; [`released`] does nothing while zero.
static ACTIVE_WAITS: AtomicUsize = AtomicUsize::new(0);

/// Sentinel threads running in this process.
static SENTINELS: AtomicUsize = AtomicUsize::new(0);

/// The watches of files that have waiters, by file identity.
static WATCHES: LazyLock<Mutex<HashMap<LockKey, Weak<Watch>>>> = LazyLock::new(Default::default);

/// The waiters of one lock.
struct Watch {
    key: LockKey,
    /// Wakes every waiter that does not queue.
    broadcast: Notify,
    /// Waiters registered now, and the queue of those that wait their turn.
    waiters: Mutex<Waiters>,
}

#[derive(Default)]
struct Waiters {
    total: usize,
    exclusive: usize,
    sentinel_running: bool,
    /// First-come-first-served waiters, oldest first.
    queue: VecDeque<Arc<Ticket>>,
}

/// A queued waiter's place in line.
struct Ticket {
    mode: LockMode,
    notify: Notify,
    /// When the ticket's owner last looked at its turn. A live owner looks at
    /// least once per poll interval; one whose future is no longer polled (a
    /// request left alone, a cancelled call whose store lives on) goes stale
    /// and must not hold up the line.
    seen: Mutex<Instant>,
    /// How long after `seen` the ticket counts as stale.
    stale_after: Duration,
}

/// The shortest time a queued waiter may go unseen before it counts as
/// abandoned.
const STALE: Duration = Duration::from_millis(25);

impl Ticket {
    /// Whether the owner has not looked at its turn for a while.
    fn is_stale(&self) -> bool {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
            > self.stale_after
    }

    /// The owner is looking at its turn now.
    fn seen(&self) {
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }
}

impl Waiters {
    /// How many tickets at the front of the queue may try now: the oldest,
    /// and the shared ones right behind a shared oldest (shared holders
    /// coexist, so they are served together).
    fn served(&self) -> usize {
        match self.queue.front() {
            None => 0,
            Some(first) if first.mode == LockMode::Exclusive => 1,
            Some(_) => self
                .queue
                .iter()
                .take_while(|t| t.mode == LockMode::Shared)
                .count(),
        }
    }

    /// Wakes the tickets that may try now.
    fn wake_served(&self) {
        for ticket in self.queue.iter().take(self.served()) {
            ticket.notify.notify_one();
        }
    }

    /// Whether the served front of the queue holds up the rest: it is there
    /// and none of it is stale.
    fn front_is_live(&self) -> bool {
        let served = self.served();
        served > 0 && !self.queue.iter().take(served).any(|t| t.is_stale())
    }
}

impl Watch {
    /// The lock may be free: wake the non-queued waiters and the served
    /// front of the queue.
    fn wake(&self) {
        self.broadcast.notify_waiters();
        self.waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .wake_served();
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut watches = WATCHES.lock().unwrap_or_else(|e| e.into_inner());
        if watches
            .get(&self.key)
            .is_some_and(|weak| weak.strong_count() == 0)
        {
            watches.remove(&self.key);
        }
    }
}

/// The watch of `key`, if anyone waits on it in this process.
fn existing_watch(key: LockKey) -> Option<Arc<Watch>> {
    WATCHES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
        .and_then(Weak::upgrade)
}

/// Whether `test` holds for the waiters of `target`, when `active` (a count
/// of this process) says there may be any.
fn waiters_of<L: Lockable + ?Sized>(
    target: &L,
    active: &AtomicUsize,
    test: impl FnOnce(&Waiters) -> bool,
) -> bool {
    if active.load(Ordering::SeqCst) == 0 {
        return false;
    }
    target
        .key()
        .and_then(existing_watch)
        .is_some_and(|watch| test(&watch.waiters.lock().unwrap_or_else(|e| e.into_inner())))
}

/// Whether waiters of this process queue for `target`: a fair newcomer must
/// then line up behind them instead of trying first.
pub(crate) fn has_queue<L: Lockable + ?Sized>(target: &L) -> bool {
    waiters_of(target, &ACTIVE_WAITS, Waiters::front_is_live)
}

/// Whether this process runs a sentinel on `target` (which may hold its
/// lock for an instant).
pub(crate) fn sentinel_on<L: Lockable + ?Sized>(target: &L) -> bool {
    waiters_of(target, &SENTINELS, |waiters| waiters.sentinel_running)
}

/// A registered waiter; dropping it unregisters.
pub(crate) struct Registration {
    watch: Arc<Watch>,
    mode: LockMode,
    /// The waiter's place in line, when it waits its turn.
    ticket: Option<Arc<Ticket>>,
}

impl Registration {
    /// Registers a waiter for `mode` on `target`; with `fair` it lines up
    /// first-come-first-served behind the lock's other fair waiters (and
    /// looks at its turn at least every `poll_interval`). `None` when the
    /// lock's key cannot be told: the waiter then relies on polling alone.
    pub(crate) fn new<L: Lockable + ?Sized>(
        target: &L,
        mode: LockMode,
        fair: bool,
        poll_interval: Duration,
    ) -> Option<Registration> {
        let key = target.key()?;
        let watch = {
            let mut watches = WATCHES.lock().unwrap_or_else(|e| e.into_inner());
            match watches.get(&key).and_then(Weak::upgrade) {
                Some(watch) => watch,
                None => {
                    let watch = Arc::new(Watch {
                        key,
                        broadcast: Notify::new(),
                        waiters: Mutex::default(),
                    });
                    watches.insert(key, Arc::downgrade(&watch));
                    watch
                }
            }
        };
        ACTIVE_WAITS.fetch_add(1, Ordering::SeqCst);
        let ticket = fair.then(|| {
            Arc::new(Ticket {
                mode,
                notify: Notify::new(),
                seen: Mutex::new(Instant::now()),
                stale_after: STALE.max(poll_interval * 4),
            })
        });
        let start_sentinel = {
            let mut waiters = watch.waiters.lock().unwrap_or_else(|e| e.into_inner());
            waiters.total += 1;
            if mode == LockMode::Exclusive {
                waiters.exclusive += 1;
            }
            if let Some(ticket) = &ticket {
                waiters.queue.push_back(Arc::clone(ticket));
            }
            !std::mem::replace(&mut waiters.sentinel_running, true)
        };
        if start_sentinel && !sentinel::start(target.watcher(), Arc::clone(&watch)) {
            watch
                .waiters
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .sentinel_running = false;
        }
        Some(Registration {
            watch,
            mode,
            ticket,
        })
    }

    /// A future that completes at this waiter's next wake-up. Enable it
    /// before the attempt it should follow, so that no wake-up is missed.
    pub(crate) fn notified(&self) -> Notified<'_> {
        match &self.ticket {
            Some(ticket) => ticket.notify.notified(),
            None => self.watch.broadcast.notified(),
        }
    }

    /// Whether it is this waiter's turn to try: always for a waiter that does
    /// not queue; for a queued one, when it is at the served front, or when
    /// the front has gone stale (its owner stopped looking).
    pub(crate) fn may_try(&self) -> bool {
        let Some(ticket) = &self.ticket else {
            return true;
        };
        let waiters = self.watch.waiters.lock().unwrap_or_else(|e| e.into_inner());
        let served = waiters.served();
        let turn = waiters
            .queue
            .iter()
            .take(served)
            .any(|t| Arc::ptr_eq(t, ticket));
        ticket.seen();
        turn || !waiters.front_is_live()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut waiters = self.watch.waiters.lock().unwrap_or_else(|e| e.into_inner());
        waiters.total -= 1;
        if self.mode == LockMode::Exclusive {
            waiters.exclusive -= 1;
        }
        if let Some(ticket) = &self.ticket
            && let Some(place) = waiters.queue.iter().position(|t| Arc::ptr_eq(t, ticket))
        {
            waiters.queue.remove(place);
            // Whoever is now at the front may have missed a wake-up while
            // it was behind this waiter: let it try.
            if place == 0 {
                waiters.wake_served();
            }
        }
        ACTIVE_WAITS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Tells this process's waiters on `target` that the host just released
/// it.
pub(crate) fn released<L: Lockable + ?Sized>(target: &L) {
    if ACTIVE_WAITS.load(Ordering::SeqCst) == 0 {
        return;
    }
    if let Some(watch) = target.key().and_then(existing_watch) {
        watch.wake();
    }
}

mod sentinel {
    //! The kernel-side waiter of a watch.

    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    use super::{KernelWatcher, Watch};
    use crate::bindings::portalocker::filelock::types::LockMode;

    /// How long a sentinel lets its woken waiters try before it blocks
    /// again, so that it never competes with them for a free lock.
    const SETTLE: Duration = Duration::from_micros(200);

    /// The longest pause between two grants of a lock that stays free (its
    /// waiters are not taking it: requests nobody polls, say).
    const IDLE: Duration = Duration::from_millis(50);

    /// A grant faster than this means the lock was free already.
    const INSTANT_GRANT: Duration = Duration::from_micros(100);

    /// Starts the sentinel thread of `watch`, blocking in `watcher`.
    /// Returns false if there is no watcher or no thread could be started.
    pub(super) fn start(watcher: Option<Box<dyn KernelWatcher>>, watch: Arc<Watch>) -> bool {
        let Some(mut watcher) = watcher else {
            return false;
        };
        super::SENTINELS.fetch_add(1, Ordering::SeqCst);
        let started = std::thread::Builder::new()
            .name("portalocker-sentinel".into())
            .spawn(move || {
                run(watcher.as_mut(), &watch);
                super::SENTINELS.fetch_sub(1, Ordering::SeqCst);
            })
            .is_ok();
        if !started {
            super::SENTINELS.fetch_sub(1, Ordering::SeqCst);
        }
        started
    }

    fn run(watcher: &mut dyn KernelWatcher, watch: &Watch) {
        let mut settle = SETTLE;
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
            let blocked = Instant::now();
            let granted = watcher.wait_granted(mode);
            // A lock that was free already: its waiters are slow to take it.
            // Back off rather than spin on it.
            settle = if blocked.elapsed() < INSTANT_GRANT {
                (settle * 2).min(IDLE)
            } else {
                SETTLE
            };
            if granted.is_err() {
                watch
                    .waiters
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .sentinel_running = false;
                return;
            }
            watch.wake();
            std::thread::sleep(settle);
        }
    }
}
