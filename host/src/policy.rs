//! The host's policy for an instance: where locking is allowed, whether
//! read-only guests may lock exclusively, and limits on held locks, pending
//! waits and the length of any wait. Every violation is a typed WIT error.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use wasmtime_wasi::FsPerms;

use crate::backend::{LockKey, Lockable};
use crate::bindings::portalocker::filelock::types::{Limit, LockError, LockMode};
use crate::sys::real_path;

/// What an embedder allows an instance. The default allows everything except
/// exclusive locks through read-only directories and descriptors.
#[derive(Debug, Clone, Default)]
pub struct LockPolicy {
    /// Directories (canonical) under which locking is allowed; `None` allows
    /// every directory the guest can reach.
    pub(crate) lock_dirs: Option<Vec<PathBuf>>,
    /// Whether read-only directories and descriptors may take exclusive locks.
    pub(crate) read_only_exclusive: bool,
    /// Most locks an instance may hold at once.
    pub(crate) max_held_locks: Option<usize>,
    /// Most waits an instance may have in progress at once.
    pub(crate) max_pending_waits: Option<usize>,
    /// Longest any wait may last.
    pub(crate) max_wait: Option<Duration>,
}

impl LockPolicy {
    /// Checks that a lock in `mode` may be taken where the guest's access is
    /// `perms`.
    pub(crate) fn admit_mode(&self, perms: FsPerms, mode: LockMode) -> Result<(), LockError> {
        if mode == LockMode::Exclusive && perms.write_not_permitted() && !self.read_only_exclusive {
            return Err(LockError::Denied);
        }
        Ok(())
    }

    /// Checks that locking is allowed at `path`.
    pub(crate) fn admit_path(&self, path: &Path) -> Result<(), LockError> {
        match &self.lock_dirs {
            Some(dirs) if !dirs.iter().any(|dir| path.starts_with(dir)) => Err(LockError::Denied),
            _ => Ok(()),
        }
    }

    /// Checks that locking is allowed on the open `file`, by its real path.
    pub(crate) fn admit_file(&self, file: &File) -> Result<(), LockError> {
        if self.lock_dirs.is_none() {
            return Ok(());
        }
        self.admit_path(&real_path(file).ok_or(LockError::Denied)?)
    }

    /// Checks that locking is allowed at `relative` inside the open
    /// directory `dir`, judging by the path alone (before anything is
    /// opened or created there).
    pub(crate) fn admit_in_dir(&self, dir: &File, relative: &Path) -> Result<(), LockError> {
        if self.lock_dirs.is_none() {
            return Ok(());
        }
        let mut path = real_path(dir).ok_or(LockError::Denied)?;
        for component in relative.components() {
            match component {
                std::path::Component::Normal(name) => path.push(name),
                std::path::Component::ParentDir => {
                    path.pop();
                }
                _ => {}
            }
        }
        self.admit_path(&path)
    }
}

/// Canonicalizes a directory for [`LockPolicy::lock_dirs`].
pub(crate) fn canonical_dir(dir: &Path) -> std::io::Result<PathBuf> {
    std::fs::canonicalize(dir)
}

/// What one instance uses now: locks held and waits in progress. Shared (by
/// `Arc`) with the lock resources and wait futures that change it.
#[derive(Debug, Default)]
pub(crate) struct Usage {
    /// The locks this instance holds.
    held: Mutex<Held>,
    /// Waits in progress.
    pending: AtomicUsize,
}

/// The locks one instance holds, every class counted once.
#[derive(Debug, Default)]
struct Held {
    /// The open files it holds a file lock on, through either layer (dead
    /// entries are files that were closed, and with them their locks).
    files: Vec<Weak<File>>,
    /// Its named locks (dead entries are rooms given back).
    named: Vec<Weak<NamedEntry>>,
}

impl Held {
    /// Forgets the locks that are gone.
    fn prune(&mut self) {
        self.files.retain(|weak| weak.strong_count() > 0);
        self.named.retain(|weak| weak.strong_count() > 0);
    }

    fn count(&self) -> usize {
        self.files.len() + self.named.len()
    }

    fn has_file(&self, file: &Arc<File>) -> bool {
        self.files
            .iter()
            .any(|weak| weak.as_ptr() == Arc::as_ptr(file))
    }

    /// Fails with `limit-reached(held-locks)` when `max` locks are held.
    fn check(&self, max: Option<usize>) -> Result<(), LockError> {
        if max.is_some_and(|max| self.count() >= max) {
            return Err(LockError::LimitReached(Limit::HeldLocks));
        }
        Ok(())
    }
}

/// A named lock's entry among the locks its instance holds.
#[derive(Debug)]
struct NamedEntry {
    /// The file-lock key of the lock, when the file-lock engine waits for it
    /// (a namespace on a local directory).
    key: Option<LockKey>,
}

/// A named lock's place among the locks its instance holds (see
/// [`Usage::take_named_room`]); dropping it gives the place back.
#[derive(Debug)]
pub(crate) struct NamedRoom {
    _entry: Arc<NamedEntry>,
}

impl Usage {
    fn lock_held(&self) -> std::sync::MutexGuard<'_, Held> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.prune();
        held
    }

    /// Fails with `limit-reached(held-locks)` if one more lock would exceed
    /// `max`; a `file` that already holds a lock does not count twice.
    pub(crate) fn check_room(
        &self,
        max: Option<usize>,
        file: Option<&Arc<File>>,
    ) -> Result<(), LockError> {
        if max.is_none() {
            return Ok(());
        }
        let held = self.lock_held();
        if file.is_some_and(|file| held.has_file(file)) {
            return Ok(());
        }
        held.check(max)
    }

    /// Counts the lock `file` now holds, checking `max` and counting in one
    /// step (a file counted already stays counted once). The room is given
    /// back by [`Usage::released`].
    pub(crate) fn take_room(&self, file: &Arc<File>, max: Option<usize>) -> Result<(), LockError> {
        let mut held = self.lock_held();
        if held.has_file(file) {
            return Ok(());
        }
        held.check(max)?;
        held.files.push(Arc::downgrade(file));
        Ok(())
    }

    /// Counts a named lock now held, checking `max` and counting in one
    /// step; `key` is its file-lock key, if it has one. Dropping the room
    /// gives it back.
    pub(crate) fn take_named_room(
        &self,
        max: Option<usize>,
        key: Option<LockKey>,
    ) -> Result<NamedRoom, LockError> {
        let mut held = self.lock_held();
        held.check(max)?;
        let entry = Arc::new(NamedEntry { key });
        held.named.push(Arc::downgrade(&entry));
        Ok(NamedRoom { _entry: entry })
    }

    /// Whether the instance holds a lock through `file`.
    pub(crate) fn holds(&self, file: &Arc<File>) -> bool {
        self.lock_held().has_file(file)
    }

    /// Whether the instance holds a lock on the file `key` names, through
    /// any of its open files or named locks.
    pub(crate) fn holds_key(&self, key: LockKey) -> bool {
        let (files, named) = {
            let held = self.lock_held();
            let files: Vec<Arc<File>> = held.files.iter().filter_map(Weak::upgrade).collect();
            let named = held
                .named
                .iter()
                .filter_map(Weak::upgrade)
                .any(|entry| entry.key == Some(key));
            (files, named)
        };
        named || files.iter().any(|file| file.key() == Some(key))
    }

    /// Gives back the room of the lock `file` held.
    pub(crate) fn released(&self, file: &Arc<File>) {
        self.lock_held()
            .files
            .retain(|weak| weak.as_ptr() != Arc::as_ptr(file));
    }
}

/// A wait's claim on the instance's pending-wait budget; dropping it gives
/// the slot back.
pub(crate) struct WaitSlot {
    usage: Arc<Usage>,
}

impl WaitSlot {
    /// Claims a slot, or fails with `limit-reached(pending-waits)` when `max`
    /// waits are already in progress.
    pub(crate) fn claim(usage: &Arc<Usage>, max: Option<usize>) -> Result<WaitSlot, LockError> {
        let before = usage.pending.fetch_add(1, Ordering::SeqCst);
        let slot = WaitSlot {
            usage: Arc::clone(usage),
        };
        if max.is_some_and(|max| before >= max) {
            return Err(LockError::LimitReached(Limit::PendingWaits));
        }
        Ok(slot)
    }
}

impl Drop for WaitSlot {
    fn drop(&mut self) {
        self.usage.pending.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A wait's budget: where to claim a slot, and how many there are.
#[derive(Clone)]
pub(crate) struct WaitBudget {
    pub(crate) usage: Arc<Usage>,
    pub(crate) max_pending: Option<usize>,
}
