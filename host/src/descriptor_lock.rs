//! The handle layer: locks on the open file behind a guest's
//! `wasi:filesystem` descriptor.

use std::fs::File;

use wasmtime::component::Resource;
use wasmtime_wasi::filesystem::Descriptor;

use crate::bindings::portalocker::filelock::types::{LockError, LockMode};
use crate::ctx::FileLockCtxView;
use crate::error::{LockFailure, file_error};
use crate::os_lock;
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
fn lockable_file(descriptor: &Descriptor) -> Result<&File, LockError> {
    let file = match descriptor {
        Descriptor::File(file) => &*file.file,
        Descriptor::Dir(_) => return Err(LockError::BadDescriptor),
    };
    let metadata = file.metadata().map_err(|err| file_error(&err))?;
    if !metadata.file_type().is_file() {
        return Err(LockError::NotLockable);
    }
    Ok(file)
}
