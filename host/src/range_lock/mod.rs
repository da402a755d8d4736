//! The WIT interface `range-lock`: byte-range locks with POSIX record-lock
//! semantics on the open file behind a guest's descriptor, so that a guest
//! can share a file with native programs that lock ranges (SQLite above
//! all), and requests for them ([`pending_range_lock`]).
//!
//! The lock itself is the [`ByteRangeLock`] backend (Linux's
//! open-file-description locks, see `sys::range` for the other systems);
//! waiting is the engine every lock class uses ([`crate::wait`]): timeouts,
//! cancellation, the fair queue (where range waiters line up only behind
//! earlier waiters for bytes they want in a conflicting mode) and, on
//! Linux, the front of each line blocking in `F_OFD_SETLKW` on the guest's
//! own open file, so a released range goes to the waiting guest at kernel
//! speed and nothing ever holds it on a guest's behalf. The ranges each
//! instance holds count toward the host's `held-locks` limit (the policy's
//! usage keeps them as the kernel does: merged, split, converted).
//!
//! # Guarantees
//!
//! Those of the other layers: a waiting guest never blocks another; a
//! cancelled wait never keeps the range (a range the kernel granted in that
//! instant is given back, and a conversion's old lock is put back);
//! timeouts are honoured; only contention is retried; every policy
//! violation is a typed error. A conversion that cannot be granted leaves
//! the open file's ranges as they were (atomic on Unix; see `sys::range`
//! for Windows).

mod pending_range_lock;

use std::fs::File;
use std::sync::Arc;

use wasmtime::component::Resource;
use wasmtime_wasi::OpenMode;
use wasmtime_wasi::filesystem::Descriptor;

pub use self::pending_range_lock::PendingRangeLock;
use crate::backend::byte_range::ByteRangeLock;
use crate::backend::span::Span;
use crate::bindings::portalocker::filelock::range_lock::{self, ByteRange, Conflict};
use crate::bindings::portalocker::filelock::types::{LockError, LockMode};
use crate::ctx::FileLockCtxView;
use crate::error::{LockFailure, file_error};
use crate::policy::{RangeReservation, WaitBudget};
use crate::request::Request;
use crate::wait::{self, Patience, WaitPolicy};

/// A range lock admitted by the policy, with the room it needs reserved.
struct Admitted {
    target: Arc<ByteRangeLock>,
    mode: LockMode,
    reservation: RangeReservation,
    /// Whether the open file already holds some of the bytes (the lock
    /// converts or repeats them).
    converting: bool,
}

impl FileLockCtxView<'_> {
    /// The open file behind `fd`, if it is a file the policy lets the guest
    /// lock ranges of in `mode` (or, without `mode`, unlock or test).
    fn range_file(
        &self,
        fd: &Resource<Descriptor>,
        mode: Option<LockMode>,
    ) -> Result<Arc<File>, LockFailure> {
        let file = match self.table.get(fd)? {
            Descriptor::File(file) => file,
            Descriptor::Dir(_) => return Err(LockError::BadDescriptor.into()),
        };
        if let Some(mode) = mode {
            self.ctx.policy.admit_mode(file.perms, mode)?;
            // fcntl(2) locks need the access they protect: reading for
            // shared, writing for exclusive. Checked here so that every
            // platform answers alike.
            let needed = match mode {
                LockMode::Shared => OpenMode::READ,
                LockMode::Exclusive => OpenMode::WRITE,
            };
            if !file.open_mode.contains(needed) {
                return Err(LockError::NotPermitted.into());
            }
        }
        self.ctx.policy.admit_file(&file.file)?;
        Ok(Arc::clone(&file.file))
    }

    /// Checks everything a lock of `range` in `mode` on `fd` needs before
    /// any attempt, and reserves its room.
    fn admit_range(
        &self,
        fd: &Resource<Descriptor>,
        range: ByteRange,
        mode: LockMode,
    ) -> Result<Admitted, LockFailure> {
        let span = Span::from_wit(range)?;
        let file = self.range_file(fd, Some(mode))?;
        let usage = &self.ctx.usage;
        let reservation = usage.reserve_range(self.ctx.policy.max_held_locks, &file, span, mode)?;
        let before = usage.ranges_held(&file, span);
        let converting = !before.is_empty();
        Ok(Admitted {
            target: Arc::new(ByteRangeLock::new(file, span, before)),
            mode,
            reservation,
            converting,
        })
    }
}

impl Admitted {
    /// Takes the lock, waiting as `patience` allows, and counts it.
    async fn acquire(
        self,
        patience: Patience,
        policy: WaitPolicy,
        budget: WaitBudget,
    ) -> Result<(), LockError> {
        wait::acquire(
            &self.target,
            self.mode,
            patience,
            policy,
            budget,
            self.converting,
        )
        .await?;
        self.reservation.granted();
        Ok(())
    }
}

impl range_lock::Host for FileLockCtxView<'_> {
    async fn lock(
        &mut self,
        file: Resource<Descriptor>,
        range: ByteRange,
        mode: LockMode,
        timeout: Option<u64>,
    ) -> Result<(), LockFailure> {
        let admitted = self.admit_range(&file, range, mode)?;
        let patience = Patience::from_timeout(timeout, self.ctx.policy.max_wait);
        Ok(admitted
            .acquire(patience, self.ctx.wait, self.ctx.wait_budget())
            .await?)
    }

    async fn try_lock(
        &mut self,
        file: Resource<Descriptor>,
        range: ByteRange,
        mode: LockMode,
    ) -> Result<(), LockFailure> {
        let admitted = self.admit_range(&file, range, mode)?;
        wait::try_once(&*admitted.target, mode)?;
        admitted.reservation.granted();
        Ok(())
    }

    async fn unlock(
        &mut self,
        file: Resource<Descriptor>,
        range: ByteRange,
    ) -> Result<(), LockFailure> {
        let span = Span::from_wit(range)?;
        let file = self.range_file(&file, None)?;
        let max = self.ctx.policy.max_held_locks;
        self.ctx.usage.unlock_range(max, &file, span, || {
            wait::release(&ByteRangeLock::bytes_of(Arc::clone(&file), span))
        })?;
        Ok(())
    }

    async fn test(
        &mut self,
        file: Resource<Descriptor>,
        range: ByteRange,
        mode: LockMode,
    ) -> Result<Option<Conflict>, LockFailure> {
        let span = Span::from_wit(range)?;
        let file = self.range_file(&file, None)?;
        let conflict = ByteRangeLock::bytes_of(file, span)
            .test(mode)
            .map_err(|err| file_error(&err))?;
        Ok(conflict.map(|conflict| Conflict {
            mode: conflict.mode,
            range: conflict.span.to_wit(),
            pid: conflict.pid,
        }))
    }

    async fn request_lock(
        &mut self,
        file: Resource<Descriptor>,
        range: ByteRange,
        mode: LockMode,
        timeout: Option<u64>,
    ) -> wasmtime::Result<Resource<PendingRangeLock>> {
        let pending = match self.admit_range(&file, range, mode) {
            Ok(admitted) => {
                let target = Arc::clone(&admitted.target);
                let patience = Patience::from_timeout(timeout, self.ctx.policy.max_wait);
                let request = Request::waiting(admitted.acquire(
                    patience,
                    self.ctx.wait,
                    self.ctx.wait_budget(),
                ));
                PendingRangeLock::waiting(target, Arc::clone(&self.ctx.usage), request)
            }
            Err(LockFailure::Guest(err)) => PendingRangeLock::failed(err),
            Err(LockFailure::Trap(trap)) => return Err(trap),
        };
        Ok(self.table.push(pending)?)
    }
}
