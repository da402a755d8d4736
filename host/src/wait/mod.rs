//! Waiting for a lock: one implementation for the sync and the async linker.
//!
//! # Design
//!
//! The engine is generic over the lock it waits for (the
//! [`crate::backend::Lockable`] seam): whole files today. A wait is a future
//! that alternates a non-blocking attempt (for a whole file, `flock(2)` with
//! `LOCK_NB`) with a pause that ends at the first of: a wake-up for the lock
//! (the private `queue` module: a release by this host, or the kernel
//! granting the lock's sentinel the lock), or a timer whose length doubles
//! from [`WaitPolicy::min_interval`] up to [`WaitPolicy::max_interval`] and
//! never runs past the caller's deadline. The timer is only a safety net (and
//! the only way to notice releases where there is no sentinel, off Linux).
//! The properties the host promises follow from that shape:
//!
//! - **No guest freezes the host.** The future never blocks a thread: in the
//!   async linker a waiting guest yields its executor between attempts, so
//!   other guests (even on a single-threaded executor) keep running. The sync
//!   linker drives the same future to completion on the calling store's thread
//!   only.
//! - **Cancellation is exact.** The guest's lock is only ever taken inside a
//!   non-blocking attempt made while the future is being polled. Dropping the
//!   future (a cancelled call, a dropped store) therefore stops the wait,
//!   and the lock is never taken for the guest afterwards. (An epoch deadline
//!   does not end a pending host call: wasmtime checks epochs only while wasm
//!   runs. A sync embedder that needs every wait to end sets
//!   [`crate::FileLockCtxBuilder::max_wait`].) The only thread that blocks in the kernel is a file's
//!   sentinel, on the host's own open file, never on the guest's.
//! - **Timeouts are honoured.** Absent means wait forever; zero means exactly
//!   one attempt; otherwise a last attempt is made at the deadline itself,
//!   then the wait fails with `timed-out`.
//! - **Only contention is retried.** Any other error ends the wait at once.
//! - **Hand-off at wake-up speed.** A waiter learns of a release from a
//!   wake-up, tens of microseconds after it, not at its next poll (see the
//!   benchmark's P3 figure).
//!
//! By default this host's waiters on a file are served first-come-first-served
//! (see [`WaitPolicy::fair`]): a wake-up lets only the oldest waiter try, which
//! also spares the file a thundering herd of attempts.

mod queue;

use std::pin::pin;
use std::time::{Duration, Instant};

use self::queue::Registration;
use crate::backend::{Attempt, Lockable};
use crate::bindings::portalocker::filelock::types::{Limit, LockError, LockMode};
use crate::error::file_error;
use crate::policy::{WaitBudget, WaitSlot};

/// How a waiter paces its attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitPolicy {
    /// The pause after the first contended attempt.
    pub min_interval: Duration,
    /// The longest pause between two attempts.
    pub max_interval: Duration,
    /// Serve this host's waiters on a file first-come-first-served.
    pub fair: bool,
}

impl Default for WaitPolicy {
    fn default() -> Self {
        WaitPolicy {
            min_interval: Duration::from_micros(50),
            max_interval: Duration::from_millis(5),
            fair: true,
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
    fn deadline(self) -> Option<(Instant, LockError)> {
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
/// says that `target` holds a lock already (in this instance's knowledge).
///
/// See the module docs for the guarantees. The returned future holds no lock
/// unless it completes with `Ok`.
pub(crate) async fn acquire<L: Lockable + ?Sized>(
    target: &L,
    mode: LockMode,
    patience: Patience,
    policy: WaitPolicy,
    budget: WaitBudget,
    converting: bool,
) -> Result<(), LockError> {
    // A fair newcomer lines up behind this host's queued waiters instead of
    // trying first; not a holder converting its lock, which a queued waiter
    // may be waiting for.
    let barge = converting || !policy.fair || !queue::has_queue(target);
    if barge || patience == Patience::Once {
        let first = if patience == Patience::Once {
            try_now(target, mode)
        } else {
            try_once(target, mode)
        };
        match first {
            Err(LockError::AlreadyLocked) if patience != Patience::Once => {}
            done => return done,
        }
    }
    let _slot = WaitSlot::claim(&budget.usage, budget.max_pending)?;
    let registration = Registration::new(target, mode, policy.fair, policy.max_interval);
    let mut interval = policy.min_interval;
    loop {
        // Listen before trying, so that a release between the attempt and
        // the sleep still wakes this waiter.
        let mut wake_up = pin!(registration.as_ref().map(Registration::notified));
        if let Some(notified) = wake_up.as_mut().as_pin_mut() {
            notified.enable();
        }
        let at_deadline =
            matches!(patience, Patience::Until(deadline) if Instant::now() >= deadline);
        if at_deadline || registration.as_ref().is_none_or(Registration::may_try) {
            match try_once(target, mode) {
                Err(LockError::AlreadyLocked) => {}
                done => return done,
            }
        }
        let pause = match patience.deadline() {
            None => interval,
            Some((deadline, expired)) => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(expired);
                }
                interval.min(deadline - now)
            }
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

/// Locks `target` in `mode` if that is possible at once; `already-locked`
/// otherwise. Never waits.
pub(crate) fn try_once<L: Lockable + ?Sized>(target: &L, mode: LockMode) -> Result<(), LockError> {
    match target.try_lock(mode).map_err(|err| file_error(&err))? {
        Attempt::Acquired => Ok(()),
        Attempt::Contended => Err(LockError::AlreadyLocked),
    }
}

/// How long a single attempt waits out this host's sentinel, which holds a
/// file's lock for an instant after each release while it has waiters.
const SENTINEL_GRACE: Duration = Duration::from_millis(1);

/// [`try_once`] for callers that make exactly one attempt (try-lock, zero
/// timeout): when the lock seems held but this host runs a sentinel on it, the holder may be the sentinel, so the attempt is repeated for up to
/// [`SENTINEL_GRACE`] before `already-locked` is believed.
pub(crate) fn try_now<L: Lockable + ?Sized>(target: &L, mode: LockMode) -> Result<(), LockError> {
    let first = try_once(target, mode);
    if !matches!(first, Err(LockError::AlreadyLocked)) || !queue::sentinel_on(target) {
        return first;
    }
    let start = Instant::now();
    loop {
        std::thread::sleep(Duration::from_micros(50));
        let again = try_once(target, mode);
        if !matches!(again, Err(LockError::AlreadyLocked)) || start.elapsed() >= SENTINEL_GRACE {
            return again;
        }
    }
}

/// Releases `target` and wakes this host's waiters on it.
pub(crate) fn release<L: Lockable + ?Sized>(target: &L) -> Result<(), LockError> {
    target.unlock().map_err(|err| file_error(&err))?;
    queue::released(target);
    Ok(())
}

/// Sleeps on a Tokio timer, whichever executor polls the future.
///
/// The timer is registered with the ambient Tokio runtime (the embedder's, or
/// wasmtime-wasi's own when there is none), whose driver wakes the task.
async fn sleep(pause: Duration) {
    wasmtime_wasi::runtime::with_ambient_tokio_runtime(|| tokio::time::sleep(pause)).await
}
