//! The async `Host` traits: thin wrappers over the shared lock logic.

use wasmtime::component::Resource;
use wasmtime_wasi::filesystem::Descriptor;

use crate::atomic::AtomicFile;
use crate::bindings::portalocker::filelock::types::{
    Holder, LockError, LockMode, LockOptions, LockState, PidLockError,
};
use crate::bindings::portalocker::filelock::{descriptor_lock, path_lock, pid_lock, types};
use crate::ctx::FileLockCtxView;
use crate::error::LockFailure;
use crate::path_lock::FileLock;
use crate::pid_lock::PidFileLock;
use crate::reentrant::ReentrantLock;
use crate::request::{Collected, PendingFileLock, PendingLock};
use crate::semaphore::SemaphoreSlot;
use crate::temporary::TemporaryLock;
use wasmtime_wasi_io::poll::DynPollable;

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

    async fn request_lock(
        &mut self,
        file: Resource<Descriptor>,
        mode: LockMode,
        timeout: Option<u64>,
    ) -> wasmtime::Result<Resource<PendingLock>> {
        self.request_descriptor_lock(&file, mode, timeout)
    }
}

impl descriptor_lock::HostPendingLock for FileLockCtxView<'_> {
    async fn subscribe(
        &mut self,
        request: Resource<PendingLock>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.subscribe_descriptor_request(request)
    }

    async fn get(&mut self, request: Resource<PendingLock>) -> wasmtime::Result<Collected<()>> {
        self.collect_descriptor_request(&request)
    }

    async fn drop(&mut self, request: Resource<PendingLock>) -> wasmtime::Result<()> {
        self.drop_descriptor_request(request)
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

    async fn lock(
        &mut self,
        lock: Resource<FileLock>,
        mode: LockMode,
        timeout: Option<u64>,
    ) -> Result<(), LockFailure> {
        self.relock(&lock, mode, timeout).await
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

    async fn request(
        &mut self,
        dir: Resource<Descriptor>,
        path: String,
        options: LockOptions,
    ) -> wasmtime::Result<Resource<PendingFileLock>> {
        self.request_path(&dir, &path, options)
    }
}

impl path_lock::HostPendingFileLock for FileLockCtxView<'_> {
    async fn subscribe(
        &mut self,
        request: Resource<PendingFileLock>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.subscribe_path_request(request)
    }

    async fn get(
        &mut self,
        request: Resource<PendingFileLock>,
    ) -> wasmtime::Result<Collected<Resource<FileLock>>> {
        self.collect_path_request(&request)
    }

    async fn drop(&mut self, request: Resource<PendingFileLock>) -> wasmtime::Result<()> {
        self.drop_path_request(request)
    }
}

impl crate::bindings::portalocker::filelock::atomic_write::Host for FileLockCtxView<'_> {}

impl crate::bindings::portalocker::filelock::atomic_write::HostAtomicFile for FileLockCtxView<'_> {
    async fn create(
        &mut self,
        dir: Resource<Descriptor>,
        path: String,
        replace: bool,
    ) -> Result<Resource<AtomicFile>, LockFailure> {
        self.create_atomic(&dir, &path, replace)
    }

    async fn file(
        &mut self,
        atomic: Resource<AtomicFile>,
    ) -> Result<Resource<Descriptor>, LockFailure> {
        self.atomic_file(&atomic)
    }

    async fn commit(&mut self, atomic: Resource<AtomicFile>) -> Result<(), LockFailure> {
        self.commit_atomic(&atomic)
    }

    async fn drop(&mut self, atomic: Resource<AtomicFile>) -> wasmtime::Result<()> {
        self.drop_atomic(atomic)
    }
}

impl crate::bindings::portalocker::filelock::path_lock::HostReentrantLock for FileLockCtxView<'_> {
    async fn open(
        &mut self,
        dir: Resource<Descriptor>,
        path: String,
        options: LockOptions,
    ) -> Result<Resource<ReentrantLock>, LockFailure> {
        self.open_reentrant(&dir, path, options)
    }

    async fn acquire(&mut self, lock: Resource<ReentrantLock>) -> Result<(), LockFailure> {
        self.acquire_reentrant(&lock).await
    }

    async fn release(&mut self, lock: Resource<ReentrantLock>) -> Result<(), LockFailure> {
        self.release_reentrant(&lock)
    }

    async fn count(&mut self, lock: Resource<ReentrantLock>) -> wasmtime::Result<u32> {
        self.reentrant_count(&lock)
    }

    async fn drop(&mut self, lock: Resource<ReentrantLock>) -> wasmtime::Result<()> {
        self.drop_reentrant(lock)
    }
}

impl crate::bindings::portalocker::filelock::path_lock::HostTemporaryLock for FileLockCtxView<'_> {
    async fn acquire(
        &mut self,
        dir: Resource<Descriptor>,
        path: String,
        options: LockOptions,
    ) -> Result<Resource<TemporaryLock>, LockFailure> {
        self.acquire_temporary(&dir, &path, options).await
    }

    async fn release(&mut self, lock: Resource<TemporaryLock>) -> Result<(), LockFailure> {
        self.release_temporary(&lock)
    }

    async fn drop(&mut self, lock: Resource<TemporaryLock>) -> wasmtime::Result<()> {
        self.drop_temporary(lock)
    }
}

impl crate::bindings::portalocker::filelock::path_lock::HostSemaphoreSlot for FileLockCtxView<'_> {
    async fn acquire(
        &mut self,
        dir: Resource<Descriptor>,
        name: String,
        slots: u32,
        options: LockOptions,
    ) -> Result<Resource<SemaphoreSlot>, LockFailure> {
        self.acquire_slot(&dir, &name, slots, options).await
    }

    async fn slot(&mut self, slot: Resource<SemaphoreSlot>) -> wasmtime::Result<u32> {
        self.slot_number(&slot)
    }

    async fn release(&mut self, slot: Resource<SemaphoreSlot>) -> Result<(), LockFailure> {
        self.release_slot(&slot)
    }

    async fn drop(&mut self, slot: Resource<SemaphoreSlot>) -> wasmtime::Result<()> {
        self.drop_slot(slot)
    }
}

impl pid_lock::Host for FileLockCtxView<'_> {}

impl pid_lock::HostPidFileLock for FileLockCtxView<'_> {
    async fn acquire(
        &mut self,
        dir: Resource<Descriptor>,
        path: String,
        label: Option<String>,
        options: LockOptions,
    ) -> wasmtime::Result<Result<Resource<PidFileLock>, PidLockError>> {
        self.acquire_pid(&dir, &path, label, options).await
    }

    async fn state(
        &mut self,
        dir: Resource<Descriptor>,
        path: String,
    ) -> Result<LockState, LockFailure> {
        self.pid_state(&dir, &path)
    }

    async fn holder(&mut self, lock: Resource<PidFileLock>) -> wasmtime::Result<Holder> {
        self.pid_holder(&lock)
    }

    async fn release(&mut self, lock: Resource<PidFileLock>) -> Result<(), LockFailure> {
        self.release_pid(&lock)
    }

    async fn drop(&mut self, lock: Resource<PidFileLock>) -> wasmtime::Result<()> {
        self.drop_pid(lock)
    }
}
