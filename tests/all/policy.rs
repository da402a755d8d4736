//! Host policy: where guests may lock, read-only guests and exclusive locks,
//! and limits on held locks, pending waits and wait time. Every violation is
//! a typed WIT error the guest sees, never a trap.

use std::time::Duration;

use portalocker_host::FileLockCtx;
use portalocker_tests::Flavour;
use portalocker_tests::native::{self, Holder, Mode};
use portalocker_tests::{GuestRun, Sandbox, component, guests};

/// Runs `filelock_policy` with `args` under `locks`, the sandbox preopened
/// read-only when `read_only`.
fn run(sandbox: &Sandbox, locks: FileLockCtx, read_only: bool, args: &[&str]) -> GuestRun {
    let mut invocation = sandbox.invocation(args);
    invocation.locks = locks;
    invocation.preopens[0].read_only = read_only;
    let outcome = sandbox
        .runner()
        .run(&component(guests::FILELOCK_POLICY), &invocation)
        .expect("run filelock_policy");
    GuestRun::new(guests::FILELOCK_POLICY, outcome)
}

pub(crate) fn filelock_policy(flavour: Flavour) {
    let sandbox = Sandbox::new().with_flavour(flavour);
    let data = sandbox.path("data.lock");
    std::fs::write(&data, "keep").unwrap();
    run(
        &sandbox,
        FileLockCtx::default(),
        true,
        &["read-only", "data.lock"],
    )
    .assert_success()
    .assert_line("ok");
    assert_eq!(std::fs::read_to_string(&data).unwrap(), "keep");
    assert!(!sandbox.path("new.lock").exists());

    let two = FileLockCtx::builder().max_held_locks(2).build();
    run(
        &sandbox,
        two,
        false,
        &["held", "a.lock", "b.lock", "c.lock"],
    )
    .assert_success()
    .assert_line("ok");

    let _holder = Holder::lock(&data, Mode::Exclusive);
    let one_wait = FileLockCtx::builder().max_pending_waits(1).build();
    run(&sandbox, one_wait, false, &["waits", "data.lock"])
        .assert_success()
        .assert_line("ok");
    let short = FileLockCtx::builder()
        .max_wait(Duration::from_millis(200))
        .build();
    run(&sandbox, short, false, &["wait-time", "data.lock"])
        .assert_success()
        .assert_line("ok");
}

#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "the policy learns an open directory's real path from /proc/self/fd only: \
              elsewhere `--lock-dir` denies every lock"
)]
fn locking_only_under_allowed_directories() {
    let sandbox = Sandbox::new();
    for dir in ["allowed", "other"] {
        std::fs::create_dir(sandbox.path(dir)).unwrap();
    }
    let locks = FileLockCtx::builder()
        .allow_locking_under(sandbox.path("allowed"))
        .unwrap()
        .build();
    run(
        &sandbox,
        locks,
        false,
        &["lock-dirs", "allowed/x.lock", "other/x.lock"],
    )
    .assert_success()
    .assert_line("ok");
    assert!(native::can_lock(
        &sandbox.path("other/x.lock"),
        Mode::Exclusive
    ));
}

#[test]
fn read_only_exclusive_can_be_allowed() {
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.path("data.lock"), "").unwrap();
    let locks = FileLockCtx::builder().read_only_exclusive(true).build();
    let run = run(&sandbox, locks, true, &["read-only", "data.lock"]);
    // With the policy relaxed the scenario's first check (which expects
    // `denied`) sees the exclusive lock succeed, and traps on it.
    assert!(run.trapped(), "{run:?}");
    run.assert_line("path exclusive: ok");
}
