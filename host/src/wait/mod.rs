//! Waiting for a lock: one engine for every lock class, both linkers, and
//! every backend.
//!
//! # Design
//!
//! The engine is generic over the lock it waits for (the
//! [`crate::backend::Lockable`] seam): whole files (which includes the
//! lock files of named locks in a local namespace) and byte ranges of a
//! file. (Named locks on a network service wait in [`crate::named_lock`]'s
//! engine, built from this one's pieces: `Patience`, the pending-wait
//! budget, `sleep`'s timers; see its docs for what differs and why.) A call
//! first tries once without waiting. If the lock is held
//! elsewhere, the waiter lines up in this host's queue for the lock (the
//! private `queue` module), and the front of the queue waits **in the
//! kernel, on the guest's own lock**: for a whole file, `flock(2)` without
//! `LOCK_NB` on the guest's open file; for a byte range, `F_OFD_SETLKW` on
//! it. The kernel grants the lock to that open file the moment it is
//! released, by a guest of this host, another host or a native process; the
//! host never holds a lock that no guest asked for. (The byte ranges of one
//! file share a queue in which a waiter lines up only behind earlier
//! waiters for overlapping bytes in a conflicting mode, so each such group
//! has a front of its own.) A caller of the sync linker blocks
//! on its own thread (one wake-up from release to guest); anyone else has a
//! worker thread of a small pool block for it (the private `kernel`
//! module). Everyone behind the front waits in the queue, costing no thread.
//!
//! The properties the host promises follow from that shape:
//!
//! - **Timeouts are honoured.** Absent means wait forever; zero means exactly
//!   one attempt; otherwise a thread blocked in the kernel is interrupted at
//!   the deadline by a thread-directed signal whose handler is installed
//!   without `SA_RESTART` (how util-linux `flock -w` times out), and the
//!   wait fails with `timed-out` (or `limit-reached(wait-time)` at the host's
//!   [`crate::FileLockCtxBuilder::max_wait`]). The signal is
//!   [`WaitPolicy::interrupt_signal`]; the host installs its (empty) handler
//!   only on a signal nobody else handles, and never touches wasmtime's.
//! - **A cancelled wait never keeps the lock.** Dropping the call's future,
//!   a request or the store interrupts the worker at once and waits for it
//!   to leave the kernel; a lock the kernel granted in that instant is given
//!   back before the cancellation returns (a byte range puts back what the
//!   open file held on its bytes before, so a cancelled conversion keeps its
//!   old lock).
//! - **No guest freezes the host.** An async wait never blocks an executor
//!   thread; a sync wait blocks only the calling store's thread. Nothing on
//!   the wait path opens a file, and only regular files are ever waited for
//!   in the kernel (a FIFO or a device is only tried without waiting).
//! - **Threads are bounded.** At most one thread waits in the kernel per
//!   contended lock (the front; for byte ranges, per group of waiters that
//!   do not stand in each other's way), and the pool never runs more
//!   workers than [`WaitPolicy::max_kernel_waiters`]; beyond that cap, and
//!   wherever the kernel cannot be used (no signal, not a regular file,
//!   Windows, byte ranges off Linux), the front *polls*: it tries without waiting when this host releases the
//!   lock and on a timer doubling from [`WaitPolicy::min_interval`] to
//!   [`WaitPolicy::max_interval`]. Idle workers end after a few
//!   milliseconds.
//! - **Only contention is retried.** Any other error ends the wait at once.
//! - **Fairness.** Fair waiters of this host are served first-come-first-
//!   served (see [`WaitPolicy::fair`]); a waiter whose instance already
//!   holds the same lock (a second shared lock on a separate open file,
//!   say, or a lock the kernel granted one of its requests that nobody
//!   polled since) and a holder converting its own lock try at once
//!   instead, as `flock` itself would let them, so they never wait on a
//!   waiter that waits for them. Between this host and other processes the
//!   kernel decides.
//!
//! (An epoch deadline does not end a pending host call: wasmtime checks
//! epochs only while wasm runs. [`crate::FileLockCtxBuilder::max_wait`] bounds
//! every wait.)

mod kernel;
mod queue;

use std::cell::Cell;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use self::queue::{Claim, How, Outcome, Registration};
use crate::backend::{Attempt, Lockable};
use crate::bindings::portalocker::filelock::types::{Limit, LockError, LockMode};
use crate::error::file_error;
use crate::policy::{WaitBudget, WaitSlot};
use crate::sys;

/// How this host's waiters wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitPolicy {
    /// The pause after the first contended attempt of a polling waiter.
    pub min_interval: Duration,
    /// The longest pause between two attempts of a polling waiter.
    pub max_interval: Duration,
    /// Serve this host's waiters on a lock first-come-first-served, the
    /// front waiting in the kernel. Unfair waiters poll and race.
    pub fair: bool,
    /// The signal that interrupts a waiter blocked in the kernel at its
    /// deadline or when it is cancelled; `None` makes every waiter poll.
    /// By default a real-time signal on Linux (`SIGRTMIN + 6`), none
    /// elsewhere. The host installs an empty handler on it (without
    /// `SA_RESTART`) the first time it is needed, and only if the signal has
    /// no handler yet; otherwise its waiters poll. Do not install a handler
    /// of your own on it afterwards.
    pub interrupt_signal: Option<i32>,
    /// The most worker threads that may block in the kernel for waiters of
    /// the async linker and for requests, in the whole process; beyond
    /// them, waiters poll. (A sync caller blocks on its own thread.)
    pub max_kernel_waiters: usize,
}

impl Default for WaitPolicy {
    fn default() -> Self {
        WaitPolicy {
            min_interval: Duration::from_micros(50),
            max_interval: Duration::from_millis(5),
            fair: true,
            interrupt_signal: sys::default_interrupt_signal(),
            max_kernel_waiters: 128,
        }
    }
}

thread_local! {
    /// Whether the future polled on this thread may block the thread (the
    /// sync linker drives it).
    static MAY_BLOCK: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` (which polls a wait future) allowing the wait to block the
/// calling thread in the kernel: what the sync linker does.
pub(crate) fn blocking_this_thread<R>(f: impl FnOnce() -> R) -> R {
    let before = MAY_BLOCK.replace(true);
    let result = f();
    MAY_BLOCK.set(before);
    result
}

thread_local! {
    /// Whether a wait dropped on this thread keeps a lock the kernel granted
    /// it before the drop (see [`keeping_granted`]).
    static KEEP_GRANTED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`, which drops a wait future, so that a lock the kernel granted
/// the wait before (while nobody polled it) stays held instead of being
/// given back: what a request that repeats or converts its open file's lock
/// does when it is dropped uncollected, as it does with a lock it was
/// polled into taking. A lock granted while the drop runs is still given
/// back (a cancelled wait never keeps a lock granted meanwhile).
pub(crate) fn keeping_granted<R>(f: impl FnOnce() -> R) -> R {
    let before = KEEP_GRANTED.replace(true);
    let result = f();
    KEEP_GRANTED.set(before);
    result
}

/// Whether a wait on the open file `target` was granted its lock while its
/// owner was away and has not taken it yet: the open file holds the lock
/// for that wait, so nobody else on the same open file may give it back.
pub(crate) fn granted_to_a_wait<L: Lockable + 'static>(target: &Arc<L>) -> bool {
    let target: Arc<dyn Lockable> = Arc::clone(target) as Arc<dyn Lockable>;
    target
        .key()
        .is_some_and(|key| queue::granted_on(key, &target))
}

/// Whether a wait dropped now keeps a lock granted before (see
/// [`keeping_granted`]).
fn keeps_granted() -> bool {
    KEEP_GRANTED.get()
}

/// Wraps `future` so that it never blocks the thread that polls it, even
/// under the sync linker: for a wait that is not the only thing its caller
/// waits for (a request polled among other pollables, one of a semaphore's
/// slots). It waits through a worker instead.
pub(crate) fn never_blocking<F: Future>(future: F) -> impl Future<Output = F::Output> {
    let mut future = Box::pin(future);
    std::future::poll_fn(move |cx| {
        let before = MAY_BLOCK.replace(false);
        let polled = future.as_mut().poll(cx);
        MAY_BLOCK.set(before);
        polled
    })
}

/// Whether the signal of a failed `take_signal` was reported already.
static SIGNAL_REFUSED: AtomicBool = AtomicBool::new(false);

/// How a fair waiter on `target` waits at the front of its line.
fn how_to_wait<L: Lockable + ?Sized>(target: &L, policy: &WaitPolicy) -> How {
    let Some(signal) = policy.interrupt_signal else {
        return How::Poll;
    };
    if policy.max_kernel_waiters == 0 || !target.blocks_in_kernel() {
        return How::Poll;
    }
    if let Err(err) = sys::take_signal(signal) {
        if !SIGNAL_REFUSED.swap(true, Ordering::Relaxed) {
            tracing::warn!(%err, signal, "cannot wait in the kernel: waiters poll");
        }
        return How::Poll;
    }
    if MAY_BLOCK.get() && sys::prepare_thread(signal, false) {
        How::Inline { signal }
    } else {
        How::Worker {
            signal,
            cap: policy.max_kernel_waiters,
        }
    }
}

/// How long a caller is prepared to wait, from its WIT `timeout` and the
/// host's longest allowed wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Patience {
    /// Exactly one attempt (timeout zero): contention is `already-locked`.
    Once,
    /// Attempts until the guest's deadline: then contention is `timed-out`.
    Until(Instant),
    /// Attempts until the host's deadline, which comes before the guest's:
    /// then contention is `limit-reached(wait-time)`.
    UntilHostLimit(Instant),
    /// Attempts until the lock is held (no timeout, no host limit).
    Forever,
}

impl Patience {
    /// Patience for a WIT timeout in nanoseconds and the host's `max_wait`,
    /// counted from now.
    pub(crate) fn from_timeout(timeout_ns: Option<u64>, max_wait: Option<Duration>) -> Patience {
        let after = |wait: Duration| Instant::now().checked_add(wait);
        let own = match timeout_ns {
            Some(0) => return Patience::Once,
            Some(ns) => Some(Duration::from_nanos(ns)),
            None => None,
        };
        match (own, max_wait) {
            (Some(own), Some(max)) if own > max => {
                after(max).map_or(Patience::Forever, Patience::UntilHostLimit)
            }
            (Some(own), _) => after(own).map_or(Patience::Forever, Patience::Until),
            (None, Some(max)) => after(max).map_or(Patience::Forever, Patience::UntilHostLimit),
            (None, None) => Patience::Forever,
        }
    }

    /// The deadline, and the error contention gives once it has passed.
    pub(crate) fn deadline(self) -> Option<(Instant, LockError)> {
        match self {
            Patience::Until(deadline) => Some((deadline, LockError::TimedOut)),
            Patience::UntilHostLimit(deadline) => {
                Some((deadline, LockError::LimitReached(Limit::WaitTime)))
            }
            Patience::Once | Patience::Forever => None,
        }
    }
}

/// Locks `target` in `mode`, waiting as `patience` allows. `converting`
/// says that `target` holds a lock already (in this instance's knowledge);
/// `budget` also says which locks the instance holds.
///
/// See the module docs for the guarantees. The returned future holds no lock
/// unless it completes with `Ok`.
pub(crate) async fn acquire<L: Lockable>(
    target: &Arc<L>,
    mode: LockMode,
    patience: Patience,
    policy: WaitPolicy,
    budget: WaitBudget,
    converting: bool,
) -> Result<(), LockError> {
    if patience == Patience::Once {
        return try_once(&**target, mode);
    }
    // A fair newcomer lines up behind this host's queued waiters instead of
    // trying first; not a holder converting its lock, nor an instance that
    // holds the same lock already (through a lock it counts, or a wait of
    // its own the kernel granted while nobody polled it): a queued waiter
    // may be waiting for them.
    let owner = Arc::as_ptr(&budget.usage).addr();
    let mut key = None;
    let line_up = policy.fair && queue::waits_in_progress() && {
        key = target.key();
        let claim = Claim::of(&**target, mode);
        key.is_some_and(|key| {
            queue::has_queue(key, &claim)
                && !budget.usage.holds_key(key)
                && !queue::granted_to(key, owner)
        })
    };
    if converting || !line_up {
        match try_once(&**target, mode) {
            Err(LockError::AlreadyLocked) => {}
            done => return done,
        }
    }
    let _slot = WaitSlot::claim(&budget.usage, budget.max_pending)?;
    let key = match key {
        Some(key) => Some(key),
        None => target.key(),
    };
    let deadline = patience.deadline();
    let registration = key.map(|key| {
        let fair = policy.fair.then(|| how_to_wait(&**target, &policy));
        Registration::new(
            owner,
            Arc::clone(target) as Arc<dyn Lockable>,
            key,
            mode,
            fair,
            deadline.map(|(deadline, _)| deadline),
            policy.max_interval,
        )
    });
    let mut interval = policy.min_interval;
    loop {
        // Listen before looking, so that a wake-up between the look and the
        // sleep is not missed.
        let mut wake_up = pin!(registration.as_ref().map(Registration::notified));
        if let Some(notified) = wake_up.as_mut().as_pin_mut() {
            notified.enable();
        }
        if let Some(registration) = &registration {
            if let Some(outcome) = registration.outcome() {
                return settle(outcome, deadline);
            }
            if let Some(signal) = registration.inline_turn()
                && let Some(outcome) = registration.block_inline(signal)
            {
                return settle(outcome, deadline);
            }
        }
        let kernel_busy = registration.as_ref().is_some_and(Registration::kernel_busy);
        let now = Instant::now();
        let at_deadline = deadline.is_some_and(|(deadline, _)| now >= deadline);
        if !kernel_busy && (at_deadline || registration.as_ref().is_none_or(Registration::may_try))
        {
            match try_once(&**target, mode) {
                Err(LockError::AlreadyLocked) => {}
                done => return done,
            }
        }
        let pause = match deadline {
            // A worker blocked for this waiter has the same deadline and
            // reports first; it is never raced.
            Some((_, err)) if at_deadline && !kernel_busy => return Err(err),
            Some((deadline, _)) if !at_deadline => interval.min(deadline - now),
            _ => interval,
        };
        match wake_up.as_pin_mut() {
            Some(notified) => {
                tokio::select! {
                    () = notified => {}
                    () = sleep(pause) => {}
                }
            }
            None => sleep(pause).await,
        }
        interval = interval.saturating_mul(2).min(policy.max_interval);
    }
}

/// The end of a wait in the kernel.
fn settle(outcome: Outcome, deadline: Option<(Instant, LockError)>) -> Result<(), LockError> {
    match outcome {
        Outcome::Acquired => Ok(()),
        Outcome::Expired => Err(deadline.map_or(LockError::TimedOut, |(_, err)| err)),
        Outcome::Failed(err) => Err(file_error(&err)),
    }
}

/// Locks `target` in `mode` if that is possible at once; `already-locked`
/// otherwise. Never waits.
pub(crate) fn try_once<L: Lockable + ?Sized>(target: &L, mode: LockMode) -> Result<(), LockError> {
    match target.try_lock(mode).map_err(|err| file_error(&err))? {
        Attempt::Acquired => Ok(()),
        Attempt::Contended => Err(LockError::AlreadyLocked),
    }
}

/// Releases `target` and wakes this host's waiters on it.
pub(crate) fn release<L: Lockable + ?Sized>(target: &L) -> Result<(), LockError> {
    target.unlock().map_err(|err| file_error(&err))?;
    queue::released(target);
    Ok(())
}

/// Gives back a lock granted to a wait that was cancelled (see
/// [`Lockable::give_back`]) and wakes this host's waiters on it.
fn give_back<L: Lockable + ?Sized>(target: &L) -> Result<(), LockError> {
    target.give_back().map_err(|err| file_error(&err))?;
    queue::released(target);
    Ok(())
}

/// Sleeps on a Tokio timer, whichever executor polls the future.
///
/// The timer is registered with the ambient Tokio runtime (the embedder's, or
/// wasmtime-wasi's own when there is none), whose driver wakes the task.
pub(crate) async fn sleep(pause: Duration) {
    wasmtime_wasi::runtime::with_ambient_tokio_runtime(|| tokio::time::sleep(pause)).await
}
