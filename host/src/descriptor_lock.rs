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
    /// Takes a lock on the descriptor's open file, waiting as `timeout_ns`
    /// allows (see [`Patience::from_timeout`]).
    pub(crate) async fn lock_descriptor(
        &mut self,
        fd: &Resource<Descriptor>,
        mode: LockMode,
        timeout_ns: Option<u64>,
    ) -> Result<(), LockFailure> {
        let file = lockable_file(self.table.get(fd)?)?;
        wait::acquire(
            file,
            mode,
            Patience::from_timeout(timeout_ns),
            self.ctx.wait,
        )
        .await?;
        Ok(())
    }

    /// Takes a lock on the descriptor's open file if that is possible at once.
    pub(crate) fn try_lock_descriptor(
        &mut self,
        fd: &Resource<Descriptor>,
        mode: LockMode,
    ) -> Result<(), LockFailure> {
        let file = lockable_file(self.table.get(fd)?)?;
        wait::try_once(file, mode)?;
        Ok(())
    }

    /// Asks for the lock [`Self::lock_descriptor`] would take, answered
    /// later.
    pub(crate) fn request_descriptor_lock(
        &mut self,
        fd: &Resource<Descriptor>,
        mode: LockMode,
        timeout_ns: Option<u64>,
    ) -> wasmtime::Result<Resource<PendingLock>> {
        let pending = match lockable_file(self.table.get(fd)?) {
            Ok(file) => {
                let waiter = Arc::clone(file);
                let policy = self.ctx.wait;
                let patience = Patience::from_timeout(timeout_ns);
                let request = Request::waiting(async move {
                    wait::acquire(&waiter, mode, patience, policy).await
                });
                PendingLock::new(Some(Arc::clone(file)), request)
            }
            Err(err) => PendingLock::new(None, Request::answered(Err(err))),
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
