//! Byte-range locks (WIT `range-lock`): the scenarios under both linkers,
//! the host's policy, waiting (a guest blocked in the kernel gets the range
//! the moment a native holder or another guest lets it go; waiters for
//! disjoint bytes never wait for each other; a cancelled wait never takes
//! the range), and interop both ways with native processes taking classic
//! `fcntl`/`lockf` locks and open-file-description locks (Python), and with
//! this process's own open-file-description locks.

use std::pin::pin;
use std::time::Duration;

use portalocker_host::FileLockCtx;
use portalocker_tests::embed::{self, async_linker};
use portalocker_tests::native::{Holder, Mode};
use portalocker_tests::ranges::{self, RangeHolder};
#[cfg(unix)]
use portalocker_tests::ranges::{Family, PythonHolder};
use portalocker_tests::{Flavour, GuestRun, Sandbox, component, eventually, guests};
use wasmtime_wasi::p2::bindings::Command;

const LONG: Duration = Duration::from_secs(60);

/// Both flavours of the host, for the tests that are not scenarios.
const FLAVOURS: [Flavour; 2] = [Flavour::Sync, Flavour::Async];

pub(crate) fn filelock_range_local(flavour: Flavour) {
    let sandbox = Sandbox::new().with_flavour(flavour);
    sandbox
        .run(guests::FILELOCK_RANGE_LOCAL, &[])
        .assert_success()
        .assert_line("cancelled conversion keeps the old lock: ok")
        .assert_line("ok");
    // Every range the scenario took is gone with its store.
    assert!(ranges::can_lock_range(
        &sandbox.path("ranges.db"),
        0,
        0,
        Mode::Exclusive
    ));
}

/// Runs `filelock_range_policy` with `args` under `locks`.
fn run_policy(sandbox: &Sandbox, locks: FileLockCtx, read_only: bool, args: &[&str]) -> GuestRun {
    let mut invocation = sandbox.invocation(args);
    invocation.locks = locks;
    invocation.preopens[0].read_only = read_only;
    let outcome = sandbox
        .runner()
        .run(&component(guests::FILELOCK_RANGE_POLICY), &invocation)
        .expect("run filelock_range_policy");
    GuestRun::new(guests::FILELOCK_RANGE_POLICY, outcome)
}

pub(crate) fn filelock_range_policy(flavour: Flavour) {
    let sandbox = Sandbox::new().with_flavour(flavour);
    let data = sandbox.path("data.db");
    std::fs::write(&data, "keep").unwrap();
    run_policy(
        &sandbox,
        FileLockCtx::default(),
        true,
        &["read-only", "data.db"],
    )
    .assert_success()
    .assert_line("ok");

    let two = FileLockCtx::builder().max_held_locks(2).build();
    run_policy(&sandbox, two, false, &["held", "held.db", "other.lock"])
        .assert_success()
        .assert_line("ok");

    let _holder = RangeHolder::lock(&data, 0, 1, Mode::Exclusive);
    let one_wait = FileLockCtx::builder().max_pending_waits(1).build();
    run_policy(&sandbox, one_wait, false, &["waits", "data.db"])
        .assert_success()
        .assert_line("ok");
    let short = FileLockCtx::builder()
        .max_wait(Duration::from_millis(200))
        .build();
    run_policy(&sandbox, short, false, &["wait-time", "data.db"])
        .assert_success()
        .assert_line("ok");
}

#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "the policy learns an open directory's real path from /proc/self/fd only: \
              elsewhere `--lock-dir` denies every lock"
)]
fn ranges_only_under_allowed_directories() {
    let sandbox = Sandbox::new();
    for dir in ["allowed", "other"] {
        std::fs::create_dir(sandbox.path(dir)).unwrap();
    }
    let locks = FileLockCtx::builder()
        .allow_locking_under(sandbox.path("allowed"))
        .unwrap()
        .build();
    run_policy(
        &sandbox,
        locks,
        false,
        &["lock-dirs", "allowed/x.db", "other/x.db"],
    )
    .assert_success()
    .assert_line("ok");
}

/// Starts `range_hold` holding `START LENGTH MODE` of `db` until the gate
/// opens, and waits until this process sees the range held.
fn guest_holds(
    sandbox: &Sandbox,
    start: u64,
    len: u64,
    mode: &str,
) -> (Holder, std::thread::JoinHandle<GuestRun>) {
    let gate = Holder::lock(&sandbox.path("gate"), Mode::Exclusive);
    let (start_arg, len_arg) = (start.to_string(), len.to_string());
    let holding = sandbox.spawn(
        guests::RANGE_HOLD,
        &["--until", "gate", "db", &start_arg, &len_arg, mode],
    );
    let path = sandbox.path("db");
    assert!(
        eventually(LONG, || path.exists()
            && !ranges::can_lock_range(
                &path,
                start,
                len.max(1),
                Mode::Exclusive
            )),
        "the guest never took its range"
    );
    (gate, holding)
}

#[test]
#[cfg(unix)]
#[cfg_attr(
    not(has_python3),
    ignore = "python3 is not installed: apt-get install python3"
)]
fn a_guest_range_excludes_native_processes_of_both_lock_families() {
    for mode in ["exclusive", "shared"] {
        let sandbox = Sandbox::new();
        let path = sandbox.path("db");
        let (mut gate, holding) = guest_holds(&sandbox, 100, 10, mode);
        for family in [Family::Classic, Family::Ofd] {
            let can = |start, len, mode| ranges::python_can_lock(&path, family, start, len, mode);
            assert!(
                !can(105, 1, Mode::Exclusive),
                "{family:?} {mode}: exclusive inside"
            );
            assert!(
                !can(95, 10, Mode::Exclusive),
                "{family:?} {mode}: overlapping the start"
            );
            assert_eq!(
                can(100, 10, Mode::Shared),
                mode == "shared",
                "{family:?} {mode}: shared inside"
            );
            assert!(
                can(110, 10, Mode::Exclusive),
                "{family:?} {mode}: adjacent after"
            );
            assert!(
                can(90, 10, Mode::Exclusive),
                "{family:?} {mode}: adjacent before"
            );
        }
        gate.release();
        holding
            .join()
            .unwrap()
            .assert_success()
            .assert_line("released");
        assert!(ranges::python_can_lock(
            &path,
            Family::Classic,
            0,
            0,
            Mode::Exclusive
        ));
    }
}

#[test]
#[cfg(unix)]
#[cfg_attr(
    not(has_python3),
    ignore = "python3 is not installed: apt-get install python3"
)]
fn native_ranges_of_both_families_exclude_a_guest() {
    for flavour in FLAVOURS {
        let sandbox = Sandbox::new().with_flavour(flavour);
        let path = sandbox.path("db");
        for family in [Family::Classic, Family::Ofd] {
            let mut holder = PythonHolder::lock(&path, family, 100, 10, Mode::Exclusive);
            let busy = sandbox.run(guests::RANGE_HOLD, &["--try", "db", "105", "1", "shared"]);
            busy.assert_code(2).assert_line("error: already-locked");
            sandbox
                .run(
                    guests::RANGE_HOLD,
                    &["--try", "db", "110", "5", "exclusive"],
                )
                .assert_success()
                .assert_line("released");
            // `test` names the holder's process for classic locks only.
            let pid = match family {
                Family::Classic => holder.pid().to_string(),
                Family::Ofd => "-".to_owned(),
            };
            sandbox
                .run(guests::RANGE_HOLD, &["--test", "db", "0", "0", "shared"])
                .assert_success()
                .assert_line(&format!("conflict exclusive 100 10 {pid}"));
            // A wait in the kernel, interrupted at its deadline.
            sandbox
                .run(
                    guests::RANGE_HOLD,
                    &["--timeout", "200", "db", "100", "1", "exclusive"],
                )
                .assert_code(3)
                .assert_line("error: timed-out");
            holder.release();
            sandbox
                .run(
                    guests::RANGE_HOLD,
                    &["--try", "db", "100", "10", "exclusive"],
                )
                .assert_success();

            let _shared = PythonHolder::lock(&path, family, 0, 0, Mode::Shared);
            sandbox
                .run(guests::RANGE_HOLD, &["--try", "db", "7", "1", "shared"])
                .assert_success();
            sandbox
                .run(guests::RANGE_HOLD, &["--try", "db", "7", "1", "exclusive"])
                .assert_code(2);
        }
    }
}

#[test]
fn a_waiting_guest_gets_the_range_when_a_native_holder_releases() {
    for flavour in FLAVOURS {
        let sandbox = Sandbox::new().with_flavour(flavour);
        let path = sandbox.path("db");
        let holder = RangeHolder::lock(&path, 0x4000_0000, 1, Mode::Exclusive);
        let waiting = sandbox.spawn(
            guests::RANGE_HOLD,
            &["--timeout", "30000", "db", "1073741824", "1", "exclusive"],
        );
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            !waiting.is_finished(),
            "{flavour:?}: the guest did not wait"
        );
        holder.release();
        waiting
            .join()
            .unwrap()
            .assert_success()
            .assert_line("released");
    }
}

#[test]
fn guests_hand_a_range_over() {
    for flavour in FLAVOURS {
        let sandbox = Sandbox::new().with_flavour(flavour);
        let (mut gate, holding) = guest_holds(&sandbox, 0, 0, "exclusive");
        // A second instance waits for a byte inside the first one's range.
        let waiting = sandbox.spawn(
            guests::RANGE_HOLD,
            &["--timeout", "30000", "db", "50", "1", "shared"],
        );
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            !waiting.is_finished(),
            "{flavour:?}: the second guest did not wait"
        );
        gate.release();
        holding.join().unwrap().assert_success();
        waiting
            .join()
            .unwrap()
            .assert_success()
            .assert_line("released");
    }
}

/// The host's waiters on one file line up only behind earlier waiters for
/// bytes they want in a conflicting mode: a guest waiting for one byte is
/// served when that byte is free, while a guest that came earlier still
/// waits for another byte of the same file.
#[test]
fn waiters_for_disjoint_bytes_do_not_wait_for_each_other() {
    for flavour in FLAVOURS {
        let sandbox = Sandbox::new().with_flavour(flavour);
        let path = sandbox.path("db");
        let first_byte = RangeHolder::lock(&path, 0, 1, Mode::Exclusive);
        let second_byte = RangeHolder::lock(&path, 1, 1, Mode::Exclusive);
        let earlier = sandbox.spawn(
            guests::RANGE_HOLD,
            &["--timeout", "30000", "db", "0", "1", "exclusive"],
        );
        std::thread::sleep(Duration::from_millis(200));
        let later = sandbox.spawn(
            guests::RANGE_HOLD,
            &["--timeout", "30000", "db", "1", "1", "exclusive"],
        );
        std::thread::sleep(Duration::from_millis(200));
        assert!(!earlier.is_finished() && !later.is_finished());
        second_byte.release();
        later
            .join()
            .unwrap()
            .assert_success()
            .assert_line("released");
        assert!(
            !earlier.is_finished(),
            "{flavour:?}: the earlier guest's byte is still held"
        );
        first_byte.release();
        earlier
            .join()
            .unwrap()
            .assert_success()
            .assert_line("released");
    }
}

/// Runs `guest` to its end in `store` with the async linker; Ok(true) for
/// a successful exit.
async fn run_async(
    linker: &wasmtime::component::Linker<embed::State>,
    store: &mut wasmtime::Store<embed::State>,
    guest: &str,
) -> wasmtime::Result<bool> {
    let command = Command::instantiate_async(&mut *store, &component(guest), linker).await?;
    Ok(command.wasi_cli_run().call_run(&mut *store).await?.is_ok())
}

#[test]
fn a_cancelled_wait_never_takes_the_range_and_a_dropped_store_releases_it() {
    let sandbox = Sandbox::new();
    let path = sandbox.path("db");
    let linker = async_linker();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // Cancelled: the call is dropped while it waits (in the kernel, on a
    // worker); the store lives on.
    let holder = RangeHolder::lock(&path, 0, 1, Mode::Exclusive);
    let (mut waiting_store, _) = embed::store(sandbox.root(), &["db", "0", "1", "exclusive"]);
    runtime.block_on(async {
        let call = run_async(&linker, &mut waiting_store, guests::RANGE_HOLD);
        let cancelled = tokio::time::timeout(Duration::from_millis(200), call).await;
        assert!(cancelled.is_err(), "the guest should still be waiting");
    });
    holder.release();
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        ranges::can_lock_range(&path, 0, 1, Mode::Exclusive),
        "a cancelled wait took the range"
    );
    drop(waiting_store);

    // Dropped: a guest holding a range behind a gate; dropping its call and
    // store releases the range.
    let _gate = Holder::lock(&sandbox.path("gate"), Mode::Exclusive);
    let (mut holding_store, _) = embed::store(
        sandbox.root(),
        &["--until", "gate", "db", "10", "0", "exclusive"],
    );
    runtime.block_on(async {
        let mut holding = pin!(run_async(&linker, &mut holding_store, guests::RANGE_HOLD));
        let held = async {
            while ranges::can_lock_range(&path, 10, 1, Mode::Exclusive) {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        };
        tokio::select! {
            _ = &mut holding => panic!("the guest finished while the gate was closed"),
            () = held => {}
        }
    });
    assert!(!ranges::can_lock_range(&path, 1 << 40, 1, Mode::Shared));
    drop(holding_store);
    assert!(
        ranges::can_lock_range(&path, 0, 0, Mode::Exclusive),
        "dropping the store did not release the range"
    );
}
