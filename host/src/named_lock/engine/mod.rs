//! Waiting for a named lock on a network service (Redis, PostgreSQL),
//! generic over a [`Backend`].
//!
//! # One engine where possible
//!
//! This is not a second wait engine but the file-lock engine's loop
//! ([`crate::wait`]) over a lock that lives on a server, built from the same
//! pieces:
//!
//! - the caller's patience is a [`Patience`]: the WIT timeout and the
//!   host's `max_wait` (absent waits forever, zero is exactly one attempt,
//!   otherwise `timed-out` or `limit-reached(wait-time)`);
//! - a wait that has to wait claims a [`WaitSlot`] of the instance's
//!   pending-wait budget (`max_pending_waits`);
//! - a granted lock is counted among the instance's held locks (the
//!   `named-lock` resource takes its room, `max_held_locks`);
//! - pauses sleep on [`crate::wait::sleep`]'s timers, and requests are the
//!   same [`crate::request::Request`]s;
//! - a cancelled wait never keeps the lock, and only contention is retried.
//!
//! What differs, and why:
//!
//! - **An attempt is a round trip, not a system call.** It may be answered
//!   after its caller gave up (a dropped future, a request, a deadline that
//!   passed while the server answered), so each attempt runs as a task of
//!   the backend's runtime and hands a grant over in a [`Held`], which
//!   releases it when dropped: a grant nobody receives is given back.
//!   Attempts are bounded by the caller's deadline (and the service's
//!   response timeout), so no call waits past its timeout even when the
//!   server stops answering; a service that cannot be reached fails the
//!   call at once (`unavailable`).
//! - **No kernel to wait in, no local queue.** The file engine's front
//!   waiter blocks in `flock(2)` and the kernel hands it the lock; a server
//!   offers no such call to a host that must stay cancellable, and this
//!   host's waiters are a few among every host's. So a waiter listens for
//!   the service's notice of a release ([`Watch`]: Redis pub/sub,
//!   PostgreSQL `LISTEN`), enabled before each attempt so that none is
//!   missed, and polls with a jittered backoff ([`Pacing`]) as the safety
//!   net, because a holder that dies sends no notice. Between hosts the
//!   server decides, as the kernel does between processes.
//! - **Leases are kept alive.** A backend with expiring leases gets a
//!   renewal task per held lease ([`Held`]); a renewal that fails or does
//!   not answer within the interval trips the lease's lost signal before
//!   the lease can have expired on the service.
//!
//! A namespace on a local directory needs none of this: it waits with the
//! file engine itself (see [`super::local`]).

pub(crate) mod backend;
pub(crate) mod held;
pub(crate) mod watch;

use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

pub(crate) use self::backend::{Attempt, Backend, Lease, Pacing, spawned};
pub(crate) use self::held::Held;
use self::watch::Watch;
use super::error::{BackendError, from_lock_error};
use super::service::{BoxFuture, HeldLock, Service, Waiting};
use crate::bindings::portalocker::filelock::named_lock_types::NamedLockError;
use crate::bindings::portalocker::filelock::types::LockMode;
use crate::policy::WaitSlot;
use crate::wait::{self, Patience};

/// Any [`Backend`] as the [`Service`] a namespace keeps.
#[derive(Debug)]
pub(crate) struct Networked<B>(pub(crate) Arc<B>);

impl<B: Backend> Service for Networked<B> {
    fn acquire(
        &self,
        name: Arc<str>,
        mode: LockMode,
        waiting: Waiting,
    ) -> BoxFuture<Result<Box<dyn HeldLock>, NamedLockError>> {
        let acquired = self.0.acquire(name, mode, waiting);
        Box::pin(async move { Ok(Box::new(acquired.await?) as Box<dyn HeldLock>) })
    }

    fn check(&self) -> BoxFuture<Result<(), BackendError>> {
        self.0.check()
    }
}

/// The deadline of `patience`, with the named-lock error contention gives
/// once it has passed.
pub(crate) fn deadline(patience: Patience) -> Option<(Instant, NamedLockError)> {
    patience
        .deadline()
        .map(|(at, expired)| (at, from_lock_error(expired)))
}

/// Claims a pending-wait slot for a wait that has to wait.
pub(crate) fn claim_slot(waiting: &Waiting) -> Result<WaitSlot, NamedLockError> {
    let budget = &waiting.budget;
    WaitSlot::claim(&budget.usage, budget.max_pending).map_err(from_lock_error)
}

/// The engine's wait: attempts until the backend grants `name` in `mode` or
/// the caller's patience runs out. See the module docs for the guarantees.
pub(crate) async fn acquire<B: Backend>(
    backend: &Arc<B>,
    name: &Arc<str>,
    mode: LockMode,
    waiting: &Waiting,
) -> Result<Held<B>, NamedLockError> {
    let deadline = deadline(waiting.patience);
    if let Some(held) = attempt(backend, name, mode, deadline).await? {
        return Ok(held);
    }
    if waiting.patience == Patience::Once {
        return Err(NamedLockError::AlreadyLocked);
    }
    let _slot = claim_slot(waiting)?;
    let watch: Watch = backend.watch(name);
    let Pacing { min, max } = backend.pacing();
    let mut interval = min;
    loop {
        // Listen before trying, so that a release between the attempt and
        // the pause still ends the pause.
        let mut notice = pin!(watch.notified());
        if let Some(notice) = notice.as_mut().as_pin_mut() {
            notice.enable();
        }
        if let Some(held) = attempt(backend, name, mode, deadline).await? {
            return Ok(held);
        }
        let mut pause = jitter(interval);
        if let Some((at, expired)) = deadline {
            let now = Instant::now();
            if now >= at {
                return Err(expired);
            }
            pause = pause.min(at - now);
        }
        match notice.as_pin_mut() {
            Some(notice) => {
                tokio::select! {
                    () = notice => {}
                    () = wait::sleep(pause) => {}
                }
            }
            None => wait::sleep(pause).await,
        }
        interval = interval.saturating_mul(2).min(max);
    }
}

/// One attempt, run as a task of the backend's runtime so that a grant
/// arriving after the caller gave up is released (see the module docs), and
/// waited for no longer than `deadline`.
async fn attempt<B: Backend>(
    backend: &Arc<B>,
    name: &Arc<str>,
    mode: LockMode,
    deadline: Option<(Instant, NamedLockError)>,
) -> Result<Option<Held<B>>, NamedLockError> {
    let (tx, rx) = oneshot::channel();
    let trying = backend.try_acquire(name, mode);
    let owner = Arc::clone(backend);
    backend.runtime().spawn(async move {
        let answer = match trying.await {
            Ok(Attempt::Acquired(lease)) => Ok(Some(Held::new(owner, lease))),
            Ok(Attempt::Contended) => Ok(None),
            Err(err) => Err(err),
        };
        // Nobody to receive a grant: dropping it releases it.
        let _ = tx.send(answer);
    });
    let answer = match deadline {
        None => rx.await,
        Some((at, expired)) => match until(at, rx).await {
            Some(answer) => answer,
            None => return Err(expired),
        },
    };
    match answer {
        Ok(answer) => answer.map_err(|err| err.to_guest()),
        Err(_) => Err(NamedLockError::Unavailable),
    }
}

/// Runs `future` until `deadline` on a timer of the ambient Tokio runtime
/// (as [`wait::sleep`] does); `None` when the deadline came first, and the
/// future is dropped.
pub(crate) async fn until<F: Future>(deadline: Instant, future: F) -> Option<F::Output> {
    wasmtime_wasi::runtime::with_ambient_tokio_runtime(|| {
        tokio::time::timeout_at(deadline.into(), future)
    })
    .await
    .ok()
}

/// `pause` scaled by a random factor in [0.75, 1.25), so that waiters on
/// several hosts do not poll a server in lockstep.
pub(crate) fn jitter(pause: Duration) -> Duration {
    let random = (uuid::Uuid::new_v4().as_u128() & 0xffff) as f64 / 65536.0;
    pause.mul_f64(0.75 + random / 2.0)
}
