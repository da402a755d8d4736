//! Waiting for a lock: one implementation for the sync and the async linker.
//!
//! # Design
//!
//! A wait is a future that alternates a non-blocking attempt
//! ([`os_lock::try_lock`]) with a timer sleep whose length doubles from
//! [`WaitPolicy::min_interval`] up to [`WaitPolicy::max_interval`] and never
//! runs past the caller's deadline. The properties the host promises follow
//! from that shape:
//!
//! - **No guest freezes the host.** The future never blocks a thread: in the
//!   async linker a waiting guest yields its executor between attempts, so
//!   other guests (even on a single-threaded executor) keep running. The sync
//!   linker drives the same future to completion on the calling store's thread
//!   only.
//! - **Cancellation is exact.** The lock is only ever taken inside a
//!   non-blocking attempt made while the future is being polled. Dropping the
//!   future (a cancelled call, a dropped store, an epoch deadline that ends the
//!   guest) therefore stops the wait, and the lock is never taken afterwards.
//!   No thread is left behind blocked in the kernel.
//! - **Timeouts are honoured.** Absent means wait forever; zero means exactly
//!   one attempt; otherwise a last attempt is made at the deadline itself,
//!   then the wait fails with `timed-out`.
//! - **Only contention is retried.** Any other error ends the wait at once.
//!
//! The cost of this design is hand-off latency: a waiter notices a release at
//! its next attempt, at most `max_interval` later. A blocking `flock` wakes in
//! microseconds but cannot be cancelled; a later revision may add a
//! kernel-blocking waiter behind the same function signature, interrupted on
//! cancellation, as long as the cancellation guarantee above still holds.

use std::fs::File;
use std::time::{Duration, Instant};

use crate::bindings::portalocker::filelock::types::{LockError, LockMode};
use crate::error::file_error;
use crate::os_lock::{self, Attempt};

/// How a waiter paces its attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitPolicy {
    /// The pause after the first contended attempt.
    pub min_interval: Duration,
    /// The longest pause between two attempts.
    pub max_interval: Duration,
}

impl Default for WaitPolicy {
    fn default() -> Self {
        WaitPolicy {
            min_interval: Duration::from_micros(50),
            max_interval: Duration::from_millis(5),
        }
    }
}

/// How long a caller is prepared to wait, from its WIT `timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Patience {
    /// Exactly one attempt (timeout zero): contention is `already-locked`.
    Once,
    /// Attempts until this instant: then contention is `timed-out`.
    Until(Instant),
    /// Attempts until the lock is held (no timeout).
    Forever,
}

impl Patience {
    /// Patience for a WIT timeout in nanoseconds, counted from now.
    pub(crate) fn from_timeout(timeout_ns: Option<u64>) -> Patience {
        match timeout_ns {
            None => Patience::Forever,
            Some(0) => Patience::Once,
            Some(ns) => match Instant::now().checked_add(Duration::from_nanos(ns)) {
                Some(deadline) => Patience::Until(deadline),
                None => Patience::Forever,
            },
        }
    }
}

/// Locks `file` in `mode`, waiting as `patience` allows.
///
/// See the module docs for the guarantees. The returned future holds no lock
/// unless it completes with `Ok`.
pub(crate) async fn acquire(
    file: &File,
    mode: LockMode,
    patience: Patience,
    policy: WaitPolicy,
) -> Result<(), LockError> {
    let mut interval = policy.min_interval;
    loop {
        let contended = match try_once(file, mode) {
            Err(LockError::AlreadyLocked) => LockError::AlreadyLocked,
            done => return done,
        };
        let pause = match patience {
            Patience::Once => return Err(contended),
            Patience::Forever => interval,
            Patience::Until(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(LockError::TimedOut);
                }
                interval.min(deadline - now)
            }
        };
        sleep(pause).await;
        interval = interval.saturating_mul(2).min(policy.max_interval);
    }
}

/// Locks `file` in `mode` if that is possible at once; `already-locked`
/// otherwise. Never waits.
pub(crate) fn try_once(file: &File, mode: LockMode) -> Result<(), LockError> {
    match os_lock::try_lock(file, mode).map_err(|err| file_error(&err))? {
        Attempt::Acquired => Ok(()),
        Attempt::Contended => Err(LockError::AlreadyLocked),
    }
}

/// Sleeps on a Tokio timer, whichever executor polls the future.
///
/// The timer is registered with the ambient Tokio runtime (the embedder's, or
/// wasmtime-wasi's own when there is none), whose driver wakes the task.
async fn sleep(pause: Duration) {
    wasmtime_wasi::runtime::with_ambient_tokio_runtime(|| tokio::time::sleep(pause)).await
}
