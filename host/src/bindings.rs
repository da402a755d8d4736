//! Host bindings generated from the WIT package in `wit/` (inside the crate).
//!
//! Two flavours are generated from the same WIT, as wasmtime-wasi does: the
//! top level is `async` (for [`crate::add_to_linker_async`]) and [`sync`] is
//! blocking (for [`crate::add_to_linker_sync`]). Both map the whole `wasi`
//! namespace to wasmtime-wasi's own bindings, so a guest's
//! `wasi:filesystem/types.descriptor` is wasmtime-wasi's
//! [`Descriptor`](wasmtime_wasi::filesystem::Descriptor) and our lock
//! resources live in the same [`ResourceTable`](wasmtime::component::ResourceTable).
//! Both flavours share one `types` and one `named-lock-types` interface, so
//! there is exactly one
//! [`LockError`](portalocker::filelock::types::LockError) and one
//! [`NamedLockError`](portalocker::filelock::named_lock_types::NamedLockError)
//! type. (Records
//! of other interfaces, `range-lock`'s `byte-range` and `conflict`, are
//! generated once per flavour: `with:` maps only interfaces and resources.
//! The sync module converts them.)

wasmtime::component::bindgen!({
    path: "wit",
    world: "portalocker:filelock/imports",
    imports: { default: async | trappable | tracing },
    with: {
        "wasi": wasmtime_wasi::p2::bindings,
        "portalocker:filelock/path-lock.file-lock": crate::path_lock::FileLock,
        "portalocker:filelock/atomic-write.atomic-file": crate::atomic_write::AtomicFile,
        "portalocker:filelock/path-lock.reentrant-lock": crate::path_lock::ReentrantLock,
        "portalocker:filelock/path-lock.temporary-lock": crate::path_lock::TemporaryLock,
        "portalocker:filelock/path-lock.semaphore-slot": crate::path_lock::SemaphoreSlot,
        "portalocker:filelock/pid-lock.pid-file-lock": crate::pid_lock::PidFileLock,
        "portalocker:filelock/path-lock.pending-file-lock": crate::path_lock::PendingFileLock,
        "portalocker:filelock/descriptor-lock.pending-lock": crate::descriptor_lock::PendingLock,
        "portalocker:filelock/named-lock.namespace": crate::named_lock::Namespace,
        "portalocker:filelock/named-lock.named-lock": crate::named_lock::NamedLock,
        "portalocker:filelock/named-lock.pending-named-lock": crate::named_lock::PendingNamedLock,
        "portalocker:filelock/range-lock.pending-range-lock": crate::range_lock::PendingRangeLock,
    },
    trappable_error_type: {
        "portalocker:filelock/types.lock-error" => crate::error::LockFailure,
        "portalocker:filelock/types.pid-lock-error" => crate::error::PidLockFailure,
        "portalocker:filelock/named-lock-types.named-lock-error" => crate::named_lock::NamedLockFailure,
    },
});

/// Blocking bindings for [`crate::add_to_linker_sync`].
pub mod sync {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "portalocker:filelock/imports",
        imports: { default: trappable | tracing },
        with: {
            "wasi": wasmtime_wasi::p2::bindings,
            "portalocker:filelock/types": super::portalocker::filelock::types,
            "portalocker:filelock/path-lock.file-lock": crate::path_lock::FileLock,
            "portalocker:filelock/atomic-write.atomic-file": crate::atomic_write::AtomicFile,
            "portalocker:filelock/path-lock.reentrant-lock": crate::path_lock::ReentrantLock,
            "portalocker:filelock/path-lock.temporary-lock": crate::path_lock::TemporaryLock,
            "portalocker:filelock/path-lock.semaphore-slot": crate::path_lock::SemaphoreSlot,
            "portalocker:filelock/pid-lock.pid-file-lock": crate::pid_lock::PidFileLock,
            "portalocker:filelock/path-lock.pending-file-lock": crate::path_lock::PendingFileLock,
            "portalocker:filelock/descriptor-lock.pending-lock": crate::descriptor_lock::PendingLock,
            "portalocker:filelock/named-lock-types": super::portalocker::filelock::named_lock_types,
            "portalocker:filelock/named-lock.namespace": crate::named_lock::Namespace,
            "portalocker:filelock/named-lock.named-lock": crate::named_lock::NamedLock,
            "portalocker:filelock/named-lock.pending-named-lock": crate::named_lock::PendingNamedLock,
            "portalocker:filelock/range-lock.pending-range-lock": crate::range_lock::PendingRangeLock,
        },
        trappable_error_type: {
            "portalocker:filelock/types.lock-error" => crate::error::LockFailure,
            "portalocker:filelock/types.pid-lock-error" => crate::error::PidLockFailure,
            "portalocker:filelock/named-lock-types.named-lock-error" => crate::named_lock::NamedLockFailure,
        },
        require_store_data_send: true,
    });
}
