//! A Redis namespace that speaks Python portalocker's `RedisLock` protocol
//! (`redis://…?compat=portalocker`, portalocker 4.2 and later, protocol
//! version 1), so that a guest and a Python program using
//! `portalocker.RedisLock(NAME)` on the same server exclude each other.
//!
//! In that protocol a lock is not a key but a *subscription*: the lock's
//! name is a pub/sub channel, and a holder is a subscriber of it, on a
//! connection named `NAME-lock-HOLDER_ID`, that answers pings. An attempt:
//!
//! 1. subscribes to the channel and counts its subscribers
//!    (`PUBSUB NUMSUB`): alone, the lock is free;
//! 2. otherwise *probes*: publishes a ping naming a private response channel,
//!    and collects every subscriber's record (`holder_id`, `mode` =
//!    `shared`/`pending`/`exclusive`, `elected`), checking the count before
//!    and after; subscribers that do not answer within a second are
//!    considered crashed and their connections killed (`CLIENT KILL`);
//! 3. decides: shared joins shared; writers elect the lowest pending holder
//!    id, an elected writer waits for readers to drain and blocks new ones,
//!    and every exclusive promotion is confirmed by another probe;
//! 4. an exclusive grant draws a fencing token, `INCR NAME-fence`, the
//!    counter Python's `RedisLock(fencing=True)` uses (see `fencing` for
//!    what that does not give: no token for shared locks, and an order only
//!    among fencing participants).
//!
//! Releasing is unsubscribing (closing the subscription's connection); a
//! holder whose connection dies has lost the lock, which trips its lost
//! signal here. The protocol needs one standalone Redis server (`PUBSUB
//! NUMSUB` is node-local in a cluster), and hands over a released lock at
//! polling speed (a waiter re-probes about every 100 ms; releases send no
//! notice).
//!
//! One module per job: `client` (the connections), `subscription` (being
//! counted and answering pings), `probe` (pinging and reaping), `protocol`
//! (the pure rules, tested against portalocker's examples), `election`
//! (applying them), `participant` (one acquisition's attempts) and
//! `fencing`; this module is the backend the named-lock engine drives.

mod client;
mod election;
mod fencing;
mod participant;
mod probe;
mod protocol;
mod subscription;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::Client;
use redis::aio::MultiplexedConnection;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use self::client::Refusal;
use self::participant::Participant;
use self::subscription::Subscription;
use crate::bindings::portalocker::filelock::named_lock_types::NamedLockError;
use crate::bindings::portalocker::filelock::types::LockMode;
use crate::named_lock::engine::watch::Watch;
use crate::named_lock::engine::{
    self, Attempt, Backend, Held, Lease, Networked, Pacing, jitter, spawned,
};
use crate::named_lock::error::BackendError;
use crate::named_lock::lost::LostSignal;
use crate::named_lock::service::{BoxFuture, Service, Waiting};
use crate::wait::Patience;

/// How long a probe waits for answers (portalocker's `unavailable_timeout`).
const UNAVAILABLE_TIMEOUT: Duration = Duration::from_secs(1);
/// Between two polls of a probe, and the base pause of confirm rounds
/// (portalocker's `thread_sleep_time`).
const CHECK_INTERVAL: Duration = Duration::from_millis(100);
/// The base pause between two attempts of a waiting acquisition.
const RETRY_INTERVAL: Duration = Duration::from_millis(100);

/// Builds the service of a `redis://…?compat=portalocker` namespace.
pub(crate) fn service(
    url: &str,
    prefix: String,
    timeout: Duration,
    runtime: Handle,
) -> Result<Arc<dyn Service>, String> {
    let commands = Client::open(url).map_err(|err| err.to_string())?;
    let separator = if url.contains('?') { '&' } else { '?' };
    let subscriptions =
        Client::open(format!("{url}{separator}protocol=resp3")).map_err(|err| err.to_string())?;
    let backend = CompatBackend {
        runtime,
        commands,
        subscriptions,
        prefix,
        timeout,
        connection: Mutex::new(None),
    };
    Ok(Arc::new(Networked(Arc::new(backend))))
}

/// A namespace on Redis in portalocker's protocol.
#[derive(Debug)]
pub(crate) struct CompatBackend {
    runtime: Handle,
    /// For commands (RESP2 or 3, as the URL says).
    commands: Client,
    /// For subscriptions: RESP3, so one connection can be named, subscribe,
    /// and hand over its messages.
    subscriptions: Client,
    prefix: String,
    timeout: Duration,
    connection: Mutex<Option<MultiplexedConnection>>,
}

/// A held lock: the subscription.
pub(crate) struct CompatLease {
    subscription: Mutex<Option<Subscription>>,
    /// The fencing token (exclusive grants only; see [`fencing`]).
    token: Option<u64>,
    lost: LostSignal,
}

impl CompatLease {
    fn new(subscription: Option<Subscription>, token: Option<u64>, lost: LostSignal) -> Self {
        CompatLease {
            subscription: Mutex::new(subscription),
            token,
            lost,
        }
    }
}

impl Lease for CompatLease {
    fn fencing_token(&self) -> Option<u64> {
        self.token
    }

    fn lost(&self) -> &LostSignal {
        &self.lost
    }
}

/// Aborts a task when dropped: a cancelled acquisition stops at once, and
/// its participant leaves the channel.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The named-lock error of a refusal.
fn refused(refusal: Refusal) -> NamedLockError {
    match refusal {
        Refusal::AlreadyLocked => NamedLockError::AlreadyLocked,
        Refusal::Unavailable(err) => err.to_guest(),
    }
}

impl Backend for CompatBackend {
    type Lease = CompatLease;

    fn runtime(&self) -> &Handle {
        &self.runtime
    }

    fn try_acquire(
        self: &Arc<Self>,
        name: &Arc<str>,
        mode: LockMode,
    ) -> BoxFuture<Result<Attempt<CompatLease>, BackendError>> {
        let mut participant = Participant::new(Arc::clone(self), name, mode);
        Box::pin(async move {
            match participant.attempt(true).await {
                Ok(Some(token)) => Ok(Attempt::Acquired(participant.into_lease(token))),
                Ok(None) | Err(Refusal::AlreadyLocked) => Ok(Attempt::Contended),
                Err(Refusal::Unavailable(err)) => Err(err),
            }
        })
    }

    fn watch(self: &Arc<Self>, _name: &Arc<str>) -> Watch {
        Watch::none()
    }

    fn pacing(&self) -> Pacing {
        Pacing {
            min: RETRY_INTERVAL,
            max: RETRY_INTERVAL,
        }
    }

    fn release(self: &Arc<Self>, lease: Arc<CompatLease>) -> BoxFuture<Result<(), BackendError>> {
        let lost = lease.lost.is_lost();
        // Dropping the subscription closes its connection: the release.
        lease
            .subscription
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        Box::pin(async move {
            if lost {
                Err(BackendError::Lost)
            } else {
                Ok(())
            }
        })
    }

    fn check(self: &Arc<Self>) -> BoxFuture<Result<(), BackendError>> {
        let backend = Arc::clone(self);
        spawned(&self.runtime, async move {
            backend
                .query::<String>(&redis::cmd("PING"))
                .await
                .map(drop)
                .map_err(|refusal| match refusal {
                    Refusal::Unavailable(err) => err,
                    Refusal::AlreadyLocked => BackendError::Unavailable("PING".into()),
                })
        })
    }

    /// portalocker's `acquire` loop, with this host's timeouts: zero is one
    /// attempt that fails on conclusive contention (`fail_when_locked`),
    /// otherwise attempts about every 100 ms until the deadline, by one
    /// participant that keeps its place (and its election) between them.
    /// The engine's pieces bound it: the deadline, the pending-wait slot,
    /// and a task whose grant is released when nobody takes it.
    fn acquire(
        self: &Arc<Self>,
        name: Arc<str>,
        mode: LockMode,
        waiting: Waiting,
    ) -> BoxFuture<Result<Held<Self>, NamedLockError>> {
        let backend = Arc::clone(self);
        let deadline = engine::deadline(waiting.patience);
        let once = waiting.patience == Patience::Once;
        let task = self.runtime.spawn(async move {
            let mut participant = Participant::new(Arc::clone(&backend), &name, mode);
            let mut slot = None;
            loop {
                match participant.attempt(once).await {
                    Ok(Some(token)) => {
                        let lease = participant.into_lease(token);
                        return Ok(Held::new(backend, lease));
                    }
                    Ok(None) if once => return Err(NamedLockError::AlreadyLocked),
                    Ok(None) => {}
                    Err(refusal) => return Err(refused(refusal)),
                }
                if slot.is_none() {
                    slot = Some(engine::claim_slot(&waiting)?);
                }
                let mut pause = jitter(RETRY_INTERVAL);
                if let Some((at, expired)) = deadline {
                    let now = Instant::now();
                    if now >= at {
                        return Err(expired);
                    }
                    pause = pause.min(at - now);
                }
                tokio::time::sleep(pause).await;
            }
        });
        let mut task = AbortOnDrop(task);
        Box::pin(async move {
            let outcome = async move {
                (&mut task.0)
                    .await
                    .unwrap_or(Err(NamedLockError::Unavailable))
            };
            match deadline {
                None => outcome.await,
                // The attempt in flight at the deadline may finish; one that
                // is still probing then is cancelled (the task is aborted and
                // its participant leaves the channel).
                Some((at, expired)) => engine::until(at, outcome).await.unwrap_or(Err(expired)),
            }
        })
    }
}
