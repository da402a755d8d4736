//! The handle layer: locks on the open file behind a guest's
//! `wasi:filesystem` descriptor.

use std::fs::File;
use std::sync::Arc;

use wasmtime::component::Resource;
use wasmtime_wasi::filesystem::Descriptor;
use wasmtime_wasi_io::poll::DynPollable;

use crate::bindings::portalocker::filelock::types::{LockError, LockMode};
use crate::ctx::FileLockCtxView;
use crate::error::{LockFailure, file_error};
use crate::os_lock;
use crate::request::{Collected, PendingLock, Request};
use crate::wait::{self, Patience};

impl FileLockCtxView<'_> {
    /// The open file behind `fd`, if the policy admits a lock in `mode` on it
    /// and the instance has room for one more held lock.
    fn admitted(
        &self,
        fd: &Resource<Descriptor>,
        mode: LockMode,
    ) -> Result<Arc<File>, LockFailure> {
        let file = match self.table.get(fd)? {
            Descriptor::File(file) => file,
            Descriptor::Dir(_) => return Err(LockError::BadDescriptor.into()),
        };
        self.ctx.policy.admit_mode(file.perms, mode)?;
        self.ctx.policy.admit_file(&file.file)?;
        self.ctx
            .usage
            .check_room(self.ctx.policy.max_held_locks, Some(&file.file))?;
        Ok(Arc::clone(&file.file))
    }

    /// Records the outcome of a handle-layer lock attempt on `file`. A
    /// failed attempt also ends a lock `file` held: on Linux a failed
    /// conversion gives up the old lock.
    fn count_outcome<T>(&self, file: &Arc<File>, outcome: &Result<T, LockError>) {
        match outcome {
            Ok(_) => self.ctx.usage.handle_locked(file),
            Err(_) => self.ctx.usage.handle_unlocked(file),
        }
    }

    /// Takes a lock on the descriptor's open file, waiting as `timeout_ns`
    /// allows (see [`Patience::from_timeout`]).
    pub(crate) async fn lock_descriptor(
        &mut self,
        fd: &Resource<Descriptor>,
        mode: LockMode,
        timeout_ns: Option<u64>,
    ) -> Result<(), LockFailure> {
        let file = self.admitted(fd, mode)?;
        let patience = Patience::from_timeout(timeout_ns, self.ctx.policy.max_wait);
        let converting = self.ctx.usage.holds(&file);
        let outcome = wait::acquire(
            &file,
            mode,
            patience,
            self.ctx.wait,
            self.ctx.wait_budget(),
            converting,
        )
        .await;
        self.count_outcome(&file, &outcome);
        Ok(outcome?)
    }

    /// Takes a lock on the descriptor's open file if that is possible at once.
    pub(crate) fn try_lock_descriptor(
        &mut self,
        fd: &Resource<Descriptor>,
        mode: LockMode,
    ) -> Result<(), LockFailure> {
        let file = self.admitted(fd, mode)?;
        let outcome = wait::try_now(&file, mode);
        self.count_outcome(&file, &outcome);
        Ok(outcome?)
    }

    /// Asks for the lock [`Self::lock_descriptor`] would take, answered
    /// later.
    pub(crate) fn request_descriptor_lock(
        &mut self,
        fd: &Resource<Descriptor>,
        mode: LockMode,
        timeout_ns: Option<u64>,
    ) -> wasmtime::Result<Resource<PendingLock>> {
        let pending = match self.admitted(fd, mode) {
            Ok(file) => {
                let waiter = Arc::clone(&file);
                let policy = self.ctx.wait;
                let budget = self.ctx.wait_budget();
                let patience = Patience::from_timeout(timeout_ns, self.ctx.policy.max_wait);
                let usage = Arc::clone(&self.ctx.usage);
                let converting = usage.holds(&file);
                let counted = Arc::clone(&usage);
                let request = Request::waiting(async move {
                    let outcome =
                        wait::acquire(&waiter, mode, patience, policy, budget, converting).await;
                    match &outcome {
                        Ok(()) => counted.handle_locked(&waiter),
                        Err(_) => counted.handle_unlocked(&waiter),
                    }
                    outcome
                });
                PendingLock::new(Some(file), Some(usage), request)
            }
            Err(LockFailure::Guest(err)) => {
                PendingLock::new(None, None, Request::answered(Err(err)))
            }
            Err(LockFailure::Trap(trap)) => return Err(trap),
        };
        Ok(self.table.push(pending)?)
    }

    /// A pollable for a handle-layer request.
    pub(crate) fn subscribe_descriptor_request(
        &mut self,
        request: Resource<PendingLock>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        wasmtime_wasi_io::poll::subscribe(self.table, request)
    }

    /// The WIT `pending-lock.get`.
    pub(crate) fn collect_descriptor_request(
        &mut self,
        request: &Resource<PendingLock>,
    ) -> wasmtime::Result<Collected<()>> {
        Ok(self.table.get_mut(request)?.collect())
    }

    /// Drops a handle-layer request, cancelling it if it is still waiting and
    /// releasing a lock it took that nobody collected.
    pub(crate) fn drop_descriptor_request(
        &mut self,
        request: Resource<PendingLock>,
    ) -> wasmtime::Result<()> {
        self.table.delete(request)?;
        Ok(())
    }

    /// Releases the lock held through the descriptor's open file.
    pub(crate) fn unlock_descriptor(
        &mut self,
        fd: &Resource<Descriptor>,
    ) -> Result<(), LockFailure> {
        let file = lockable_file(self.table.get(fd)?)?;
        os_lock::unlock(file).map_err(|err| file_error(&err))?;
        self.ctx.usage.handle_unlocked(file);
        Ok(())
    }
}

/// The host file behind a descriptor, if it is one a lock can be taken on.
///
/// The file type is not checked here: the guest already opened the file, and
/// `flock(2)` locks any open file (the path layer, which opens files itself,
/// admits regular files only). Skipping the check keeps the hot path at one
/// system call per lock call.
fn lockable_file(descriptor: &Descriptor) -> Result<&Arc<File>, LockError> {
    match descriptor {
        Descriptor::File(file) => Ok(&file.file),
        Descriptor::Dir(_) => Err(LockError::BadDescriptor),
    }
}
