//! The waiting engine under attack and under races: what a guest, an
//! embedder and native processes can see of it, a module per defect class.
//!
//! - a wait on a FIFO nobody writes to ends at its timeout (and never stops
//!   an async executor);
//! - many timed-out waits on files that stay locked leave no threads and no
//!   open files behind, and never pile up threads while they run;
//! - a shared holder's second shared lock is not queued behind an exclusive
//!   waiter that waits for the holder;
//! - an uncollected request that only repeated a held mode leaves that lock
//!   alone;
//! - `max_held_locks` holds for requests when they complete;
//! - a wait cancelled as the lock is granted never leaves the lock held;
//! - the host holds no lock of its own: no second open file while a guest
//!   waits, and no lock between a native holder's releases that no guest
//!   asked for;
//! - extreme wait intervals from an embedder end in a typed error, not a
//!   panic.
//!
//! Every test is bounded: a guest runs on a thread of its own and its result
//! is awaited with a timeout (a hang is a failure, not a hung suite), and a
//! `portalocker run` child is killed when it overstays.

/// Declares a test of `$name(flavour)` under the sync linker (`sync`) and
/// under the async one (`async_`), with the attributes given.
macro_rules! under_both_linkers {
    ($(#[$attr:meta])* $name:ident) => {
        mod $name {
            #[test]
            $(#[$attr])*
            fn sync() {
                super::$name(portalocker_tests::Flavour::Sync);
            }

            #[test]
            $(#[$attr])*
            fn async_() {
                super::$name(portalocker_tests::Flavour::Async);
            }
        }
    };
}

mod cancel;
// FIFOs exist on Unix only.
#[cfg(unix)]
mod fifo;
mod intervals;
// What the process has open and runs, and which processors it runs on, as
// Linux tells (/proc, kcmp, sched_setaffinity).
#[cfg(target_os = "linux")]
mod open_files;
#[cfg(target_os = "linux")]
mod own_locks;
mod queue;
#[cfg(target_os = "linux")]
mod threads;

use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use portalocker_cli::command::Invocation;
use portalocker_tests::embed::State;
use portalocker_tests::{Flavour, GuestRun, Sandbox, component, eventually, runner_for};
use wasmtime::Store;
use wasmtime::component::Linker;
use wasmtime_wasi::p2::bindings::Command as AsyncCommand;

/// How long a guest may run before the test calls it hung.
const WATCHDOG: Duration = Duration::from_secs(10);

/// Runs `guest` as `invocation` says in the runner of `flavour`, on a thread
/// of its own; the run arrives on the receiver when it ends. A host that
/// panics drops the sender instead.
fn spawn_run(flavour: Flavour, guest: &str, invocation: Invocation) -> Receiver<GuestRun> {
    let component = component(guest);
    let guest = guest.to_owned();
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let outcome = runner_for(flavour)
            .run(&component, &invocation)
            .expect("run guest");
        let _ = send.send(GuestRun::new(&guest, outcome));
    });
    receive
}

/// The run on `receive`, within `limit`; fails the test if the guest is
/// still running then, or if the host panicked.
#[track_caller]
fn finished(receive: &Receiver<GuestRun>, limit: Duration, what: &str) -> GuestRun {
    match receive.recv_timeout(limit) {
        Ok(run) => run,
        Err(RecvTimeoutError::Timeout) => panic!("{what}: the guest still runs after {limit:?}"),
        Err(RecvTimeoutError::Disconnected) => panic!("{what}: the host panicked"),
    }
}

/// Waits until the guest in `sandbox` creates the checkpoint file `name`.
#[track_caller]
fn reached(sandbox: &Sandbox, name: &str) {
    assert!(
        eventually(Duration::from_secs(30), || sandbox.path(name).exists()),
        "the guest never reached `{name}`"
    );
}

/// The value of the line `key: VALUE` or `key=VALUE` the guest printed.
fn line_value(run: &GuestRun, key: &str) -> Option<String> {
    run.stdout().lines().find_map(|line| {
        line.strip_prefix(key)
            .and_then(|rest| rest.strip_prefix(": ").or_else(|| rest.strip_prefix('=')))
            .map(|value| value.trim().to_owned())
    })
}

/// Runs `guest` in `store` with the async `linker`; Ok(true) for a
/// successful exit.
async fn run_async(
    linker: &Linker<State>,
    store: &mut Store<State>,
    guest: &str,
) -> wasmtime::Result<bool> {
    let command = AsyncCommand::instantiate_async(&mut *store, &component(guest), linker).await?;
    Ok(command.wasi_cli_run().call_run(&mut *store).await?.is_ok())
}
