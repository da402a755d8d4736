//! The blocking flavour of every interface, for [`crate::add_to_linker_sync`]:
//! each function drives the async implementation of the same name (in the
//! interface's own module) to completion on the calling thread, as
//! wasmtime-wasi's `p2/host/filesystem/sync.rs` does.

use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

use wasmtime::component::Resource;
use wasmtime_wasi::filesystem::Descriptor;
use wasmtime_wasi_io::poll::DynPollable;

use crate::atomic_write::AtomicFile;
use crate::bindings::portalocker::filelock as asynchronous;
use crate::bindings::portalocker::filelock::range_lock::{ByteRange, Conflict};
use crate::bindings::portalocker::filelock::types::{Holder, LockMode, LockOptions, LockState};
use crate::bindings::sync::portalocker::filelock as blocking;
use crate::ctx::FileLockCtxView;
use crate::descriptor_lock::PendingLock;
use crate::error::{LockFailure, PidLockFailure};
use crate::named_lock::{NamedLock, NamedLockError, NamedLockFailure, Namespace, PendingNamedLock};
use crate::path_lock::{FileLock, PendingFileLock, ReentrantLock, SemaphoreSlot, TemporaryLock};
use crate::pid_lock::PidFileLock;
use crate::range_lock::PendingRangeLock;
use crate::request::Collected;
use crate::wait;

/// Drives `future` to its end on this thread. A wait at the front of its
/// line blocks the thread in the kernel itself (one wake-up from release to
/// guest); otherwise the thread parks while the future waits: the wait
/// futures need no executor of their own, their wake-ups come from the wait
/// engine (a `Notify`) and from timers on the ambient Tokio runtime's
/// driver, and both wake this thread directly.
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

    let mut future = pin!(future);
    // Most calls never wait: a first poll without a waker of our own spares
    // them its allocation. A future that is not ready registers the real
    // waker on the next poll, and looks at its state again then, so no
    // wake-up is lost.
    let first = wait::blocking_this_thread(|| {
        future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
    });
    if let Poll::Ready(output) = first {
        return output;
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    // A wait at the front of its line blocks this very thread in the
    // kernel, instead of parking it and having a worker block.
    wait::blocking_this_thread(|| {
        loop {
            match future.as_mut().poll(&mut cx) {
                Poll::Ready(output) => return output,
                Poll::Pending => std::thread::park(),
            }
        }
    })
}

/// Implements each blocking trait by driving the async trait's function of
/// the same name with [`block_on`]. An argument or a result whose type the
/// two flavours generate separately (a record of an interface other than
/// `types`) names its conversion after `=>`.
macro_rules! drive {
    ($(impl $blocking:path => $asynchronous:path {
        $(fn $name:ident($($arg:ident: $ty:ty $(=> $into:path)?),*) -> $ret:ty $(=> $back:path)?;)*
    })*) => {$(
        impl $blocking for FileLockCtxView<'_> {
            $(fn $name(&mut self, $($arg: $ty),*) -> $ret {
                convert!(block_on(<Self as $asynchronous>::$name(self, $(convert!($arg $(, $into)?)),*)) $(, $back)?)
            })*
        }
    )*};
}

/// `$value`, or `$convert($value)`.
macro_rules! convert {
    ($value:expr) => {
        $value
    };
    ($value:expr, $convert:path) => {
        $convert($value)
    };
}

/// The async flavour's `byte-range` of the sync flavour's.
fn byte_range(range: blocking::range_lock::ByteRange) -> ByteRange {
    ByteRange {
        start: range.start,
        length: range.length,
    }
}

/// The sync flavour's `conflict` (and its `byte-range`) of the async
/// flavour's, in `test`'s result.
fn conflict(
    tested: Result<Option<Conflict>, LockFailure>,
) -> Result<Option<blocking::range_lock::Conflict>, LockFailure> {
    Ok(tested?.map(|conflict| blocking::range_lock::Conflict {
        mode: conflict.mode,
        range: blocking::range_lock::ByteRange {
            start: conflict.range.start,
            length: conflict.range.length,
        },
        pid: conflict.pid,
    }))
}

drive! {
    impl blocking::descriptor_lock::Host => asynchronous::descriptor_lock::Host {
        fn lock(file: Resource<Descriptor>, mode: LockMode, timeout: Option<u64>) -> Result<(), LockFailure>;
        fn try_lock(file: Resource<Descriptor>, mode: LockMode) -> Result<(), LockFailure>;
        fn unlock(file: Resource<Descriptor>) -> Result<(), LockFailure>;
        fn request_lock(file: Resource<Descriptor>, mode: LockMode, timeout: Option<u64>) -> wasmtime::Result<Resource<PendingLock>>;
    }
    impl blocking::descriptor_lock::HostPendingLock => asynchronous::descriptor_lock::HostPendingLock {
        fn subscribe(request: Resource<PendingLock>) -> wasmtime::Result<Resource<DynPollable>>;
        fn get(request: Resource<PendingLock>) -> wasmtime::Result<Collected<()>>;
        fn drop(request: Resource<PendingLock>) -> wasmtime::Result<()>;
    }
    impl blocking::path_lock::Host => asynchronous::path_lock::Host {}
    impl blocking::path_lock::HostFileLock => asynchronous::path_lock::HostFileLock {
        fn acquire(dir: Resource<Descriptor>, path: String, options: LockOptions) -> Result<Resource<FileLock>, LockFailure>;
        fn request(dir: Resource<Descriptor>, path: String, options: LockOptions) -> wasmtime::Result<Resource<PendingFileLock>>;
        fn mode(lock: Resource<FileLock>) -> wasmtime::Result<LockMode>;
        fn is_held(lock: Resource<FileLock>) -> wasmtime::Result<bool>;
        fn lock(lock: Resource<FileLock>, mode: LockMode, timeout: Option<u64>) -> Result<(), LockFailure>;
        fn file(lock: Resource<FileLock>) -> Result<Resource<Descriptor>, LockFailure>;
        fn release(lock: Resource<FileLock>) -> Result<(), LockFailure>;
        fn drop(lock: Resource<FileLock>) -> wasmtime::Result<()>;
    }
    impl blocking::path_lock::HostPendingFileLock => asynchronous::path_lock::HostPendingFileLock {
        fn subscribe(request: Resource<PendingFileLock>) -> wasmtime::Result<Resource<DynPollable>>;
        fn get(request: Resource<PendingFileLock>) -> wasmtime::Result<Collected<Resource<FileLock>>>;
        fn drop(request: Resource<PendingFileLock>) -> wasmtime::Result<()>;
    }
    impl blocking::path_lock::HostReentrantLock => asynchronous::path_lock::HostReentrantLock {
        fn open(dir: Resource<Descriptor>, path: String, options: LockOptions) -> Result<Resource<ReentrantLock>, LockFailure>;
        fn acquire(lock: Resource<ReentrantLock>) -> Result<(), LockFailure>;
        fn release(lock: Resource<ReentrantLock>) -> Result<(), LockFailure>;
        fn count(lock: Resource<ReentrantLock>) -> wasmtime::Result<u32>;
        fn drop(lock: Resource<ReentrantLock>) -> wasmtime::Result<()>;
    }
    impl blocking::path_lock::HostTemporaryLock => asynchronous::path_lock::HostTemporaryLock {
        fn acquire(dir: Resource<Descriptor>, path: String, options: LockOptions) -> Result<Resource<TemporaryLock>, LockFailure>;
        fn release(lock: Resource<TemporaryLock>) -> Result<(), LockFailure>;
        fn drop(lock: Resource<TemporaryLock>) -> wasmtime::Result<()>;
    }
    impl blocking::path_lock::HostSemaphoreSlot => asynchronous::path_lock::HostSemaphoreSlot {
        fn acquire(dir: Resource<Descriptor>, name: String, slots: u32, options: LockOptions) -> Result<Resource<SemaphoreSlot>, LockFailure>;
        fn acquire_with_pattern(dir: Resource<Descriptor>, name: String, pattern: String, slots: u32, options: LockOptions) -> Result<Resource<SemaphoreSlot>, LockFailure>;
        fn slot(slot: Resource<SemaphoreSlot>) -> wasmtime::Result<u32>;
        fn release(slot: Resource<SemaphoreSlot>) -> Result<(), LockFailure>;
        fn drop(slot: Resource<SemaphoreSlot>) -> wasmtime::Result<()>;
    }
    impl blocking::pid_lock::Host => asynchronous::pid_lock::Host {}
    impl blocking::pid_lock::HostPidFileLock => asynchronous::pid_lock::HostPidFileLock {
        fn acquire(dir: Resource<Descriptor>, path: String, label: Option<String>, options: LockOptions) -> Result<Resource<PidFileLock>, PidLockFailure>;
        fn state(dir: Resource<Descriptor>, path: String) -> Result<LockState, LockFailure>;
        fn holder(lock: Resource<PidFileLock>) -> wasmtime::Result<Holder>;
        fn release(lock: Resource<PidFileLock>) -> Result<(), LockFailure>;
        fn drop(lock: Resource<PidFileLock>) -> wasmtime::Result<()>;
    }
    impl blocking::range_lock::Host => asynchronous::range_lock::Host {
        fn lock(file: Resource<Descriptor>, range: blocking::range_lock::ByteRange => byte_range, mode: LockMode, timeout: Option<u64>) -> Result<(), LockFailure>;
        fn try_lock(file: Resource<Descriptor>, range: blocking::range_lock::ByteRange => byte_range, mode: LockMode) -> Result<(), LockFailure>;
        fn unlock(file: Resource<Descriptor>, range: blocking::range_lock::ByteRange => byte_range) -> Result<(), LockFailure>;
        fn test(file: Resource<Descriptor>, range: blocking::range_lock::ByteRange => byte_range, mode: LockMode) -> Result<Option<blocking::range_lock::Conflict>, LockFailure> => conflict;
        fn request_lock(file: Resource<Descriptor>, range: blocking::range_lock::ByteRange => byte_range, mode: LockMode, timeout: Option<u64>) -> wasmtime::Result<Resource<PendingRangeLock>>;
    }
    impl blocking::range_lock::HostPendingRangeLock => asynchronous::range_lock::HostPendingRangeLock {
        fn subscribe(request: Resource<PendingRangeLock>) -> wasmtime::Result<Resource<DynPollable>>;
        fn get(request: Resource<PendingRangeLock>) -> wasmtime::Result<Collected<()>>;
        fn drop(request: Resource<PendingRangeLock>) -> wasmtime::Result<()>;
    }
    impl blocking::atomic_write::Host => asynchronous::atomic_write::Host {}
    impl blocking::atomic_write::HostAtomicFile => asynchronous::atomic_write::HostAtomicFile {
        fn create(dir: Resource<Descriptor>, path: String, replace: bool) -> Result<Resource<AtomicFile>, LockFailure>;
        fn file(atomic: Resource<AtomicFile>) -> Result<Resource<Descriptor>, LockFailure>;
        fn commit(atomic: Resource<AtomicFile>) -> Result<(), LockFailure>;
        fn drop(atomic: Resource<AtomicFile>) -> wasmtime::Result<()>;
    }
    impl blocking::named_lock::Host => asynchronous::named_lock::Host {
        fn granted_namespaces() -> wasmtime::Result<Vec<String>>;
    }
    impl blocking::named_lock::HostNamespace => asynchronous::named_lock::HostNamespace {
        fn open(name: String) -> Result<Resource<Namespace>, NamedLockFailure>;
        fn name(namespace: Resource<Namespace>) -> wasmtime::Result<String>;
        fn acquire(namespace: Resource<Namespace>, name: String, mode: LockMode, timeout: Option<u64>) -> Result<Resource<NamedLock>, NamedLockFailure>;
        fn request(namespace: Resource<Namespace>, name: String, mode: LockMode, timeout: Option<u64>) -> wasmtime::Result<Resource<PendingNamedLock>>;
        fn drop(namespace: Resource<Namespace>) -> wasmtime::Result<()>;
    }
    impl blocking::named_lock::HostNamedLock => asynchronous::named_lock::HostNamedLock {
        fn name(lock: Resource<NamedLock>) -> wasmtime::Result<String>;
        fn mode(lock: Resource<NamedLock>) -> wasmtime::Result<LockMode>;
        fn fencing_token(lock: Resource<NamedLock>) -> wasmtime::Result<Option<u64>>;
        fn is_held(lock: Resource<NamedLock>) -> wasmtime::Result<bool>;
        fn subscribe_lost(lock: Resource<NamedLock>) -> wasmtime::Result<Resource<DynPollable>>;
        fn release(lock: Resource<NamedLock>) -> Result<(), NamedLockFailure>;
        fn drop(lock: Resource<NamedLock>) -> wasmtime::Result<()>;
    }
    impl blocking::named_lock::HostPendingNamedLock => asynchronous::named_lock::HostPendingNamedLock {
        fn subscribe(request: Resource<PendingNamedLock>) -> wasmtime::Result<Resource<DynPollable>>;
        fn get(request: Resource<PendingNamedLock>) -> wasmtime::Result<Collected<Resource<NamedLock>, NamedLockError>>;
        fn drop(request: Resource<PendingNamedLock>) -> wasmtime::Result<()>;
    }
}
