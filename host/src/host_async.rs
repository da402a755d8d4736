//! The async `Host` traits: thin wrappers over the shared lock logic.

use wasmtime::component::Resource;
use wasmtime_wasi::filesystem::Descriptor;

use crate::bindings::portalocker::filelock::types::{LockError, LockMode, LockOptions};
use crate::bindings::portalocker::filelock::{descriptor_lock, path_lock, types};
use crate::ctx::FileLockCtxView;
use crate::error::LockFailure;
use crate::path_lock::FileLock;

impl types::Host for FileLockCtxView<'_> {
    fn convert_lock_error(&mut self, err: LockFailure) -> wasmtime::Result<LockError> {
        err.into_guest_error()
    }
}

impl descriptor_lock::Host for FileLockCtxView<'_> {
    async fn lock(
        &mut self,
        file: Resource<Descriptor>,
        mode: LockMode,
        timeout: Option<u64>,
    ) -> Result<(), LockFailure> {
        self.lock_descriptor(&file, mode, timeout).await
    }

    async fn try_lock(
        &mut self,
        file: Resource<Descriptor>,
        mode: LockMode,
    ) -> Result<(), LockFailure> {
        self.try_lock_descriptor(&file, mode)
    }

    async fn unlock(&mut self, file: Resource<Descriptor>) -> Result<(), LockFailure> {
        self.unlock_descriptor(&file)
    }
}

impl path_lock::Host for FileLockCtxView<'_> {}

impl path_lock::HostFileLock for FileLockCtxView<'_> {
    async fn acquire(
        &mut self,
        dir: Resource<Descriptor>,
        path: String,
        options: LockOptions,
    ) -> Result<Resource<FileLock>, LockFailure> {
        self.acquire_path(&dir, &path, options).await
    }

    async fn mode(&mut self, lock: Resource<FileLock>) -> wasmtime::Result<LockMode> {
        self.lock_mode(&lock)
    }

    async fn is_held(&mut self, lock: Resource<FileLock>) -> wasmtime::Result<bool> {
        self.lock_is_held(&lock)
    }

    async fn file(
        &mut self,
        lock: Resource<FileLock>,
    ) -> Result<Resource<Descriptor>, LockFailure> {
        self.lock_file(&lock)
    }

    async fn release(&mut self, lock: Resource<FileLock>) -> Result<(), LockFailure> {
        self.release_lock(&lock)
    }

    async fn drop(&mut self, lock: Resource<FileLock>) -> wasmtime::Result<()> {
        self.drop_lock(lock)
    }
}
