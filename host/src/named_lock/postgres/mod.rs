//! The PostgreSQL backend (`postgres://…`): session-level advisory locks on
//! one connection the host holds per namespace.
//!
//! - **Keys**: a name becomes the 64-bit key `pg_advisory_lock` takes, from
//!   SHA-256 over the namespace's prefix and the name (see
//!   [`name::key64`]).
//! - **Attempts**: `pg_try_advisory_lock` / `pg_try_advisory_lock_shared`,
//!   and in the same statement, only when granted, `nextval` of the fencing
//!   sequence: one round trip, and the token is drawn while the lock is
//!   held, so it is larger than every earlier holder's. (A sequence hands out
//!   strictly increasing values across sessions only with `CACHE 1`, its
//!   default; the host creates it so.)
//! - **One connection, many guests**: a session's advisory locks are
//!   reentrant and never conflict with the same session, so this host
//!   arbitrates between its own guests before asking the server: a name held
//!   exclusively here is contended for every other guest here; a name held
//!   shared here is joined by other shared guests without a server lock of
//!   their own (each still draws its own fencing token). The server sees one
//!   lock per name and host.
//! - **Waiting**: release runs `pg_advisory_unlock` and `pg_notify` on the
//!   channel `portalocker_released` with the key; the connection `LISTEN`s
//!   on it, so waiters on every host hear of a release at once. A holder
//!   whose connection died sends nothing (the server frees its locks the
//!   moment it notices the connection is gone); waiters notice by polling
//!   (1 ms doubling to 50 ms).
//! - **Lost**: every lock of a connection is lost when the connection ends
//!   (the server stopped or restarted, the network broke) or when the
//!   health check (`SELECT 1` every `check_ms`) gets no answer within
//!   `timeout_ms`; the host then closes the connection, so the server frees
//!   what it still held, and connects afresh on the next call.

mod connection;

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio_postgres::Config;

use self::connection::{Claim, Connect, PgConnection, failed, unavailable};
use super::engine::watch::{Chances, Watch};
use super::engine::{Attempt, Backend, Lease, Networked, Pacing, spawned};
use super::error::BackendError;
use super::lost::LostSignal;
use super::name;
use super::service::{BoxFuture, Service};
use super::url::{millis, take_options};
use crate::bindings::portalocker::filelock::types::LockMode;

/// The options of a `postgres://` namespace this host reads.
const OPTIONS: [&str; 4] = ["check_ms", "prefix", "sequence", "timeout_ms"];

/// Builds the service of a `postgres://` namespace `name`.
pub(crate) fn service(name: &str, url: &str, runtime: Handle) -> Result<Arc<dyn Service>, String> {
    let (url, options) = take_options(url, &OPTIONS);
    let mut prefix = name.to_owned();
    let mut sequence = "portalocker_fencing".to_owned();
    let mut check = Duration::from_secs(1);
    let mut timeout = Duration::from_secs(2);
    for (key, value) in options {
        match key.as_str() {
            "check_ms" => check = millis(&key, &value)?,
            "timeout_ms" => timeout = millis(&key, &value)?,
            "prefix" => prefix = value,
            "sequence" => sequence = value,
            _ => unreachable!("only OPTIONS are taken"),
        }
    }
    let plain = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
    if sequence.is_empty()
        || sequence.len() > 63
        || !sequence.chars().all(plain)
        || sequence.starts_with(|c: char| c.is_ascii_digit())
    {
        return Err("`sequence` is a plain identifier: lower-case letters, digits, `_`".into());
    }
    let mut config = Config::from_str(&url).map_err(|err| err.to_string())?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(timeout);
    }
    config
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(5))
        .application_name("portalocker");
    let backend = PgBackend {
        runtime,
        config,
        prefix,
        sequence,
        check,
        timeout,
        current: Mutex::new(None),
        connecting: tokio::sync::Mutex::new(()),
        chances: Arc::new(Chances::default()),
    };
    Ok(Arc::new(Networked(Arc::new(backend))))
}

/// A namespace on PostgreSQL.
#[derive(Debug)]
pub(crate) struct PgBackend {
    runtime: Handle,
    config: Config,
    prefix: String,
    sequence: String,
    check: Duration,
    timeout: Duration,
    /// The live connection, if any.
    current: Mutex<Option<Arc<PgConnection>>>,
    /// Serializes connecting.
    connecting: tokio::sync::Mutex<()>,
    chances: Arc<Chances>,
}

/// A held PostgreSQL lock.
pub(crate) struct PgLease {
    connection: Arc<PgConnection>,
    key: i64,
    mode: LockMode,
    fencing_token: u64,
    lost: LostSignal,
}

impl Lease for PgLease {
    fn fencing_token(&self) -> Option<u64> {
        Some(self.fencing_token)
    }

    fn lost(&self) -> &LostSignal {
        &self.lost
    }
}

/// A token from the sequence (positive by construction).
fn token(value: i64) -> Result<u64, BackendError> {
    u64::try_from(value).map_err(|_| unavailable(format!("fencing sequence gave {value}")))
}

impl PgBackend {
    /// The live connection, connecting when there is none.
    async fn connection(&self) -> Result<Arc<PgConnection>, BackendError> {
        if let Some(connection) = self.live() {
            return Ok(connection);
        }
        let _connecting = self.connecting.lock().await;
        if let Some(connection) = self.live() {
            return Ok(connection);
        }
        let connection = tokio::time::timeout(self.timeout * 2, self.connect_now())
            .await
            .map_err(|_| unavailable("connecting took too long"))??;
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&connection));
        // Releases may have gone unheard while there was no connection.
        self.chances.released_all();
        Ok(connection)
    }

    fn live(&self) -> Option<Arc<PgConnection>> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .filter(|connection| !connection.lost.is_lost())
            .cloned()
    }

    /// Opens a new connection.
    async fn connect_now(&self) -> Result<Arc<PgConnection>, BackendError> {
        Connect {
            config: &self.config,
            runtime: &self.runtime,
            sequence: &self.sequence,
            chances: &self.chances,
            check: self.check,
            timeout: self.timeout,
        }
        .connect()
        .await
    }
}

impl Backend for PgBackend {
    type Lease = PgLease;

    fn runtime(&self) -> &Handle {
        &self.runtime
    }

    fn try_acquire(
        self: &Arc<Self>,
        name: &Arc<str>,
        mode: LockMode,
    ) -> BoxFuture<Result<Attempt<PgLease>, BackendError>> {
        let backend = Arc::clone(self);
        let key = name::key64(&self.prefix, name);
        Box::pin(async move {
            let connection = backend.connection().await?;
            let joining = match connection.claim(key, mode, backend.timeout).await? {
                Claim::Ask => false,
                Claim::Join => true,
                Claim::Contended => return Ok(Attempt::Contended),
            };
            let statement = match (joining, mode) {
                (true, _) => &connection.statements.next_token,
                (false, LockMode::Exclusive) => &connection.statements.try_exclusive,
                (false, LockMode::Shared) => &connection.statements.try_shared,
            };
            let params: &[&(dyn tokio_postgres::types::ToSql + Sync)] =
                if joining { &[] } else { &[&key] };
            let answer = tokio::time::timeout(
                backend.timeout,
                connection.client.query_one(statement, params),
            )
            .await;
            let granted: Option<i64> = match answer {
                Ok(Ok(row)) => row.get(0),
                Ok(Err(err)) if err.as_db_error().is_some() => {
                    // The server refused the statement (it granted nothing):
                    // give the place back, keep the connection.
                    connection.settle(key, false);
                    return Err(failed(err));
                }
                Ok(Err(err)) => {
                    connection.close();
                    return Err(failed(err));
                }
                Err(_) => {
                    // The server's answer is unknown: close the connection,
                    // so whatever it granted is freed.
                    connection.close();
                    return Err(unavailable("no answer in time"));
                }
            };
            let Some(value) = granted else {
                connection.settle(key, false);
                return Ok(Attempt::Contended);
            };
            connection.settle(key, true);
            let lost = connection.lost.clone();
            Ok(Attempt::Acquired(PgLease {
                connection,
                key,
                mode,
                fencing_token: token(value)?,
                lost,
            }))
        })
    }

    fn watch(self: &Arc<Self>, name: &Arc<str>) -> Watch {
        let key = name::key64(&self.prefix, name);
        self.chances.watch(&Arc::from(key.to_string()))
    }

    fn pacing(&self) -> Pacing {
        Pacing {
            min: Duration::from_millis(1),
            max: Duration::from_millis(50),
        }
    }

    fn release(self: &Arc<Self>, lease: Arc<PgLease>) -> BoxFuture<Result<(), BackendError>> {
        let backend = Arc::clone(self);
        Box::pin(async move {
            let connection = &lease.connection;
            if connection.lost.is_lost() {
                return Err(BackendError::Lost);
            }
            if !connection.forget(lease.key) {
                return Ok(());
            }
            let statement = match lease.mode {
                LockMode::Exclusive => &connection.statements.unlock_exclusive,
                LockMode::Shared => &connection.statements.unlock_shared,
            };
            let answer = tokio::time::timeout(
                backend.timeout,
                connection.client.query_one(statement, &[&lease.key]),
            )
            .await;
            backend.chances.released(&lease.key.to_string());
            match answer {
                Ok(Ok(row)) if row.get::<_, bool>(0) => Ok(()),
                Ok(Ok(_)) => Err(BackendError::Lost),
                Ok(Err(err)) => {
                    connection.close();
                    Err(failed(err))
                }
                Err(_) => {
                    connection.close();
                    Err(unavailable("no answer in time"))
                }
            }
        })
    }

    fn check(self: &Arc<Self>) -> BoxFuture<Result<(), BackendError>> {
        let backend = Arc::clone(self);
        spawned(&self.runtime, async move {
            backend.connection().await.map(drop)
        })
    }
}
