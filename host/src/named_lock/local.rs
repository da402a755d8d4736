//! A namespace on a local directory (`file:///DIR`): one lock file
//! `NAME.lock` per lock name (the name escaped, see [`name::file_stem`]),
//! locked with `flock(2)` (`LockFileEx` on Windows) by the file-lock engine
//! itself.
//!
//! So a named lock here waits exactly as `file-lock.acquire` does
//! ([`crate::wait::acquire`] on the lock file): the front of this host's
//! fair queue blocks in the kernel on the guest's own open file and gets
//! the lock the moment it is released, by this host, another host or a
//! native process; timeouts, cancellation, the pending-wait budget and
//! blocking work off the executor are the file engine's.
//!
//! The fencing token is a counter in `NAME.fence`, read, incremented and
//! written while that file is locked exclusively, after the name's lock is
//! held: so every acquisition, shared ones included, gets a larger number
//! than every acquisition before it, by this host or any other process using
//! the same directory. (The counter is not flushed to disk: it survives any
//! crash of a process, not a power cut.)
//!
//! A local lock is never lost: the kernel holds it for as long as the host
//! process keeps the file open. The files stay in the directory after
//! release; removing one while it is locked would let a second holder lock a
//! new file of the same name, so the host never removes them.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::{BackendError, from_lock_error};
use super::lost::LostSignal;
use super::name;
use super::service::{BoxFuture, HeldLock, Service, Waiting};
use crate::backend::whole_file::WholeFile;
use crate::backend::{LockKey, Lockable};
use crate::bindings::portalocker::filelock::named_lock_types::NamedLockError;
use crate::bindings::portalocker::filelock::types::{LockError, LockMode};
use crate::ctx::Blocking;
use crate::open::{self, OpenRequest};
use crate::policy::WaitBudget;
use crate::wait::{self, Patience};

/// How long a single attempt (timeout zero) waits for the fencing counter's
/// own lock, which other acquirers hold for an instant while they count.
const FENCE_GRACE: Duration = Duration::from_millis(100);

/// A namespace backed by a directory of lock files.
#[derive(Debug)]
pub(crate) struct LocalService {
    /// The directory, open for the life of the namespace (as a preopen is).
    dir: Arc<File>,
    /// Its path, for messages.
    path: PathBuf,
}

impl LocalService {
    /// A service on `dir`, which is created when missing.
    pub(crate) fn new(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let opened =
            cap_primitives::fs::open_ambient_dir(dir, cap_primitives::ambient_authority())?;
        Ok(LocalService {
            dir: Arc::new(opened),
            path: dir.to_path_buf(),
        })
    }
}

/// A held local lock: the locked open file of the name.
struct LocalHeld {
    file: Arc<File>,
    key: Option<LockKey>,
    token: u64,
    /// Never trips: the kernel does not take a lock away.
    lost: LostSignal,
    held: bool,
}

impl LocalHeld {
    fn unlock(&mut self) -> Result<(), BackendError> {
        if !std::mem::take(&mut self.held) {
            return Ok(());
        }
        // Through the engine, which also wakes this host's waiters.
        wait::release(&WholeFile::of(&self.file))
            .map_err(|err| BackendError::Unavailable(format!("unlocking: {err:?}")))
    }
}

impl HeldLock for LocalHeld {
    fn fencing_token(&self) -> Option<u64> {
        Some(self.token)
    }

    fn lost(&self) -> &LostSignal {
        &self.lost
    }

    fn key(&self) -> Option<LockKey> {
        self.key
    }

    fn release(&mut self) -> BoxFuture<Result<(), BackendError>> {
        let released = self.unlock();
        Box::pin(async move { released })
    }
}

impl Drop for LocalHeld {
    fn drop(&mut self) {
        if let Err(err) = self.unlock() {
            tracing::warn!(%err, "releasing a dropped local named lock");
        }
    }
}

/// Opens (creating it) `file_name` in the directory `dir`, off the executor
/// unless blocking is allowed, refusing anything but a regular file and
/// never blocking on one.
async fn open_in(
    blocking: Blocking,
    dir: &Arc<File>,
    file_name: String,
) -> Result<Arc<File>, NamedLockError> {
    let dir = Arc::clone(dir);
    let request = OpenRequest {
        create: true,
        write: true,
        append: false,
    };
    // Lock and counter files stay when a call fails: they hold no data but
    // the counter, which must never go back.
    blocking
        .run(move || open::open_lock_file(&dir, Path::new(&file_name), request))
        .await
        .map(|opened| Arc::new(opened.file))
        .map_err(from_lock_error)
}

/// Draws the next fencing token of `stem` from its counter file, waiting
/// for the counter's lock as the caller's patience allows (and at least
/// [`FENCE_GRACE`], so that a single attempt is not refused because a
/// shared holder was counting).
async fn next_token(dir: &Arc<File>, stem: &str, waiting: &Waiting) -> Result<u64, NamedLockError> {
    let counter = open_in(waiting.blocking, dir, format!("{stem}.fence")).await?;
    let grace = Instant::now() + FENCE_GRACE;
    let patience = match waiting.patience {
        Patience::Once => Patience::Until(grace),
        Patience::Until(at) => Patience::Until(at.max(grace)),
        Patience::UntilHostLimit(at) => Patience::UntilHostLimit(at.max(grace)),
        Patience::Forever => Patience::Forever,
    };
    // Counting is part of taking the name, not a wait of the guest's own:
    // it claims no pending-wait slot of the instance.
    let budget = WaitBudget {
        usage: Arc::default(),
        max_pending: None,
    };
    wait::acquire(
        &WholeFile::shared(&counter),
        LockMode::Exclusive,
        patience,
        waiting.policy,
        budget,
        false,
    )
    .await
    .map_err(|err| match (waiting.patience, err) {
        // A counter held that long by a single attempt's standards is a
        // stuck process, not contention for the name.
        (Patience::Once, LockError::TimedOut) => NamedLockError::Unavailable,
        (_, err) => from_lock_error(err),
    })?;
    // The count and the unlock happen together, wherever the blocking work
    // runs: a caller that goes away meanwhile never leaves the counter
    // locked or half written.
    let counted = waiting
        .blocking
        .run(move || {
            let token = bump(&counter);
            if let Err(err) = wait::release(&WholeFile::of(&counter)) {
                tracing::warn!(?err, "unlocking a fencing counter");
            }
            token
        })
        .await;
    counted.map_err(|err| {
        tracing::warn!(%err, stem, "the fencing counter cannot be used");
        NamedLockError::Unavailable
    })
}

/// Reads the counter in `file`, writes it plus one, returns the new value.
fn bump(mut file: &File) -> io::Result<u64> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0))?;
    file.read_to_string(&mut text)?;
    let text = text.trim();
    let last: u64 = if text.is_empty() {
        0
    } else {
        text.parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("holds {text:?}")))?
    };
    let next = last
        .checked_add(1)
        .ok_or_else(|| io::Error::other("the counter is exhausted"))?;
    let record = format!("{next}\n");
    file.seek(SeekFrom::Start(0))?;
    file.write_all(record.as_bytes())?;
    file.set_len(record.len() as u64)?;
    Ok(next)
}

impl Service for LocalService {
    fn acquire(
        &self,
        name: Arc<str>,
        mode: LockMode,
        waiting: Waiting,
    ) -> BoxFuture<Result<Box<dyn HeldLock>, NamedLockError>> {
        let dir = Arc::clone(&self.dir);
        Box::pin(async move {
            let stem = name::file_stem(&name);
            let file = open_in(waiting.blocking, &dir, format!("{stem}.lock")).await?;
            wait::acquire(
                &WholeFile::shared(&file),
                mode,
                waiting.patience,
                waiting.policy,
                waiting.budget.clone(),
                false,
            )
            .await
            .map_err(from_lock_error)?;
            // Held from here: dropping `held` (a cancelled call, a failed
            // count) releases it.
            let mut held = LocalHeld {
                key: WholeFile::of(&file).key(),
                file,
                token: 0,
                lost: LostSignal::new(),
                held: true,
            };
            held.token = next_token(&dir, &stem, &waiting).await?;
            Ok(Box::new(held) as Box<dyn HeldLock>)
        })
    }

    fn check(&self) -> BoxFuture<Result<(), BackendError>> {
        let checked = match self.dir.metadata() {
            Ok(metadata) if metadata.is_dir() => Ok(()),
            Ok(_) => Err(BackendError::Unavailable(format!(
                "{} is not a directory",
                self.path.display()
            ))),
            Err(err) => Err(BackendError::Unavailable(format!(
                "{}: {err}",
                self.path.display()
            ))),
        };
        Box::pin(async move { checked })
    }
}
