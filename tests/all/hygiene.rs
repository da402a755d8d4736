//! Resource hygiene: a batch of the faults and attacks of the other modules
//! (contended waits that time out, requests dropped, traps, forged handles,
//! stores dropped mid-wait, an epoch deadline, guests exiting while they hold
//! locks, byte-range waits in the kernel on both linkers) leaves no file
//! descriptor and no thread behind in the host process.
//!
//! The counts come from `/proc/self/fd` and `/proc/self/task`, which the other
//! tests of this binary change as they run in parallel, so the check runs in
//! a process of its own: [`no_leaked_descriptors_or_threads`] re-runs this
//! test binary for the ignored [`batch_in_own_process`] alone. The host's
//! sentinel threads (one per contended file, see `host/src/wake.rs`) end
//! when the file is next released, and the runtime's idle blocking threads
//! after a while: the counts are polled until they are back at the baseline,
//! within a generous limit.

use std::pin::pin;
use std::process::Command;
use std::time::{Duration, Instant};

use portalocker_tests::embed;
use portalocker_tests::native::{Holder, Mode};
use portalocker_tests::ranges::RangeHolder;
use portalocker_tests::{
    Flavour, Sandbox, component, component_on, epoch_engine, eventually, guests,
};
use wasmtime_wasi::p2::bindings::Command as AsyncCommand;
use wasmtime_wasi::p2::bindings::sync::Command as SyncCommand;

/// Set in the child process that runs [`batch_in_own_process`].
const CHILD: &str = "PORTALOCKER_HYGIENE_CHILD";

/// Batches measured after the warm-up.
const ROUNDS: usize = 3;

/// How long the counts may take to come back (sentinels, idle threads of
/// the runtime's blocking pool, which linger 10 s).
const SETTLE: Duration = Duration::from_secs(40);

#[test]
fn no_leaked_descriptors_or_threads() {
    let name = "hygiene::batch_in_own_process";
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            name,
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{name} failed in its own process: {}\n--- stdout\n{stdout}--- stderr\n{stderr}",
        output.status
    );
    eprint!("{stderr}");
}

/// Open file descriptors and threads of this process.
fn counts() -> (usize, usize) {
    let count = |dir| std::fs::read_dir(dir).unwrap().count();
    (count("/proc/self/fd"), count("/proc/self/task"))
}

/// What the descriptors point to and the threads' names, for a failure
/// message.
fn inventory() -> String {
    let mut fds: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            Some(format!(
                "{} -> {}",
                e.file_name().to_string_lossy(),
                target.display()
            ))
        })
        .collect();
    fds.sort();
    let mut threads: Vec<String> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| {
            let comm = std::fs::read_to_string(e.ok()?.path().join("comm")).ok()?;
            Some(comm.trim().to_owned())
        })
        .collect();
    threads.sort();
    format!("fds:\n  {}\nthreads: {threads:?}", fds.join("\n  "))
}

#[test]
#[ignore = "run by no_leaked_descriptors_or_threads in a process of its own"]
fn batch_in_own_process() {
    if std::env::var_os(CHILD).is_none() {
        eprintln!("skipped: runs only as the child of no_leaked_descriptors_or_threads");
        return;
    }
    // The warm-up opens what stays open for good: the engines, the compiled
    // components, the runtimes' worker threads.
    batch();
    let baseline = counts();
    let baseline_inventory = inventory();
    let start = Instant::now();
    for _ in 0..ROUNDS {
        batch();
    }
    let batches = start.elapsed();
    let after = counts();
    let settled = eventually(SETTLE, || {
        let (fds, threads) = counts();
        fds <= baseline.0 && threads <= baseline.1
    });
    assert!(
        settled,
        "after {ROUNDS} batches the process has (fds, threads) = {:?}, {:?} before \
         (right after the batches: {after:?})\n--- before\n{baseline_inventory}\n--- now\n{}",
        counts(),
        baseline,
        inventory()
    );
    eprintln!(
        "hygiene: (fds, threads) {baseline:?} before, {after:?} right after {ROUNDS} batches \
         ({batches:?}), back at {:?} {:?} later",
        counts(),
        start.elapsed() - batches
    );
}

/// One round of faults, each on a file of its own.
fn batch() {
    let sandbox = Sandbox::new();
    let path = sandbox.path("x.lock");
    let holder = Holder::lock(&path, Mode::Exclusive);

    // Contended waits that time out, on both layers, and a request dropped
    // when its timer wins.
    for layer in ["path", "handle"] {
        sandbox
            .run(
                guests::HOLD,
                &[
                    "--layer",
                    layer,
                    "--timeout",
                    "50",
                    "x.lock",
                    "exclusive",
                    "0",
                ],
            )
            .assert_code(3);
    }
    sandbox
        .run(guests::WAIT_ANY, &["x.lock", "50"])
        .assert_success()
        .assert_line("timeout");
    sandbox
        .run(guests::FILELOCK_REQUEST_DROP, &[])
        .assert_success();

    // A store dropped while its guest waits (async).
    let linker = embed::async_linker();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let (mut store, _) = embed::store(sandbox.root(), &["x.lock", "exclusive", "0"]);
            let waiting = async {
                let command =
                    AsyncCommand::instantiate_async(&mut store, &component(guests::HOLD), &linker)
                        .await?;
                command.wasi_cli_run().call_run(&mut store).await
            };
            let cancelled = tokio::time::timeout(Duration::from_millis(50), pin!(waiting)).await;
            assert!(cancelled.is_err(), "the guest did not wait");
        });

    // Traps, forged handles, exits while holding, on other files.
    let other = Sandbox::new();
    assert!(
        other
            .run(guests::FILELOCK_PANIC_HOLDING, &["a.lock"])
            .trapped()
    );
    assert!(
        other
            .run(guests::FILELOCK_ABORT_HOLDING, &["b.lock"])
            .trapped()
    );
    for case in ["bogus-descriptor", "double-drop", "dropped-file-lock"] {
        assert!(
            other
                .run(guests::FILELOCK_ATTACK_HANDLES, &[case])
                .trapped()
        );
    }
    for layer in ["path", "handle"] {
        other
            .run(guests::FILELOCK_EXIT_HOLDING, &["c.lock", layer, "exit"])
            .assert_success();
    }

    // An epoch deadline stops a guest spinning while it holds a lock.
    let engine = epoch_engine();
    let spin = component_on(&engine, guests::FILELOCK_SPIN_HOLDING);
    let root = other.root().to_path_buf();
    let guest_engine = engine.clone();
    let spinning = std::thread::spawn(move || {
        let linker = embed::sync_linker_on(&guest_engine);
        let (mut store, _) = embed::store_on(&guest_engine, &root, &["d.lock"]);
        store.set_epoch_deadline(1);
        let command = SyncCommand::instantiate(&mut store, &spin, &linker).unwrap();
        command.wasi_cli_run().call_run(&mut store)
    });
    assert!(eventually(Duration::from_secs(20), || {
        !portalocker_tests::native::can_lock(&other.path("d.lock"), Mode::Exclusive)
    }));
    engine.increment_epoch();
    assert!(spinning.join().unwrap().is_err());

    // Byte-range waits in the kernel, on the caller's thread (sync) and on a
    // worker (async): one interrupted at its deadline, one granted by the
    // native release.
    for flavour in [Flavour::Sync, Flavour::Async] {
        let ranges = Sandbox::new().with_flavour(flavour);
        let range_holder = RangeHolder::lock(&ranges.path("db"), 0, 1, Mode::Exclusive);
        ranges
            .run(
                guests::RANGE_HOLD,
                &["--timeout", "50", "db", "0", "1", "exclusive"],
            )
            .assert_code(3);
        let waiting = ranges.spawn(
            guests::RANGE_HOLD,
            &["--timeout", "10000", "db", "0", "1", "shared"],
        );
        std::thread::sleep(Duration::from_millis(50));
        range_holder.release();
        waiting.join().unwrap().assert_success();
    }

    // Guests that wait and then get the lock, woken by the native release:
    // their file's sentinel thread must end afterwards.
    let waiters: Vec<_> = (0..3)
        .map(|_| sandbox.spawn(guests::COUNTER, &["x.lock", "5"]))
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    drop(holder);
    for waiter in waiters {
        waiter.join().unwrap().assert_success();
    }
}
