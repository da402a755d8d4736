//! Advisory file locks for WebAssembly components: a wasmtime host for the
//! `portalocker:filelock` WIT package (portalocker for WASI).
//!
//! Guests lock files they reach through their `wasi:filesystem` preopens,
//! either on a descriptor they opened (the handle layer, `descriptor-lock`) or
//! by path (the path layer, `path-lock`). The locks are real operating-system
//! locks on the open file (`flock(2)` on Unix, `LockFileEx` on Windows), so a
//! guest's lock excludes other guests of the same host, guests of other hosts
//! and native processes alike.
//!
//! On top of the two layers the WIT carries the rest of portalocker's
//! toolbox, each implemented once here: reentrant locks (`reentrant-lock`),
//! temporary lock files (`temporary-lock`), bounded semaphores
//! (`semaphore-slot`), PID-file locks that publish their holder
//! (`pid-lock`, with the instance identity from
//! [`FileLockCtxBuilder::instance_identity`]), atomic writes (`atomic-write`)
//! and pollable lock requests.
//!
//! Beyond one machine, the `named-lock` interface gives guests locks on
//! names in namespaces the host grants ([`LockNamespace`]: a directory of
//! lock files, Redis with the cargo feature `redis`, or PostgreSQL with the
//! feature `postgres`), with fencing tokens and a pollable that tells when a
//! lock is lost; see the [`named_lock`] module.
//!
//! Byte-range locks (`range-lock`) are POSIX record locks on part of a file,
//! per open file (Linux's open-file-description locks), which the `fcntl`
//! locks of native programs such as SQLite see: with them a guest can share
//! a database with native `sqlite3`.
//!
//! # Embedding
//!
//! Keep a [`FileLockCtx`] in your store data beside wasmtime-wasi's
//! `WasiCtx`, implement [`FileLockView`] to hand out a view of it with the
//! shared [`ResourceTable`], and add the interfaces to your linker after
//! wasmtime-wasi's:
//!
//! ```
//! use portalocker_host::{FileLockCtx, FileLockCtxView, FileLockView};
//! use wasmtime::component::{Component, Linker, ResourceTable};
//! use wasmtime::{Engine, Store};
//! use wasmtime_wasi::p2::bindings::sync::Command;
//! use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};
//!
//! struct State {
//!     wasi: WasiCtx,
//!     locks: FileLockCtx,
//!     table: ResourceTable,
//! }
//!
//! impl WasiView for State {
//!     fn ctx(&mut self) -> WasiCtxView<'_> {
//!         WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
//!     }
//! }
//!
//! impl FileLockView for State {
//!     fn filelock(&mut self) -> FileLockCtxView<'_> {
//!         FileLockCtxView { ctx: &self.locks, table: &mut self.table }
//!     }
//! }
//!
//! fn main() -> wasmtime::Result<()> {
//!     let engine = Engine::default();
//!     let mut linker: Linker<State> = Linker::new(&engine);
//!     wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
//!     portalocker_host::add_to_linker_sync(&mut linker)?;
//!
//!     // A guest that locks `/x.lock` in a temporary directory for 10 ms (the
//!     // `hold` example guest of this repository).
//!     let dir = tempfile::tempdir()?;
//!     let wasi = WasiCtx::builder()
//!         .args(&["hold", "x.lock", "exclusive", "10"])
//!         .preopened_dir(dir.path(), "/", FsPerms::ReadWrite)?
//!         .build();
//!     let state = State { wasi, locks: FileLockCtx::default(), table: ResourceTable::new() };
//!     let mut store = Store::new(&engine, state);
//!     let component = Component::new(&engine, portalocker_artifacts::examples::HOLD)?;
//!     let command = Command::instantiate(&mut store, &component, &linker)?;
//!     let exit = command.wasi_cli_run().call_run(&mut store)?;
//!     assert!(exit.is_ok());
//!     Ok(())
//! }
//! ```
//!
//! For an async embedding use `wasmtime_wasi::p2::add_to_linker_async` and
//! [`add_to_linker_async`]: a guest waiting for a lock then never blocks the
//! executor, and dropping the call's future (or the store) cancels the wait.
//!
//! # What "released" means
//!
//! A lock is released by an explicit unlock or release, when its `file-lock`
//! resource is dropped, and when the open file is closed: when the guest drops
//! the last descriptor of it, when the store is dropped (also after a trap),
//! or when the process ends. Streams from `read-via-stream` and friends keep
//! the open file alive; a handle-layer lock lives until they are gone too.
//!
//! # Waiting
//!
//! See the [`wait`] module for how a waiting guest is served without blocking
//! the host, how timeouts are honoured, and why a cancelled wait never takes
//! the lock later.

//! # Layout
//!
//! One module per WIT interface, holding its resources and its async `Host`
//! implementation under the WIT names: [`descriptor_lock`] (with
//! `pending-lock`), [`path_lock`] (a module per resource), [`pid_lock`],
//! [`atomic_write`], [`range_lock`] (with `pending-range-lock`),
//! [`named_lock`] (with `named-lock-types`, and the lock services it waits
//! on), and the error mapping of `types`. The private `sync` module drives those same
//! functions for the blocking linker. Beneath them: the wait engine
//! ([`wait`]), the lock-backend seam it is generic over (`backend`,
//! implemented for whole files and for byte ranges), the host policy, and
//! `sys`, the only place that knows the operating system.

#![deny(missing_docs)]

pub mod atomic_write;
mod backend;
mod bindings;
mod ctx;
pub mod descriptor_lock;
mod error;
#[cfg(test)]
mod fuzz;
pub mod named_lock;
mod open;
pub mod path_lock;
pub mod pid_lock;
mod policy;
pub mod range_lock;
mod request;
mod sync;
mod sys;
mod temporary_name;
mod types;
pub mod wait;

use wasmtime::component::Linker;

pub use crate::atomic_write::AtomicFile;
pub use crate::bindings::portalocker::filelock::range_lock::{ByteRange, Conflict};
pub use crate::bindings::portalocker::filelock::types::{
    Holder, Limit, LockError, LockMode, LockOptions, LockState, PidLockError,
};
pub use crate::ctx::{FileLockCtx, FileLockCtxBuilder, FileLockCtxView, FileLockView};
pub use crate::descriptor_lock::PendingLock;
pub use crate::error::{LockFailure, PidLockFailure};
pub use crate::named_lock::{
    LockNamespace, NamedLock, NamedLockError, NamedLockFailure, Namespace, NamespaceError,
    PendingNamedLock,
};
pub use crate::path_lock::{
    FileLock, PendingFileLock, ReentrantLock, SemaphoreSlot, TemporaryLock,
};
pub use crate::pid_lock::PidFileLock;
pub use crate::policy::LockPolicy;
pub use crate::range_lock::PendingRangeLock;
pub use wasmtime::component::ResourceTable;

use crate::bindings::portalocker::filelock as async_bindings;
use crate::bindings::sync::portalocker::filelock as sync_bindings;
use crate::ctx::HasFileLock;

/// Adds the `portalocker:filelock` interfaces to an async linker.
///
/// Use it with wasmtime-wasi's `add_to_linker_async` and `call_async`. A
/// waiting guest yields its executor between lock attempts; dropping the
/// call's future or the store cancels the wait, and the lock is never taken
/// afterwards.
///
/// # Errors
///
/// Fails if the linker already defines these interfaces.
pub fn add_to_linker_async<T: FileLockView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    async_bindings::types::add_to_linker::<T, HasFileLock>(linker, T::filelock)?;
    async_bindings::descriptor_lock::add_to_linker::<T, HasFileLock>(linker, T::filelock)?;
    async_bindings::path_lock::add_to_linker::<T, HasFileLock>(linker, T::filelock)?;
    async_bindings::pid_lock::add_to_linker::<T, HasFileLock>(linker, T::filelock)?;
    async_bindings::atomic_write::add_to_linker::<T, HasFileLock>(linker, T::filelock)?;
    async_bindings::named_lock_types::add_to_linker::<T, HasFileLock>(linker, T::filelock)?;
    async_bindings::named_lock::add_to_linker::<T, HasFileLock>(linker, T::filelock)?;
    async_bindings::range_lock::add_to_linker::<T, HasFileLock>(linker, T::filelock)?;
    Ok(())
}

/// Adds the `portalocker:filelock` interfaces to a synchronous linker.
///
/// Use it with wasmtime-wasi's `add_to_linker_sync`. A waiting guest blocks
/// only its own store's thread, between lock attempts, and still honours its
/// timeout.
///
/// # Errors
///
/// Fails if the linker already defines these interfaces.
pub fn add_to_linker_sync<T: FileLockView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    async_bindings::types::add_to_linker::<T, HasFileLock>(linker, T::filelock)?;
    sync_bindings::descriptor_lock::add_to_linker::<T, HasFileLock>(linker, T::filelock)?;
    sync_bindings::path_lock::add_to_linker::<T, HasFileLock>(linker, T::filelock)?;
    sync_bindings::pid_lock::add_to_linker::<T, HasFileLock>(linker, T::filelock)?;
    sync_bindings::atomic_write::add_to_linker::<T, HasFileLock>(linker, T::filelock)?;
    async_bindings::named_lock_types::add_to_linker::<T, HasFileLock>(linker, T::filelock)?;
    sync_bindings::named_lock::add_to_linker::<T, HasFileLock>(linker, T::filelock)?;
    sync_bindings::range_lock::add_to_linker::<T, HasFileLock>(linker, T::filelock)?;
    Ok(())
}
