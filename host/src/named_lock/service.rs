//! What a namespace keeps of its lock service: a [`Service`] takes names
//! and hands out [`HeldLock`]s, waiting as the caller's [`Waiting`] says.
//!
//! A namespace on a local directory is a service of its own
//! ([`super::local`]: the file-lock engine waits for it); every network
//! service is a `Backend` that the named-lock engine (`super::engine`)
//! makes a service.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use super::error::BackendError;
use super::lost::LostSignal;
use crate::backend::LockKey;
use crate::bindings::portalocker::filelock::named_lock_types::NamedLockError;
use crate::bindings::portalocker::filelock::types::LockMode;
use crate::ctx::Blocking;
use crate::policy::WaitBudget;
use crate::wait::{Patience, WaitPolicy};

/// A boxed future that owns everything it needs.
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// How a caller waits for a named lock: the same pieces a file lock waits
/// with, taken from the caller's store when the call starts.
#[derive(Clone)]
pub(crate) struct Waiting {
    /// How long the caller waits (its timeout and the host's `max_wait`).
    pub(crate) patience: Patience,
    /// Where a wait that has to wait claims its pending-wait slot.
    pub(crate) budget: WaitBudget,
    /// How the file-lock engine waits (fairness, the kernel, polling).
    pub(crate) policy: WaitPolicy,
    /// Where file-system work that may block runs.
    pub(crate) blocking: Blocking,
}

/// A lock service: what a namespace keeps.
pub(crate) trait Service: Send + Sync + fmt::Debug {
    /// Takes `name` in `mode`, waiting as `waiting` says. The future holds
    /// no lock unless it completes with one: dropping it (a cancelled call,
    /// a dropped request) leaves nothing held because of it.
    fn acquire(
        &self,
        name: std::sync::Arc<str>,
        mode: LockMode,
        waiting: Waiting,
    ) -> BoxFuture<Result<Box<dyn HeldLock>, NamedLockError>>;

    /// Connects to the service (or checks the directory) without taking a
    /// lock.
    fn check(&self) -> BoxFuture<Result<(), BackendError>>;
}

/// A held named lock of any service, as the `named-lock` resource keeps it.
/// Dropping it releases the lock.
pub(crate) trait HeldLock: Send + Sync {
    /// The acquisition's fencing token, if the service gives one.
    fn fencing_token(&self) -> Option<u64>;

    /// The signal that trips when the lock is lost.
    fn lost(&self) -> &LostSignal;

    /// The lock's key in the file-lock engine, when that engine waits for
    /// it (so that this instance's later waits on the same lock know it
    /// holds it).
    fn key(&self) -> Option<LockKey>;

    /// Releases the lock; a second call succeeds and does nothing. The
    /// release completes even if the returned future is dropped.
    fn release(&mut self) -> BoxFuture<Result<(), BackendError>>;
}
