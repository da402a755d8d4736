//! The Redis backend (`redis://…`): the established lease pattern.
//!
//! - **Acquire**: one Lua script (see `scripts`), atomic on the server: an exclusive lock is
//!   `SET {prefix}lock:NAME TOKEN NX PX TTL` with a random token (refused
//!   while shared holders are in `{prefix}readers:NAME`); a shared lock adds
//!   its token to that sorted set, scored by its expiry (refused while the
//!   exclusive key exists). Both then `INCR {prefix}fence:NAME`: the fencing
//!   token, drawn in the same atomic step as the grant, so tokens follow the
//!   order of the grants. The fence key never expires.
//! - **Release and renewal**: Lua scripts that act only if the token is still
//!   the holder's (a lease that expired and went to someone else is never
//!   deleted or extended by its old holder); release then `PUBLISH`es the
//!   name on `{prefix}released`.
//! - **Renewal**: every third of the TTL while held. A renewal that fails or
//!   does not answer within that third trips the lease's lost signal, at the
//!   latest two thirds of a TTL after the last good renewal, before the lease
//!   can have expired on the server.
//! - **Waiting**: with `wait=notify` (the default) one subscription per host
//!   to the release channel wakes this host's waiters on a name when any
//!   host releases it; a holder that died sends nothing, and its lease runs
//!   out after the TTL, which waiters notice by polling (1 ms doubling to
//!   50 ms). `wait=poll` only polls. The benchmark measures both.
//!
//! Every command is bounded by `timeout_ms`; a connection that fails is
//! dropped and reconnected on the next call, so a restarted server is used
//! again without restarting the host.

use std::sync::{Arc, Mutex};
use std::time::Duration;

mod scripts;

use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use self::scripts::Scripts;
use super::engine::watch::{Chances, Watch};
use super::engine::{Attempt, Backend, Lease, Networked, Pacing, spawned};
use super::error::BackendError;
use super::lost::LostSignal;
use super::service::{BoxFuture, Service};
use super::url::{millis, take_options};
use crate::bindings::portalocker::filelock::types::LockMode;

/// The options of a `redis://` namespace this host reads.
const OPTIONS: [&str; 5] = ["ttl_ms", "wait", "prefix", "timeout_ms", "compat"];

/// Builds the service of a `redis://` namespace `name`.
pub(crate) fn service(name: &str, url: &str, runtime: Handle) -> Result<Arc<dyn Service>, String> {
    let (url, options) = take_options(url, &OPTIONS);
    let mut settings = Settings {
        ttl: Duration::from_secs(10),
        notify: true,
        prefix: String::new(),
        timeout: Duration::from_secs(2),
    };
    let mut compat = false;
    let mut prefix = None;
    for (key, value) in options {
        match key.as_str() {
            "ttl_ms" => settings.ttl = millis(&key, &value)?,
            "timeout_ms" => settings.timeout = millis(&key, &value)?,
            "prefix" => prefix = Some(value),
            "wait" => {
                settings.notify = match value.as_str() {
                    "notify" => true,
                    "poll" => false,
                    _ => return Err("`wait` is `notify` or `poll`".into()),
                }
            }
            "compat" if value == "portalocker" => compat = true,
            _ => return Err(format!("unknown value `{value}` of `{key}`")),
        }
    }
    if settings.ttl < Duration::from_millis(30) {
        return Err("`ttl_ms` must be at least 30".into());
    }
    if compat {
        // portalocker's channel is the lock's name, with no prefix.
        let prefix = prefix.unwrap_or_default();
        return super::redis_compat::service(&url, prefix, settings.timeout, runtime);
    }
    settings.prefix = prefix.unwrap_or_else(|| format!("portalocker:{name}:"));
    let client = Client::open(url.as_str()).map_err(|err| err.to_string())?;
    let backend = RedisBackend {
        runtime,
        client,
        channel: format!("{}released", settings.prefix),
        settings,
        connection: Mutex::new(None),
        chances: Arc::new(Chances::default()),
        listener: Mutex::new(None),
        scripts: Scripts::new(),
    };
    Ok(Arc::new(Networked(Arc::new(backend))))
}

/// A Redis namespace's configuration.
#[derive(Debug, Clone)]
struct Settings {
    ttl: Duration,
    notify: bool,
    prefix: String,
    timeout: Duration,
}

/// A namespace on Redis.
#[derive(Debug)]
pub(crate) struct RedisBackend {
    runtime: Handle,
    client: Client,
    settings: Settings,
    channel: String,
    /// The command connection, `None` until the first call or after a
    /// failure.
    connection: Mutex<Option<MultiplexedConnection>>,
    chances: Arc<Chances>,
    /// Stops the release listener when the backend goes (dropping the
    /// sender); `None` while no listener runs.
    listener: Mutex<Option<oneshot::Sender<()>>>,
    scripts: Scripts,
}

/// A held Redis grant.
pub(crate) struct RedisLease {
    name: Arc<str>,
    token: String,
    mode: LockMode,
    fencing_token: u64,
    lost: LostSignal,
}

impl Lease for RedisLease {
    fn fencing_token(&self) -> Option<u64> {
        Some(self.fencing_token)
    }

    fn lost(&self) -> &LostSignal {
        &self.lost
    }
}

impl RedisBackend {
    fn key(&self, kind: &str, name: &str) -> String {
        format!("{}{kind}:{name}", self.settings.prefix)
    }

    /// The command connection, connecting when there is none.
    async fn connection(&self) -> Result<MultiplexedConnection, BackendError> {
        if let Some(connection) = self.lock_connection().clone() {
            return Ok(connection);
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.settings.timeout))
            .set_response_timeout(Some(self.settings.timeout));
        let connection = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|err| BackendError::Unavailable(err.to_string()))?;
        *self.lock_connection() = Some(connection.clone());
        Ok(connection)
    }

    fn lock_connection(&self) -> std::sync::MutexGuard<'_, Option<MultiplexedConnection>> {
        self.connection.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Maps a command's failure, dropping the connection so that the next
    /// call connects afresh.
    fn failed(&self, err: redis::RedisError) -> BackendError {
        *self.lock_connection() = None;
        BackendError::Unavailable(err.to_string())
    }

    /// Starts the listener for release notices if none runs.
    fn listen(self: &Arc<Self>) {
        let mut listener = self.listener.lock().unwrap_or_else(|e| e.into_inner());
        if listener.as_ref().is_some_and(|stop| !stop.is_closed()) {
            return;
        }
        let (stop, stopped) = oneshot::channel();
        *listener = Some(stop);
        let client = self.client.clone();
        let channel = self.channel.clone();
        let chances = Arc::clone(&self.chances);
        self.runtime.spawn(async move {
            let listening = async {
                let mut pubsub = client.get_async_pubsub().await?;
                pubsub.subscribe(&channel).await?;
                // Notices sent before the subscription were missed.
                chances.released_all();
                let mut messages = pubsub.on_message();
                while let Some(message) = messages.next().await {
                    if let Ok(name) = message.get_payload::<String>() {
                        chances.released(&name);
                    }
                }
                Ok::<(), redis::RedisError>(())
            };
            tokio::select! {
                ended = listening => {
                    if let Err(err) = ended {
                        tracing::debug!(%err, "the Redis release listener stopped");
                    }
                    // Back off before a later `watch` starts another one.
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                _ = stopped => {}
            }
            chances.released_all();
            // Dropping `stopped` lets the next `watch` start a listener.
        });
    }
}

impl Backend for RedisBackend {
    type Lease = RedisLease;

    fn runtime(&self) -> &Handle {
        &self.runtime
    }

    fn try_acquire(
        self: &Arc<Self>,
        name: &Arc<str>,
        mode: LockMode,
    ) -> BoxFuture<Result<Attempt<RedisLease>, BackendError>> {
        let backend = Arc::clone(self);
        let name = Arc::clone(name);
        Box::pin(async move {
            let mut connection = backend.connection().await?;
            let token = uuid::Uuid::new_v4().simple().to_string();
            let fencing: u64 = backend
                .scripts
                .acquire
                .key(backend.key("lock", &name))
                .key(backend.key("readers", &name))
                .key(backend.key("fence", &name))
                .arg(&token)
                .arg(backend.settings.ttl.as_millis() as u64)
                .arg(scripts::mode_arg(mode))
                .invoke_async(&mut connection)
                .await
                .map_err(|err| backend.failed(err))?;
            if fencing == 0 {
                return Ok(Attempt::Contended);
            }
            Ok(Attempt::Acquired(RedisLease {
                name,
                token,
                mode,
                fencing_token: fencing,
                lost: LostSignal::new(),
            }))
        })
    }

    fn watch(self: &Arc<Self>, name: &Arc<str>) -> Watch {
        if !self.settings.notify {
            return Watch::none();
        }
        self.listen();
        self.chances.watch(name)
    }

    fn pacing(&self) -> Pacing {
        Pacing {
            min: Duration::from_millis(1),
            max: Duration::from_millis(50),
        }
    }

    fn release(self: &Arc<Self>, lease: Arc<RedisLease>) -> BoxFuture<Result<(), BackendError>> {
        let backend = Arc::clone(self);
        Box::pin(async move {
            let mut connection = backend.connection().await?;
            let channel = if backend.settings.notify {
                backend.channel.as_str()
            } else {
                ""
            };
            let held: u64 = backend
                .scripts
                .release
                .key(backend.key("lock", &lease.name))
                .key(backend.key("readers", &lease.name))
                .arg(&lease.token)
                .arg(scripts::mode_arg(lease.mode))
                .arg(channel)
                .arg(&*lease.name)
                .invoke_async(&mut connection)
                .await
                .map_err(|err| backend.failed(err))?;
            backend.chances.released(&lease.name);
            if held == 1 {
                Ok(())
            } else {
                lease.lost.trip();
                Err(BackendError::Lost)
            }
        })
    }

    fn renew_interval(&self) -> Option<Duration> {
        Some(self.settings.ttl / 3)
    }

    fn renew(self: &Arc<Self>, lease: Arc<RedisLease>) -> BoxFuture<Result<(), BackendError>> {
        let backend = Arc::clone(self);
        Box::pin(async move {
            let mut connection = backend.connection().await?;
            let held: u64 = backend
                .scripts
                .renew
                .key(backend.key("lock", &lease.name))
                .key(backend.key("readers", &lease.name))
                .arg(&lease.token)
                .arg(backend.settings.ttl.as_millis() as u64)
                .arg(scripts::mode_arg(lease.mode))
                .invoke_async(&mut connection)
                .await
                .map_err(|err| backend.failed(err))?;
            if held == 1 {
                Ok(())
            } else {
                Err(BackendError::Lost)
            }
        })
    }

    fn check(self: &Arc<Self>) -> BoxFuture<Result<(), BackendError>> {
        let backend = Arc::clone(self);
        let checking = async move {
            let mut connection = backend.connection().await?;
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
                .map_err(|err| backend.failed(err))?;
            Ok(())
        };
        spawned(&self.runtime, checking)
    }
}
