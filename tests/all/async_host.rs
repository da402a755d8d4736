//! The async linker: a waiting guest never blocks the executor, a cancelled
//! wait leaves no lock behind, and a store's locks die with it.

use std::pin::pin;
use std::time::Duration;

use portalocker_tests::embed::{self, State, async_linker};
use portalocker_tests::native::{self, Holder, Mode};
use portalocker_tests::{Sandbox, component, guests};
use wasmtime::Store;
use wasmtime::component::Linker;
use wasmtime_wasi::p2::bindings::Command;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

fn linker() -> Linker<State> {
    async_linker()
}

fn store(sandbox: &Sandbox, args: &[&str]) -> (Store<State>, MemoryOutputPipe) {
    embed::store(sandbox.root(), args)
}

/// Runs `guest` with `args` in `store`; Ok(true) for a successful exit.
async fn run(
    linker: &Linker<State>,
    store: &mut Store<State>,
    guest: &str,
) -> wasmtime::Result<bool> {
    let command = Command::instantiate_async(&mut *store, &component(guest), linker).await?;
    Ok(command.wasi_cli_run().call_run(&mut *store).await?.is_ok())
}

fn single_threaded() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn waiting_guest_does_not_stop_others_and_cancelling_leaves_no_lock() {
    let sandbox = Sandbox::new();
    let path = sandbox.path("x.lock");
    let mut holder = Holder::lock(&path, Mode::Exclusive);
    let linker = linker();
    single_threaded().block_on(async {
        let (mut waiting_store, _) = store(&sandbox, &["x.lock", "exclusive", "0"]);
        let mut waiting = pin!(run(&linker, &mut waiting_store, guests::HOLD));
        let (mut other_store, _) = store(&sandbox, &["count.txt", "20"]);
        tokio::select! {
            _ = &mut waiting => panic!("the waiting guest finished while the lock was held"),
            done = run(&linker, &mut other_store, guests::COUNTER) => {
                assert!(done.unwrap(), "the other guest failed");
            }
        }
        assert_eq!(
            std::fs::read_to_string(sandbox.path("count.txt")).unwrap(),
            "20"
        );
        // Cancel the waiting call: drop its future and then its store.
    });
    holder.release();
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        native::can_lock(&path, Mode::Exclusive) && native::flock_n(&path),
        "a cancelled wait took the lock"
    );
}

#[test]
fn timed_out_future_never_takes_the_lock_later() {
    let sandbox = Sandbox::new();
    let path = sandbox.path("x.lock");
    let mut holder = Holder::lock(&path, Mode::Exclusive);
    let linker = linker();
    let runtime = single_threaded();
    let (mut waiting_store, _) = store(&sandbox, &["x.lock", "exclusive", "60000"]);
    runtime.block_on(async {
        let call = run(&linker, &mut waiting_store, guests::HOLD);
        let cancelled = tokio::time::timeout(Duration::from_millis(200), call).await;
        assert!(cancelled.is_err(), "the guest should still be waiting");
    });
    // The store is still alive; the embedder dropped only the call.
    holder.release();
    runtime.block_on(async { tokio::time::sleep(Duration::from_millis(100)).await });
    assert!(
        native::can_lock(&path, Mode::Exclusive),
        "a cancelled wait took the lock"
    );
    drop(waiting_store);
}

#[test]
fn trapped_guest_keeps_its_lock_until_the_store_is_dropped() {
    let sandbox = Sandbox::new();
    let path = sandbox.path("x.lock");
    let linker = linker();
    let (mut store, stdout) = store(&sandbox, &["x.lock"]);
    let result =
        single_threaded().block_on(run(&linker, &mut store, guests::FILELOCK_PANIC_HOLDING));
    assert!(result.is_err(), "the guest should trap");
    assert!(String::from_utf8_lossy(&stdout.contents()).contains("locked"));
    assert!(!native::flock_n(&path), "the lock was not real");
    drop(store);
    assert!(
        native::flock_n(&path),
        "dropping the store did not release the lock"
    );
}

/// Four guests on one single-threaded executor, each waiting through
/// requests: every one gets its turns, none starves the others.
#[test]
fn requesting_guests_share_one_single_threaded_executor() {
    const GUESTS: usize = 4;
    const ROUNDS: u64 = 25;
    let sandbox = Sandbox::new();
    let path = sandbox.path("count.txt");
    // Every guest starts out waiting: this process holds the lock first.
    let mut holder = Holder::lock(&path, Mode::Exclusive);
    let linker = linker();
    single_threaded().block_on(async {
        let mut guests = tokio::task::JoinSet::new();
        for _ in 0..GUESTS {
            let (mut store, stdout) = store(&sandbox, &["count.txt", &ROUNDS.to_string()]);
            let linker = linker.clone();
            guests.spawn(async move {
                let done = run(&linker, &mut store, guests::FILELOCK_REQUEST_COUNTER).await;
                (done.unwrap(), stdout)
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        holder.release();
        while let Some(joined) = guests.join_next().await {
            let (ok, stdout) = joined.unwrap();
            assert!(ok, "{}", String::from_utf8_lossy(&stdout.contents()));
        }
    });
    let total: u64 = std::fs::read_to_string(&path)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(total, GUESTS as u64 * ROUNDS);
}
