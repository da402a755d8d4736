//! A minimal embedding of `portalocker-host`: runs a `wasi:cli` command
//! component with a host directory preopened as `/`, WASI p2 and the
//! `portalocker:filelock` interfaces, and exits with the guest's code.
//!
//! ```text
//! cargo run --manifest-path examples/embed/Cargo.toml -- COMPONENT DIR [ARGS]...
//! ```

use std::process::ExitCode;

use portalocker_host::{FileLockCtx, FileLockCtxView, FileLockView, ResourceTable};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::bindings::sync::Command;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtx, WasiCtxView, WasiView};

/// The store's data: WASI, file locks, and the resource table they share.
struct State {
    wasi: WasiCtx,
    locks: FileLockCtx,
    table: ResourceTable,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl FileLockView for State {
    fn filelock(&mut self) -> FileLockCtxView<'_> {
        FileLockCtxView {
            ctx: &self.locks,
            table: &mut self.table,
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the component named on the command line; returns its exit code.
fn run() -> wasmtime::Result<i32> {
    let mut args = std::env::args().skip(1);
    let (Some(component), Some(dir)) = (args.next(), args.next()) else {
        wasmtime::bail!("usage: portalocker-embed-example COMPONENT DIR [ARGS]...");
    };
    let guest_args: Vec<String> = std::iter::once(component.clone()).chain(args).collect();

    let engine = Engine::default();
    let mut linker: Linker<State> = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    portalocker_host::add_to_linker_sync(&mut linker)?;

    let wasi = WasiCtx::builder()
        .args(&guest_args)
        .inherit_stdio()
        .preopened_dir(&dir, "/", FsPerms::ReadWrite)?
        .build();
    let locks = FileLockCtx::builder().max_held_locks(64).build();
    let state = State {
        wasi,
        locks,
        table: ResourceTable::new(),
    };
    let mut store = Store::new(&engine, state);
    let component = Component::from_file(&engine, &component)?;
    let command = Command::instantiate(&mut store, &component, &linker)?;
    match command.wasi_cli_run().call_run(&mut store) {
        Ok(Ok(())) => Ok(0),
        Ok(Err(())) => Ok(1),
        Err(err) => match err.downcast_ref::<I32Exit>() {
            Some(I32Exit(code)) => Ok(*code),
            None => Err(err),
        },
    }
}
