//! The blocking `Host` traits: the same lock logic as the async ones, driven
//! to completion on the calling thread.

use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

use wasmtime::component::Resource;
use wasmtime_wasi::filesystem::Descriptor;

use crate::atomic::AtomicFile;
use crate::bindings::portalocker::filelock::types::{
    Holder, LockMode, LockOptions, LockState, PidLockError,
};
use crate::bindings::sync::portalocker::filelock::{descriptor_lock, path_lock, pid_lock};
use crate::ctx::FileLockCtxView;
use crate::error::LockFailure;
use crate::path_lock::FileLock;
use crate::pid_lock::PidFileLock;
use crate::reentrant::ReentrantLock;
use crate::request::{Collected, PendingFileLock, PendingLock};
use crate::semaphore::SemaphoreSlot;
use crate::temporary::TemporaryLock;
use wasmtime_wasi_io::poll::DynPollable;

/// Drives `future` to its end on this thread, parking the thread while the
/// future waits. The wait futures need no executor of their own: their
/// wake-ups come from the wake module (a `Notify`) and from timers that run
/// on the ambient Tokio runtime's driver, and both wake this thread
/// directly. That keeps a hand-off to one thread wake-up.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(Thread);

    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }

    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
    }
}

impl descriptor_lock::Host for FileLockCtxView<'_> {
    fn lock(
        &mut self,
        file: Resource<Descriptor>,
        mode: LockMode,
        timeout: Option<u64>,
    ) -> Result<(), LockFailure> {
        block_on(self.lock_descriptor(&file, mode, timeout))
    }

    fn try_lock(&mut self, file: Resource<Descriptor>, mode: LockMode) -> Result<(), LockFailure> {
        self.try_lock_descriptor(&file, mode)
    }

    fn unlock(&mut self, file: Resource<Descriptor>) -> Result<(), LockFailure> {
        self.unlock_descriptor(&file)
    }

    fn request_lock(
        &mut self,
        file: Resource<Descriptor>,
        mode: LockMode,
        timeout: Option<u64>,
    ) -> wasmtime::Result<Resource<PendingLock>> {
        self.request_descriptor_lock(&file, mode, timeout)
    }
}

impl descriptor_lock::HostPendingLock for FileLockCtxView<'_> {
    fn subscribe(
        &mut self,
        request: Resource<PendingLock>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.subscribe_descriptor_request(request)
    }

    fn get(&mut self, request: Resource<PendingLock>) -> wasmtime::Result<Collected<()>> {
        self.collect_descriptor_request(&request)
    }

    fn drop(&mut self, request: Resource<PendingLock>) -> wasmtime::Result<()> {
        self.drop_descriptor_request(request)
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
        block_on(self.acquire_path(&dir, &path, options))
    }

    fn mode(&mut self, lock: Resource<FileLock>) -> wasmtime::Result<LockMode> {
        self.lock_mode(&lock)
    }

    fn is_held(&mut self, lock: Resource<FileLock>) -> wasmtime::Result<bool> {
        self.lock_is_held(&lock)
    }

    fn lock(
        &mut self,
        lock: Resource<FileLock>,
        mode: LockMode,
        timeout: Option<u64>,
    ) -> Result<(), LockFailure> {
        block_on(self.relock(&lock, mode, timeout))
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

    fn request(
        &mut self,
        dir: Resource<Descriptor>,
        path: String,
        options: LockOptions,
    ) -> wasmtime::Result<Resource<PendingFileLock>> {
        self.request_path(&dir, &path, options)
    }
}

impl path_lock::HostPendingFileLock for FileLockCtxView<'_> {
    fn subscribe(
        &mut self,
        request: Resource<PendingFileLock>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.subscribe_path_request(request)
    }

    fn get(
        &mut self,
        request: Resource<PendingFileLock>,
    ) -> wasmtime::Result<Collected<Resource<FileLock>>> {
        self.collect_path_request(&request)
    }

    fn drop(&mut self, request: Resource<PendingFileLock>) -> wasmtime::Result<()> {
        self.drop_path_request(request)
    }
}

impl crate::bindings::sync::portalocker::filelock::atomic_write::Host for FileLockCtxView<'_> {}

impl crate::bindings::sync::portalocker::filelock::atomic_write::HostAtomicFile
    for FileLockCtxView<'_>
{
    fn create(
        &mut self,
        dir: Resource<Descriptor>,
        path: String,
        replace: bool,
    ) -> Result<Resource<AtomicFile>, LockFailure> {
        self.create_atomic(&dir, &path, replace)
    }

    fn file(&mut self, atomic: Resource<AtomicFile>) -> Result<Resource<Descriptor>, LockFailure> {
        self.atomic_file(&atomic)
    }

    fn commit(&mut self, atomic: Resource<AtomicFile>) -> Result<(), LockFailure> {
        self.commit_atomic(&atomic)
    }

    fn drop(&mut self, atomic: Resource<AtomicFile>) -> wasmtime::Result<()> {
        self.drop_atomic(atomic)
    }
}

impl crate::bindings::sync::portalocker::filelock::path_lock::HostReentrantLock
    for FileLockCtxView<'_>
{
    fn open(
        &mut self,
        dir: Resource<Descriptor>,
        path: String,
        options: LockOptions,
    ) -> Result<Resource<ReentrantLock>, LockFailure> {
        self.open_reentrant(&dir, path, options)
    }

    fn acquire(&mut self, lock: Resource<ReentrantLock>) -> Result<(), LockFailure> {
        block_on(self.acquire_reentrant(&lock))
    }

    fn release(&mut self, lock: Resource<ReentrantLock>) -> Result<(), LockFailure> {
        self.release_reentrant(&lock)
    }

    fn count(&mut self, lock: Resource<ReentrantLock>) -> wasmtime::Result<u32> {
        self.reentrant_count(&lock)
    }

    fn drop(&mut self, lock: Resource<ReentrantLock>) -> wasmtime::Result<()> {
        self.drop_reentrant(lock)
    }
}

impl crate::bindings::sync::portalocker::filelock::path_lock::HostTemporaryLock
    for FileLockCtxView<'_>
{
    fn acquire(
        &mut self,
        dir: Resource<Descriptor>,
        path: String,
        options: LockOptions,
    ) -> Result<Resource<TemporaryLock>, LockFailure> {
        block_on(self.acquire_temporary(&dir, &path, options))
    }

    fn release(&mut self, lock: Resource<TemporaryLock>) -> Result<(), LockFailure> {
        self.release_temporary(&lock)
    }

    fn drop(&mut self, lock: Resource<TemporaryLock>) -> wasmtime::Result<()> {
        self.drop_temporary(lock)
    }
}

impl crate::bindings::sync::portalocker::filelock::path_lock::HostSemaphoreSlot
    for FileLockCtxView<'_>
{
    fn acquire(
        &mut self,
        dir: Resource<Descriptor>,
        name: String,
        slots: u32,
        options: LockOptions,
    ) -> Result<Resource<SemaphoreSlot>, LockFailure> {
        block_on(self.acquire_slot(&dir, &name, slots, options))
    }

    fn slot(&mut self, slot: Resource<SemaphoreSlot>) -> wasmtime::Result<u32> {
        self.slot_number(&slot)
    }

    fn release(&mut self, slot: Resource<SemaphoreSlot>) -> Result<(), LockFailure> {
        self.release_slot(&slot)
    }

    fn drop(&mut self, slot: Resource<SemaphoreSlot>) -> wasmtime::Result<()> {
        self.drop_slot(slot)
    }
}

impl pid_lock::Host for FileLockCtxView<'_> {}

impl pid_lock::HostPidFileLock for FileLockCtxView<'_> {
    fn acquire(
        &mut self,
        dir: Resource<Descriptor>,
        path: String,
        label: Option<String>,
        options: LockOptions,
    ) -> wasmtime::Result<Result<Resource<PidFileLock>, PidLockError>> {
        block_on(self.acquire_pid(&dir, &path, label, options))
    }

    fn state(&mut self, dir: Resource<Descriptor>, path: String) -> Result<LockState, LockFailure> {
        self.pid_state(&dir, &path)
    }

    fn holder(&mut self, lock: Resource<PidFileLock>) -> wasmtime::Result<Holder> {
        self.pid_holder(&lock)
    }

    fn release(&mut self, lock: Resource<PidFileLock>) -> Result<(), LockFailure> {
        self.release_pid(&lock)
    }

    fn drop(&mut self, lock: Resource<PidFileLock>) -> wasmtime::Result<()> {
        self.drop_pid(lock)
    }
}
