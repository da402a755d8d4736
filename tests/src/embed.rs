//! A minimal embedding of the host for tests and benchmarks that need their
//! own stores: async or sync linkers, a store per guest, captured stdout.

use std::path::Path;

use portalocker_cli::command::CommandState;
use portalocker_host::FileLockCtx;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::bindings::Command as AsyncCommand;
use wasmtime_wasi::p2::bindings::sync::Command as SyncCommand;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx};

use crate::{Flavour, engine};

/// Store data: WASI, file locks and their shared table (the host's own).
pub type State = CommandState;

/// A linker with WASI p2 and file locks, async flavour.
pub fn async_linker() -> Linker<State> {
    async_linker_on(engine())
}

/// [`async_linker`] on an engine of the caller's (for example one with epoch
/// interruption, which the shared engine does not have).
pub fn async_linker_on(engine: &Engine) -> Linker<State> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).expect("add WASI");
    portalocker_host::add_to_linker_async(&mut linker).expect("add file locks");
    linker
}

/// A linker with WASI p2 and file locks, sync flavour.
pub fn sync_linker() -> Linker<State> {
    sync_linker_on(engine())
}

/// [`sync_linker`] on an engine of the caller's.
pub fn sync_linker_on(engine: &Engine) -> Linker<State> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).expect("add WASI");
    portalocker_host::add_to_linker_sync(&mut linker).expect("add file locks");
    linker
}

/// A store for a guest run with `args`, `root` preopened as `/`, and its
/// stdout captured.
pub fn store(root: &Path, args: &[&str]) -> (Store<State>, MemoryOutputPipe) {
    store_on(engine(), root, args)
}

/// [`store`] on an engine of the caller's.
pub fn store_on(engine: &Engine, root: &Path, args: &[&str]) -> (Store<State>, MemoryOutputPipe) {
    let stdout = MemoryOutputPipe::new(1 << 16);
    let wasi = WasiCtx::builder()
        .args(&[&["guest"], args].concat())
        .preopened_dir(root, "/", FsPerms::ReadWrite)
        .expect("preopen")
        .stdout(stdout.clone())
        .build();
    let state = State::new(wasi, FileLockCtx::default());
    (Store::new(engine, state), stdout)
}

/// A linker of `flavour` on `engine`.
pub fn linker_on(engine: &Engine, flavour: Flavour) -> Linker<State> {
    match flavour {
        Flavour::Sync => sync_linker_on(engine),
        Flavour::Async => async_linker_on(engine),
    }
}

/// Instantiates `component` in `store` with `linker` (of `flavour`) and runs
/// it to its end: on the calling thread (sync), or on a single-threaded Tokio
/// runtime of its own (async). The store lives on: its locks stay with it.
pub fn call_run(
    flavour: Flavour,
    linker: &Linker<State>,
    store: &mut Store<State>,
    component: &Component,
) -> wasmtime::Result<Result<(), ()>> {
    match flavour {
        Flavour::Sync => SyncCommand::instantiate(&mut *store, component, linker)?
            .wasi_cli_run()
            .call_run(store),
        Flavour::Async => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(async {
                AsyncCommand::instantiate_async(&mut *store, component, linker)
                    .await?
                    .wasi_cli_run()
                    .call_run(&mut *store)
                    .await
            }),
    }
}
