//! The seam between the named-lock engine and a lock service on the
//! network: [`Backend`].
//!
//! A backend knows how to make one attempt on a name, how to tell a waiter
//! that trying again may now succeed, how to release and renew what it
//! granted, and how a grant is lost. Everything about *waiting* (timeouts,
//! cancellation, the host's limits) lives in the engine, written once for
//! every backend.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;

use super::held::Held;
use super::watch::Watch;
use crate::bindings::portalocker::filelock::named_lock_types::NamedLockError;
use crate::bindings::portalocker::filelock::types::LockMode;
use crate::named_lock::error::BackendError;
use crate::named_lock::lost::LostSignal;
use crate::named_lock::service::{BoxFuture, Waiting};

/// What one attempt on a name found.
pub(crate) enum Attempt<L> {
    /// The name is now held for the caller, as this lease says.
    Acquired(L),
    /// Someone else holds the name in a conflicting mode.
    Contended,
}

/// What every lease tells about itself.
pub(crate) trait Lease: Send + Sync + 'static {
    /// The fencing token of the acquisition, if the service gives one.
    fn fencing_token(&self) -> Option<u64>;
    /// The signal that trips when the lease is lost.
    fn lost(&self) -> &LostSignal;
}

/// How the engine paces attempts when no notice of a release arrives: the
/// first pause, doubling up to the longest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pacing {
    /// The pause after the first contended attempt.
    pub min: Duration,
    /// The longest pause between two attempts.
    pub max: Duration,
}

/// A lock service on the network: the operations the engine is written
/// against ("try acquire / wait for a chance / release / renew / lost
/// signal").
///
/// Implementations never wait for a holder themselves: [`try_acquire`]
/// answers at once (bounded by the service's response time), and the engine
/// decides whether and when to try again. Every future is `'static`, so the
/// engine can run an attempt as a task of its own and release a grant that
/// arrives after its caller gave up.
///
/// [`try_acquire`]: Backend::try_acquire
pub(crate) trait Backend: Send + Sync + fmt::Debug + 'static {
    /// What a grant holds on to until it is released.
    type Lease: Lease;

    /// The Tokio runtime the backend's connections and tasks live on.
    fn runtime(&self) -> &Handle;

    /// One attempt to take `name` in `mode`. Never waits for a holder.
    fn try_acquire(
        self: &Arc<Self>,
        name: &Arc<str>,
        mode: LockMode,
    ) -> BoxFuture<Result<Attempt<Self::Lease>, BackendError>>;

    /// Starts listening for a chance to take `name`: a notice that a holder
    /// released it. The engine enables the watch's next notice before each
    /// attempt, so no notice between an attempt and the pause is missed.
    fn watch(self: &Arc<Self>, name: &Arc<str>) -> Watch;

    /// How attempts are paced when no notice comes (a holder that died
    /// sends none).
    fn pacing(&self) -> Pacing;

    /// Releases a lease. Fails with [`BackendError::Lost`] if the service no
    /// longer held it for the caller.
    fn release(self: &Arc<Self>, lease: Arc<Self::Lease>) -> BoxFuture<Result<(), BackendError>>;

    /// How often a held lease must be renewed, if it must be at all.
    fn renew_interval(&self) -> Option<Duration> {
        None
    }

    /// Renews a lease (extends its expiry). Fails with
    /// [`BackendError::Lost`] if it is no longer held.
    fn renew(self: &Arc<Self>, lease: Arc<Self::Lease>) -> BoxFuture<Result<(), BackendError>> {
        let _ = lease;
        Box::pin(async { Ok(()) })
    }

    /// Connects (or checks the connection) without taking any lock, so a
    /// misconfigured service is reported when the host starts.
    fn check(self: &Arc<Self>) -> BoxFuture<Result<(), BackendError>>;

    /// Takes `name` in `mode`, waiting as `waiting` says: the engine's wait
    /// ([`super::acquire`]), unless the service's own protocol prescribes
    /// how to wait (portalocker's `RedisLock` protocol keeps a participant
    /// between attempts).
    fn acquire(
        self: &Arc<Self>,
        name: Arc<str>,
        mode: LockMode,
        waiting: Waiting,
    ) -> BoxFuture<Result<Held<Self>, NamedLockError>>
    where
        Self: Sized,
    {
        let backend = Arc::clone(self);
        Box::pin(async move { super::acquire(&backend, &name, mode, &waiting).await })
    }
}

/// Runs `future` as a task of `runtime` (where the connections live), and
/// waits for it.
pub(crate) fn spawned<T: Send + 'static>(
    runtime: &Handle,
    future: impl Future<Output = Result<T, BackendError>> + Send + 'static,
) -> BoxFuture<Result<T, BackendError>> {
    let task = runtime.spawn(future);
    Box::pin(async move {
        task.await
            .unwrap_or_else(|err| Err(BackendError::Unavailable(err.to_string())))
    })
}
