//! The blocking `Host` traits: the same lock logic as the async ones, driven
//! to completion on the calling thread.

use wasmtime::component::Resource;
use wasmtime_wasi::filesystem::Descriptor;

use crate::bindings::portalocker::filelock::types::{LockMode, LockOptions};
use crate::bindings::sync::portalocker::filelock::{descriptor_lock, path_lock};
use crate::ctx::FileLockCtxView;
use crate::error::LockFailure;
use crate::path_lock::FileLock;
use wasmtime_wasi::runtime::in_tokio;

impl descriptor_lock::Host for FileLockCtxView<'_> {
    fn lock(
        &mut self,
        file: Resource<Descriptor>,
        mode: LockMode,
        timeout: Option<u64>,
    ) -> Result<(), LockFailure> {
        in_tokio(self.lock_descriptor(&file, mode, timeout))
    }

    fn try_lock(&mut self, file: Resource<Descriptor>, mode: LockMode) -> Result<(), LockFailure> {
        self.try_lock_descriptor(&file, mode)
    }

    fn unlock(&mut self, file: Resource<Descriptor>) -> Result<(), LockFailure> {
        self.unlock_descriptor(&file)
    }
}

impl path_lock::Host for FileLockCtxView<'_> {}

impl path_lock::HostFileLock for FileLockCtxView<'_> {
    fn acquire(
        &mut self,
        dir: Resource<Descriptor>,
        path: String,
        options: LockOptions,
    ) -> Result<Resource<FileLock>, LockFailure> {
        in_tokio(self.acquire_path(&dir, &path, options))
    }

    fn mode(&mut self, lock: Resource<FileLock>) -> wasmtime::Result<LockMode> {
        self.lock_mode(&lock)
    }

    fn is_held(&mut self, lock: Resource<FileLock>) -> wasmtime::Result<bool> {
        self.lock_is_held(&lock)
    }

    fn file(&mut self, lock: Resource<FileLock>) -> Result<Resource<Descriptor>, LockFailure> {
        self.lock_file(&lock)
    }

    fn release(&mut self, lock: Resource<FileLock>) -> Result<(), LockFailure> {
        self.release_lock(&lock)
    }

    fn drop(&mut self, lock: Resource<FileLock>) -> wasmtime::Result<()> {
        self.drop_lock(lock)
    }
}
