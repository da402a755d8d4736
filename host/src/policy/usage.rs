//! What one instance uses now: the locks it holds (whole files, byte
//! ranges and named locks) and the waits it has in progress, counted against the limits of
//! its [`LockPolicy`](super::LockPolicy).

use std::fs::File;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use super::ranges::RangeHoldings;
use crate::backend::LockKey;
use crate::bindings::portalocker::filelock::types::{Limit, LockError};
use crate::sys::FileId;

/// What one instance uses now: locks held and waits in progress. Shared (by
/// `Arc`) with the lock resources and wait futures that change it.
#[derive(Debug, Default)]
pub(crate) struct Usage {
    /// The locks held, of every layer, under one lock so that a check and
    /// the count that follows it cannot be split by another layer's.
    held: Mutex<Held>,
    /// Waits in progress.
    pending: AtomicUsize,
}

/// The locks one instance holds.
#[derive(Debug, Default)]
pub(super) struct Held {
    /// The open files holding a whole-file lock, through the path or the
    /// handle layer (dead entries are files that were closed, and with them
    /// their locks).
    files: Vec<Weak<File>>,
    /// The byte ranges held through `range-lock`.
    pub(super) ranges: RangeHoldings,
    /// The named locks held through `named-lock` (dead entries are rooms
    /// given back).
    named: Vec<Weak<NamedEntry>>,
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

impl Held {
    /// The locks held now, each byte range and each named lock counting
    /// once, plus the room reserved by range locks being taken.
    pub(super) fn count(&self) -> usize {
        self.files.len() + self.ranges.count() + self.named.len()
    }

    /// Fails with `limit-reached(held-locks)` if `growth` more locks would
    /// exceed `max`.
    pub(super) fn check(&self, growth: usize, max: Option<usize>) -> Result<(), LockError> {
        match max {
            Some(max) if growth > 0 && self.count() + growth > max => {
                Err(LockError::LimitReached(Limit::HeldLocks))
            }
            _ => Ok(()),
        }
    }
}

impl Usage {
    /// The locks held, with closed files dropped (the kernel released
    /// their locks).
    pub(super) fn held(&self) -> MutexGuard<'_, Held> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.files.retain(|weak| weak.strong_count() > 0);
        held.ranges.prune();
        held.named.retain(|weak| weak.strong_count() > 0);
        held
    }

    /// Fails with `limit-reached(held-locks)` if one more lock would exceed
    /// `max`; a `file` that already holds a whole-file lock does not count
    /// twice.
    pub(crate) fn check_room(
        &self,
        max: Option<usize>,
        file: Option<&Arc<File>>,
    ) -> Result<(), LockError> {
        let held = self.held();
        if file.is_some_and(|file| contains(&held.files, file)) {
            return Ok(());
        }
        held.check(1, max)
    }

    /// Counts the whole-file lock `file` now holds, checking `max` and
    /// counting in one step (a file counted already stays counted once).
    /// The room is given back by [`Usage::released`].
    pub(crate) fn take_room(&self, file: &Arc<File>, max: Option<usize>) -> Result<(), LockError> {
        let mut held = self.held();
        if contains(&held.files, file) {
            return Ok(());
        }
        held.check(1, max)?;
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
        let mut held = self.held();
        held.check(1, max)?;
        let entry = Arc::new(NamedEntry { key });
        held.named.push(Arc::downgrade(&entry));
        Ok(NamedRoom { _entry: entry })
    }

    /// Whether the instance holds a whole-file lock through `file`.
    pub(crate) fn holds(&self, file: &Arc<File>) -> bool {
        contains(&self.held().files, file)
    }

    /// Whether the instance holds a lock under `key`, through any of its
    /// open files (a whole-file lock on the file, or a byte range of it) or
    /// named locks (the lock file of a name in a local namespace).
    pub(crate) fn holds_key(&self, key: LockKey) -> bool {
        let files: Vec<Arc<File>> = {
            let held = self.held();
            let named = held
                .named
                .iter()
                .filter_map(Weak::upgrade)
                .any(|entry| entry.key == Some(key));
            if named {
                return true;
            }
            match key {
                LockKey::File(_) => held.files.iter().filter_map(Weak::upgrade).collect(),
                LockKey::Ranges(_) => held.ranges.files(),
            }
        };
        files.iter().any(|file| match key {
            LockKey::File(_) => FileId::of(file).map(LockKey::File) == Some(key),
            LockKey::Ranges(_) => FileId::of(file).map(LockKey::Ranges) == Some(key),
        })
    }

    /// Gives back the room of the whole-file lock `file` held.
    pub(crate) fn released(&self, file: &Arc<File>) {
        self.held()
            .files
            .retain(|weak| weak.as_ptr() != Arc::as_ptr(file));
    }
}

/// Whether `held` counts `file`.
fn contains(held: &[Weak<File>], file: &Arc<File>) -> bool {
    held.iter().any(|weak| weak.as_ptr() == Arc::as_ptr(file))
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
