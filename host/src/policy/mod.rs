//! The host's policy for an instance: where locking is allowed, whether
//! read-only guests may lock exclusively, and limits on held locks, pending
//! waits and the length of any wait. Every violation is a typed WIT error.
//!
//! What an instance uses now, counted against those limits, is its
//! [`Usage`] (module `usage`; the byte ranges it holds are counted in
//! module `ranges`).

mod ranges;
mod usage;

pub(crate) use self::ranges::RangeReservation;
pub(crate) use self::usage::{NamedRoom, Usage, WaitBudget, WaitSlot};

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use wasmtime_wasi::FsPerms;

use crate::bindings::portalocker::filelock::types::{LockError, LockMode};
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
