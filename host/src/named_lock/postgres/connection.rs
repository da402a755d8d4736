//! One connection of a PostgreSQL namespace: its prepared statements, the
//! `LISTEN` that hears releases, its health check, and this host's holders
//! per key (the arbitration between this host's own guests, which share the
//! connection's session locks).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, Client, Config, NoTls, Statement};

use crate::bindings::portalocker::filelock::types::LockMode;
use crate::named_lock::engine::watch::Chances;
use crate::named_lock::error::BackendError;
use crate::named_lock::lost::LostSignal;

/// The channel releases are announced on.
pub(super) const CHANNEL: &str = "portalocker_released";

/// One connection and the locks this host holds through it.
#[derive(Debug)]
pub(super) struct PgConnection {
    pub(super) client: Client,
    pub(super) statements: Statements,
    /// Trips when the connection ends: every lock through it is lost.
    pub(super) lost: LostSignal,
    /// This host's holders per key.
    keys: Mutex<HashMap<i64, Holders>>,
    /// The task that drives the connection; aborting it closes the socket.
    driver: Mutex<Option<JoinHandle<()>>>,
}

/// Who holds a key through one connection.
#[derive(Debug)]
struct Holders {
    mode: LockMode,
    count: u32,
    /// Whether the server granted the lock (false while the first attempt
    /// is on its way).
    granted: bool,
    /// Wakes this host's other attempts on the key when the first attempt
    /// has its answer: they wait for it instead of reporting contention.
    settled: Arc<Notify>,
}

/// The statements of a connection, prepared once.
#[derive(Debug)]
pub(super) struct Statements {
    /// `pg_try_advisory_lock`, and the next token when granted.
    pub(super) try_exclusive: Statement,
    /// `pg_try_advisory_lock_shared`, and the next token when granted.
    pub(super) try_shared: Statement,
    /// The next token alone, for a shared holder joining another of this
    /// host.
    pub(super) next_token: Statement,
    /// `pg_advisory_unlock` and the notice of the release.
    pub(super) unlock_exclusive: Statement,
    /// `pg_advisory_unlock_shared` and the notice of the release.
    pub(super) unlock_shared: Statement,
}

/// What this host's holders of a key say about one more attempt on it.
pub(super) enum Claim {
    /// Ask the server: no guest of this host holds the key (the caller is
    /// now recorded as the one asking).
    Ask,
    /// Join a shared holder of this host: the server lock is there already.
    Join,
    /// A guest of this host holds it in a conflicting mode.
    Contended,
}

/// The service could not be used, for the reason given.
pub(super) fn unavailable(err: impl std::fmt::Display) -> BackendError {
    BackendError::Unavailable(err.to_string())
}

/// [`unavailable`] for a client error, with its causes on one line
/// (tokio-postgres keeps the cause, "connection refused", out of its own
/// message).
pub(super) fn failed(err: tokio_postgres::Error) -> BackendError {
    let mut message = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    BackendError::Unavailable(message)
}

/// How to open a connection of a namespace.
pub(super) struct Connect<'a> {
    pub(super) config: &'a Config,
    pub(super) runtime: &'a Handle,
    pub(super) sequence: &'a str,
    pub(super) chances: &'a Arc<Chances>,
    /// How often the health check runs.
    pub(super) check: Duration,
    /// The longest wait for an answer.
    pub(super) timeout: Duration,
}

impl Connect<'_> {
    /// Connects, listens for releases, creates the fencing sequence if
    /// needed, prepares the statements and starts the health check.
    pub(super) async fn connect(&self) -> Result<Arc<PgConnection>, BackendError> {
        let (client, mut driver) = self.config.connect(NoTls).await.map_err(failed)?;
        let lost = LostSignal::new();
        let chances = Arc::clone(self.chances);
        let ended = lost.clone();
        let driver = self.runtime.spawn(async move {
            loop {
                match std::future::poll_fn(|cx| driver.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(notice))) => {
                        chances.released(notice.payload());
                    }
                    Some(Ok(_)) => {}
                    Some(Err(err)) => {
                        tracing::warn!(%err, "the PostgreSQL connection failed");
                        break;
                    }
                    None => break,
                }
            }
            ended.trip();
            chances.released_all();
        });
        let sequence = self.sequence;
        let setup = format!("LISTEN {CHANNEL}; CREATE SEQUENCE IF NOT EXISTS {sequence} CACHE 1");
        if let Err(err) = client.batch_execute(&setup).await {
            // Two hosts creating the sequence at once: one of them loses
            // the race on the catalog, and the sequence exists.
            let raced = err.code().is_some_and(|code| {
                *code == tokio_postgres::error::SqlState::UNIQUE_VIOLATION
                    || *code == tokio_postgres::error::SqlState::DUPLICATE_TABLE
            });
            if !raced {
                driver.abort();
                return Err(failed(err));
            }
            client
                .batch_execute(&format!("LISTEN {CHANNEL}"))
                .await
                .map_err(failed)?;
        }
        let prepare = |sql: String| {
            let client = &client;
            async move { client.prepare(&sql).await.map_err(failed) }
        };
        let grant = |function: &str| {
            format!("SELECT CASE WHEN {function}($1) THEN nextval('{sequence}') END")
        };
        let release =
            |function: &str| format!("SELECT {function}($1), pg_notify('{CHANNEL}', $1::text)");
        let statements = Statements {
            try_exclusive: prepare(grant("pg_try_advisory_lock")).await?,
            try_shared: prepare(grant("pg_try_advisory_lock_shared")).await?,
            next_token: prepare(format!("SELECT nextval('{sequence}')")).await?,
            unlock_exclusive: prepare(release("pg_advisory_unlock")).await?,
            unlock_shared: prepare(release("pg_advisory_unlock_shared")).await?,
        };
        let connection = Arc::new(PgConnection {
            client,
            statements,
            lost,
            keys: Mutex::new(HashMap::new()),
            driver: Mutex::new(Some(driver)),
        });
        self.runtime.spawn(health_check(
            Arc::downgrade(&connection),
            self.check,
            self.timeout,
        ));
        Ok(connection)
    }
}

/// Pings the connection every `every`; one that does not answer within
/// `timeout` is closed (its locks are lost, and freed by the server).
async fn health_check(connection: Weak<PgConnection>, every: Duration, timeout: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Some(connection) = connection.upgrade() else {
            return;
        };
        if connection.lost.is_lost() {
            return;
        }
        match tokio::time::timeout(timeout, connection.client.simple_query("SELECT 1")).await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => {
                tracing::warn!(%err, "the PostgreSQL health check failed");
                connection.close();
                return;
            }
            Err(_) => {
                tracing::warn!("the PostgreSQL health check got no answer in time");
                connection.close();
                return;
            }
        }
    }
}

impl PgConnection {
    /// Closes the connection: the server frees every lock it held, and
    /// every lease through it is lost.
    pub(super) fn close(&self) {
        self.lost.trip();
        // Attempts waiting for another's answer learn of the loss now.
        for holders in self.keys().values() {
            holders.settled.notify_waiters();
        }
        if let Some(driver) = self.driver.lock().unwrap_or_else(|e| e.into_inner()).take() {
            driver.abort();
        }
    }

    fn keys(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Holders>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Decides how an attempt on `key` in `mode` proceeds, given this
    /// host's holders: a session's advisory locks are reentrant and never
    /// conflict with the same session, so this host arbitrates between its
    /// own guests before asking the server. While another attempt of this
    /// host is asking the server about `key`, this one waits for that
    /// answer (at most `timeout`) instead of reporting contention.
    pub(super) async fn claim(
        &self,
        key: i64,
        mode: LockMode,
        timeout: Duration,
    ) -> Result<Claim, BackendError> {
        loop {
            if self.lost.is_lost() {
                return Err(unavailable("the connection was lost"));
            }
            let settled = {
                let mut keys = self.keys();
                match keys.get_mut(&key) {
                    Some(holders)
                        if holders.granted
                            && holders.mode == LockMode::Shared
                            && mode == LockMode::Shared =>
                    {
                        holders.count += 1;
                        return Ok(Claim::Join);
                    }
                    Some(holders) if holders.granted => return Ok(Claim::Contended),
                    // Another attempt of this host is asking the server:
                    // its answer decides this one.
                    Some(holders) => Arc::clone(&holders.settled),
                    None => {
                        keys.insert(
                            key,
                            Holders {
                                mode,
                                count: 1,
                                granted: false,
                                settled: Arc::default(),
                            },
                        );
                        return Ok(Claim::Ask);
                    }
                }
            };
            let mut notified = std::pin::pin!(settled.notified());
            notified.as_mut().enable();
            let still_asking = self
                .keys()
                .get(&key)
                .is_some_and(|holders| !holders.granted);
            if still_asking {
                // Bounded: the attempt in flight has the same timeout.
                let _ = tokio::time::timeout(timeout, notified).await;
            }
        }
    }

    /// Records the answer to the first attempt on `key` (granted or not),
    /// and wakes the attempts that waited for it.
    pub(super) fn settle(&self, key: i64, granted: bool) {
        let mut keys = self.keys();
        let settled = match keys.get_mut(&key) {
            Some(holders) if granted => {
                holders.granted = true;
                Arc::clone(&holders.settled)
            }
            Some(holders) if holders.count > 1 => {
                holders.count -= 1;
                Arc::clone(&holders.settled)
            }
            Some(_) => match keys.remove(&key) {
                Some(holders) => holders.settled,
                None => return,
            },
            None => return,
        };
        settled.notify_waiters();
    }

    /// Forgets one holder of `key`; true when it was the last (the server
    /// lock must go).
    pub(super) fn forget(&self, key: i64) -> bool {
        let mut keys = self.keys();
        match keys.get_mut(&key) {
            Some(holders) if holders.count > 1 => {
                holders.count -= 1;
                false
            }
            Some(_) => {
                keys.remove(&key);
                true
            }
            None => false,
        }
    }
}
