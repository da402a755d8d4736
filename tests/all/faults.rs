//! Faults: a guest that traps, spins, exits or is cancelled while it holds or
//! waits for a lock, and a host process killed outright. In every case the
//! lock goes with whatever owned it (the store, the process), at once, and a
//! wait that was cut short never takes the lock later.
//!
//! About epoch deadlines: wasmtime checks the epoch only while wasm code runs
//! (at function entries and loop headers). A guest spinning in wasm while it
//! holds a lock is stopped by one ([`filelock_spin_holding`]); a guest blocked
//! in a host call that waits for a lock is not, until the call returns. An
//! embedder bounds such a wait by cancelling the call (dropping its future,
//! for example with `tokio::time::timeout`), which
//! [`embedder_deadline_ends_a_long_wait`] checks, or with the host's own
//! limits.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::pin::pin;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use portalocker_tests::Flavour;
use portalocker_tests::embed::{self, State};
use portalocker_tests::native::{self, Holder, Mode};
use portalocker_tests::{
    Sandbox, component, component_on, engine, epoch_engine, eventually, guests, portalocker_bin,
};
use wasmtime::component::Linker;
use wasmtime::{Store, Trap};
use wasmtime_wasi::p2::bindings::Command as AsyncCommand;

/// How long anything that should happen "at once" may take on a slow, busy
/// machine. Only an upper bound: no test waits for it unless something is
/// wrong.
const PROMPTLY: Duration = Duration::from_secs(10);

/// Whether nobody holds `path`: both a probe from this process and
/// `flock -n` from another get it.
fn free(path: &Path) -> bool {
    native::can_lock(path, Mode::Exclusive) && native::flock_n(path)
}

/// Whether `path` is free, or becomes free promptly. After a wait on the
/// file, the host's sentinel thread (see `host/src/wake.rs`) may hold the
/// lock for an instant after each release, as documented; a probe at that
/// instant fails, the next one does not.
fn becomes_free(path: &Path) -> bool {
    eventually(PROMPTLY, || free(path))
}

/// Asserts that `path`, just released, stays free for a while: a wait that
/// was cancelled must not take the lock late (a wake-up, a timer firing after
/// the cancellation).
#[track_caller]
fn assert_stays_free(path: &Path, what: &str) {
    // Past the sentinel's instant after the release.
    std::thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(400) {
        assert!(
            native::can_lock(path, Mode::Exclusive),
            "{what}: someone took the lock after the wait was cancelled"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(native::flock_n(path), "{what}: flock -n failed");
}

fn single_threaded() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `guest` to its end in `store` with the async linker.
async fn run_async(
    linker: &Linker<State>,
    store: &mut Store<State>,
    component: &wasmtime::component::Component,
) -> wasmtime::Result<Result<(), ()>> {
    let command = AsyncCommand::instantiate_async(&mut *store, component, linker).await?;
    command.wasi_cli_run().call_run(&mut *store).await
}

pub(crate) fn filelock_abort_holding(flavour: Flavour) {
    let sandbox = Sandbox::new().with_flavour(flavour);
    let run = sandbox.run(guests::FILELOCK_ABORT_HOLDING, &["x.lock"]);
    run.assert_line("locked");
    let portalocker_cli::command::Exit::Trap(trap) = &run.outcome.exit else {
        panic!("the guest should trap: {run:?}");
    };
    assert_eq!(
        trap.downcast_ref::<Trap>(),
        Some(&Trap::UnreachableCodeReached),
        "abort() in a wasm32-wasip2 guest is an `unreachable` trap: {trap:?}"
    );
    // The run's store is gone, and with it the lock.
    assert!(free(&sandbox.path("x.lock")));
}

pub(crate) fn filelock_spin_holding(flavour: Flavour) {
    let sandbox = Sandbox::new().with_flavour(flavour);
    let path = sandbox.path("x.lock");
    // An engine of this test's own: the epoch is per engine.
    let engine = epoch_engine();
    let component = component_on(&engine, guests::FILELOCK_SPIN_HOLDING);
    let linker = embed::linker_on(&engine, flavour);
    let (mut store, stdout) = embed::store_on(&engine, sandbox.root(), &["x.lock"]);
    let printed = stdout.clone();
    let guest = std::thread::spawn(move || {
        // Trap once the epoch moves on from now (the default reaction).
        store.set_epoch_deadline(1);
        let result = embed::call_run(flavour, &linker, &mut store, &component);
        (result, store, stdout)
    });
    // Interrupt only once the guest holds the lock and said so: it is then
    // spinning in wasm.
    assert!(
        eventually(PROMPTLY * 2, || {
            String::from_utf8_lossy(&printed.contents()).contains("locked")
        }),
        "the guest never took the lock"
    );
    assert!(
        !native::can_lock(&path, Mode::Exclusive),
        "the guest's lock is not real"
    );
    engine.increment_epoch();
    let (result, store, stdout) = guest.join().unwrap();
    let trap = result.expect_err("the epoch deadline should stop the spinning guest");
    assert_eq!(
        trap.downcast_ref::<Trap>(),
        Some(&Trap::Interrupt),
        "{trap:?}"
    );
    assert!(String::from_utf8_lossy(&stdout.contents()).contains("locked"));
    // The lock belongs to the store, which the embedder still has.
    assert!(
        !native::flock_n(&path),
        "the lock went away before the store"
    );
    drop(store);
    assert!(free(&path), "dropping the store did not release the lock");
}

pub(crate) fn filelock_exit_holding(flavour: Flavour) {
    for layer in ["path", "handle"] {
        for (how, code) in [("exit", 0), ("exit-code", 7), ("return", 0)] {
            // A whole run: the runner drops the store when the guest ends.
            let sandbox = Sandbox::new().with_flavour(flavour);
            sandbox
                .run(guests::FILELOCK_EXIT_HOLDING, &["x.lock", layer, how])
                .assert_code(code)
                .assert_line("locked");
            assert!(
                free(&sandbox.path("x.lock")),
                "{layer} lock left held after `{how}`"
            );

            // An embedder that keeps the store: the lock lives exactly as long
            // as the store, as the WIT says, and not a moment longer.
            let sandbox = Sandbox::new().with_flavour(flavour);
            let path = sandbox.path("x.lock");
            let linker = embed::linker_on(engine(), flavour);
            let (mut store, stdout) = embed::store(sandbox.root(), &["x.lock", layer, how]);
            let result = embed::call_run(
                flavour,
                &linker,
                &mut store,
                &component(guests::FILELOCK_EXIT_HOLDING),
            );
            let exit_code = match result {
                Ok(Ok(())) => 0,
                Ok(Err(())) => 1,
                Err(err) => match err.downcast_ref::<wasmtime_wasi::I32Exit>() {
                    Some(exit) => exit.0,
                    None => panic!("{layer}/{how}: the guest trapped: {err:?}"),
                },
            };
            assert_eq!(exit_code, code, "{layer}/{how}");
            assert!(String::from_utf8_lossy(&stdout.contents()).contains("locked"));
            assert!(
                !native::flock_n(&path),
                "{layer}/{how}: released before the store was dropped"
            );
            drop(store);
            assert!(
                free(&path),
                "{layer}/{how}: dropping the store did not release"
            );
        }
    }
}

/// The guests that wait for x.lock in three ways: the path layer, the handle
/// layer, and a request polled with `wasi:io/poll` (with a long timer).
const WAITERS: [(&str, &str, &[&str]); 3] = [
    ("path", guests::HOLD, &["x.lock", "exclusive", "0"]),
    (
        "handle",
        guests::HOLD,
        &["--layer", "handle", "x.lock", "exclusive", "0"],
    ),
    ("request", guests::WAIT_ANY, &["x.lock", "600000"]),
];

#[test]
fn store_dropped_while_waiting_never_takes_the_lock() {
    for (name, guest, args) in WAITERS {
        let sandbox = Sandbox::new();
        let path = sandbox.path("x.lock");
        let mut holder = Holder::lock(&path, Mode::Exclusive);
        let linker = embed::async_linker();
        single_threaded().block_on(async {
            let (mut store, _) = embed::store(sandbox.root(), args);
            let component = component(guest);
            {
                let call = pin!(run_async(&linker, &mut store, &component));
                let waited = tokio::time::timeout(Duration::from_millis(300), call).await;
                assert!(waited.is_err(), "{name}: the guest did not wait");
                // The call's future is dropped here, in the middle of its wait.
            }
            drop(store);
        });
        holder.release();
        assert_stays_free(&path, name);

        assert_no_ghost_waiter(&sandbox, name);
    }
}

/// Checks that nothing of a cancelled wait on `x.lock` is left in this host:
/// a new waiter on the same file (served first-come-first-served by default)
/// is not queued behind a ghost, and gets the lock once a native holder lets
/// go.
#[track_caller]
fn assert_no_ghost_waiter(sandbox: &Sandbox, what: &str) {
    let path = sandbox.path("x.lock");
    let mut holder = Holder::lock(&path, Mode::Exclusive);
    let next = sandbox.spawn(
        guests::HOLD,
        &["--timeout", "10000", "x.lock", "exclusive", "0"],
    );
    std::thread::sleep(Duration::from_millis(200));
    holder.release();
    let released = Instant::now();
    let run = next.join().unwrap();
    // Its last attempt at its deadline would get the free lock anyway: the
    // point is that it gets it well before.
    let waited = released.elapsed();
    assert!(
        run.code() == 0 && waited < Duration::from_secs(5),
        "{what}: a new waiter took {waited:?} to get the released lock: {run:?}"
    );
    assert!(becomes_free(&path), "{what}");
}

#[test]
fn embedder_deadline_ends_a_long_wait() {
    // The request variant is `request_outliving_a_cancelled_call_is_released_with_its_store`:
    // there the request outlives the cancelled call in the store.
    for (name, guest, args) in &WAITERS[..2] {
        let sandbox = Sandbox::new();
        let path = sandbox.path("x.lock");
        let mut holder = Holder::lock(&path, Mode::Exclusive);
        let engine = epoch_engine();
        let component = component_on(&engine, guest);
        let linker = embed::async_linker_on(&engine);
        let (mut store, _) = embed::store_on(&engine, sandbox.root(), args);
        store.set_epoch_deadline(1);
        let trapped = single_threaded().block_on(async {
            let mut call = pin!(run_async(&linker, &mut store, &component));
            let early = tokio::time::timeout(Duration::from_millis(300), &mut call).await;
            assert!(early.is_err(), "{name}: the guest did not wait");
            // The deadline passes while the guest is inside the host's wait.
            engine.increment_epoch();
            // The embedder's own deadline: cancel the call if the epoch did
            // not end it. (It does not: epochs are checked in wasm code only,
            // and the guest is in a host call.)
            let ended = tokio::time::timeout(Duration::from_secs(1), &mut call).await;
            match ended {
                Ok(Err(trap)) => {
                    assert_eq!(trap.downcast_ref::<Trap>(), Some(&Trap::Interrupt));
                    true
                }
                Ok(Ok(exit)) => panic!("{name}: the guest finished waiting: {exit:?}"),
                Err(_) => false,
            }
        });
        eprintln!(
            "{name}: the wait ended by {}",
            if trapped {
                "the epoch deadline"
            } else {
                "cancelling the call"
            }
        );
        // The wait is over and the store is alive: the lock is never taken
        // on the guest's behalf after the release.
        holder.release();
        assert_stays_free(&path, name);

        // Nor does another waiter in this host queue behind the cancelled one.
        // (wasmtime considers a store whose call was cancelled as trapped: it
        // cannot be entered again, only dropped.)
        assert_no_ghost_waiter(&sandbox, name);
        drop(store);
        assert!(becomes_free(&path), "{name}");
    }
}

/// Starts `portalocker run --dir DIR::/ hold ARGS...` with stdout piped.
fn spawn_hold(dir: &Path, args: &[&str]) -> Child {
    Command::new(portalocker_bin())
        .arg("run")
        .arg("--dir")
        .arg(format!("{}::/", dir.display()))
        .arg("hold")
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn portalocker run")
}

/// The first line `child` prints, if it prints one within `limit`.
fn first_line(child: &mut Child, limit: Duration) -> Option<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = send.send(line);
    });
    receive
        .recv_timeout(limit)
        .ok()
        .map(|line| line.trim().to_owned())
}

#[test]
fn killed_run_process_releases_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.lock");

    // A holder killed with SIGKILL: the kernel closes its files, so the lock
    // is free the moment the process is reaped.
    let mut holder = spawn_hold(dir.path(), &["x.lock", "exclusive", "600000"]);
    assert_eq!(
        first_line(&mut holder, PROMPTLY * 3).as_deref(),
        Some("locked")
    );
    assert!(!native::flock_n(&path), "the process holds no real lock");
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(
        native::flock_n(&path),
        "the lock outlived the killed process"
    );
    let again = Command::new(portalocker_bin())
        .arg("run")
        .arg("--dir")
        .arg(format!("{}::/", dir.path().display()))
        .args(["hold", "--try", "x.lock", "exclusive", "0"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0), "{again:?}");

    // A holder killed while another process waits: the waiter gets the lock
    // promptly; then the waiter is killed while holding it, and the lock is
    // free again.
    let mut holder = spawn_hold(dir.path(), &["x.lock", "exclusive", "600000"]);
    assert_eq!(
        first_line(&mut holder, PROMPTLY * 3).as_deref(),
        Some("locked")
    );
    let mut waiter = spawn_hold(dir.path(), &["x.lock", "exclusive", "600000"]);
    // The waiter's own first line is `locked`, once it has the lock.
    let (send, receive) = mpsc::channel();
    let waiter_stdout = waiter.stdout.take().unwrap();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(waiter_stdout).read_line(&mut line);
        let _ = send.send(line.trim().to_owned());
    });
    assert!(
        receive.recv_timeout(Duration::from_millis(500)).is_err(),
        "the waiter got the lock while the holder had it"
    );
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert_eq!(
        receive.recv_timeout(PROMPTLY).as_deref(),
        Ok("locked"),
        "the waiter did not get the lock after the holder was killed"
    );
    waiter.kill().unwrap();
    waiter.wait().unwrap();
    assert!(native::flock_n(&path));
}

/// A request is a standing order: once the guest has made it, the host's
/// queue serves it (the kernel grants the lock to the request's open file)
/// whether or not the guest polls it at that moment, and it holds the lock
/// for the guest until collected or dropped. It never holds up the host's
/// other waiters beyond that: the next waiter gets the lock as soon as the
/// request lets go.
#[test]
#[cfg_attr(
    windows,
    ignore = "on Windows waiters poll, and a request nobody polls is not advanced: it is served when polled"
)]
fn unpolled_request_is_served_and_then_lets_go() {
    let sandbox = Sandbox::new();
    let path = sandbox.path("x.lock");
    let mut holder = Holder::lock(&path, Mode::Exclusive);
    // A guest asks for the lock while it is held, polls for it for 100 ms,
    // then keeps the request for 1.5 s without polling it, then looks.
    let idle = sandbox.spawn(guests::IDLE_REQUEST, &["x.lock", "1500"]);
    std::thread::sleep(Duration::from_millis(500));
    // Another guest of this host lines up behind the request.
    let next = sandbox.spawn(
        guests::HOLD,
        &["--timeout", "20000", "x.lock", "exclusive", "0"],
    );
    std::thread::sleep(Duration::from_millis(100));
    holder.release();
    assert!(
        eventually(PROMPTLY, || !native::can_lock(&path, Mode::Exclusive)),
        "the unpolled request was not served"
    );
    let idle = idle.join().unwrap();
    idle.assert_success()
        .assert_line("polled: timer")
        .assert_line("answer: locked");
    let dropped = Instant::now();
    next.join().unwrap().assert_success();
    assert!(
        dropped.elapsed() < Duration::from_secs(5),
        "the next waiter took {:?} after the request let go",
        dropped.elapsed()
    );
    assert!(becomes_free(&path));
}

/// An embedder cancels a call whose guest had polled a request, and keeps
/// the store: the request lives on in the store's table and is served like
/// any request; the lock it takes is the store's until the store is dropped,
/// and then the host's next waiter gets it at once.
#[test]
#[cfg_attr(
    windows,
    ignore = "on Windows waiters poll, and a request nobody polls is not advanced: it is served when polled"
)]
fn request_outliving_a_cancelled_call_is_released_with_its_store() {
    let sandbox = Sandbox::new();
    let path = sandbox.path("x.lock");
    let mut holder = Holder::lock(&path, Mode::Exclusive);
    let linker = embed::async_linker();
    let (mut store, _) = embed::store(sandbox.root(), &["x.lock", "600000"]);
    single_threaded().block_on(async {
        let component = component(guests::WAIT_ANY);
        let call = pin!(run_async(&linker, &mut store, &component));
        let waited = tokio::time::timeout(Duration::from_millis(300), call).await;
        assert!(waited.is_err(), "the guest did not wait");
    });
    holder.release();
    assert!(
        eventually(PROMPTLY, || !native::can_lock(&path, Mode::Exclusive)),
        "the request was not served"
    );
    let next = sandbox.spawn(
        guests::HOLD,
        &["--timeout", "20000", "x.lock", "exclusive", "0"],
    );
    std::thread::sleep(Duration::from_millis(200));
    let dropped = Instant::now();
    drop(store);
    next.join().unwrap().assert_success();
    assert!(
        dropped.elapsed() < Duration::from_secs(5),
        "the next waiter took {:?} after the store was dropped",
        dropped.elapsed()
    );
    assert!(becomes_free(&path));
}
