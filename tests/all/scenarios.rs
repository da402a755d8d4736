//! One test per self-checking guest scenario (`guest/programs/src/bin/filelock_*`)
//! and host flavour: every scenario runs under the sync linker (module
//! `sync`) and under the async one (module `async_`), as wasmtime runs its
//! p2 test programs. A scenario asserts inside the guest; a panic there is
//! a trap here. The tests are generated from the list of scenario guests,
//! so a guest without a function here of its name does not compile.

use std::time::Duration;

use portalocker_tests::native::{self, Holder, Mode};
use portalocker_tests::{Flavour, Sandbox, guests};

#[cfg(unix)]
use crate::append_only::*;
#[cfg(unix)]
use crate::atomic_names::*;
#[cfg(unix)]
use crate::attacks::*;
use crate::existing_code::*;
use crate::faults::*;
use crate::named_lock::*;
use crate::policy::*;
use crate::range_lock::*;
use crate::requests::*;

/// The test of scenario `$name` under `$flavour`. The scenarios that need
/// symbolic links, FIFOs, device files or Unix sockets in the sandbox, or
/// `chattr` or `strace` beside them, exist on Unix only.
macro_rules! scenario_test {
    (filelock_attack_paths, $flavour:ident) => { scenario_test!(@unix filelock_attack_paths, $flavour); };
    (filelock_attack_race, $flavour:ident) => { scenario_test!(@unix filelock_attack_race, $flavour); };
    (filelock_attack_readonly, $flavour:ident) => { scenario_test!(@unix filelock_attack_readonly, $flavour); };
    (filelock_attack_handles, $flavour:ident) => { scenario_test!(@unix filelock_attack_handles, $flavour); };
    (filelock_path_sandbox, $flavour:ident) => { scenario_test!(@unix filelock_path_sandbox, $flavour); };
    (filelock_atomic_write, $flavour:ident) => { scenario_test!(@unix filelock_atomic_write, $flavour); };
    (filelock_atomic_names, $flavour:ident) => { scenario_test!(@unix filelock_atomic_names, $flavour); };
    (filelock_append_only, $flavour:ident) => { scenario_test!(@unix filelock_append_only, $flavour); };
    (filelock_range_local, $flavour:ident) => { scenario_test!(@not_windows filelock_range_local, $flavour); };
    (filelock_range_policy, $flavour:ident) => { scenario_test!(@not_windows filelock_range_policy, $flavour); };
    (@not_windows $name:ident, $flavour:ident) => {
        #[test]
        #[cfg_attr(
            windows,
            ignore = "the guest checks the holder's range `test` reports, which Windows cannot \
                      tell (it reports the bytes it probed)"
        )]
        fn $name() {
            super::$name(portalocker_tests::Flavour::$flavour);
        }
    };
    (@unix $name:ident, $flavour:ident) => {
        #[cfg(unix)]
        scenario_test!(@test $name, $flavour);
    };
    (@test $name:ident, $flavour:ident) => {
        #[test]
        fn $name() {
            super::$name(portalocker_tests::Flavour::$flavour);
        }
    };
    ($name:ident, $flavour:ident) => { scenario_test!(@test $name, $flavour); };
}

/// The scenarios under the sync linker.
mod sync {
    macro_rules! sync_test {
        ($name:ident) => {
            scenario_test!($name, Sync);
        };
    }
    portalocker_tests::foreach_scenario!(sync_test);
}

/// The scenarios under the async linker.
mod async_ {
    macro_rules! async_test {
        ($name:ident) => {
            scenario_test!($name, Async);
        };
    }
    portalocker_tests::foreach_scenario!(async_test);
}

pub(crate) fn filelock_handle_contended(flavour: Flavour) {
    let sandbox = Sandbox::new().with_flavour(flavour);
    let _holder = Holder::lock(&sandbox.path("x.lock"), Mode::Exclusive);
    let run = sandbox.run(guests::FILELOCK_HANDLE_CONTENDED, &["x.lock"]);
    run.assert_success().assert_line("ok");
    let waited = run
        .value("elapsed_ms")
        .expect("the guest reports elapsed_ms");
    assert!(
        waited >= 300,
        "timed out after {waited} ms, before its 300 ms timeout"
    );
}

/// Locking a descriptor's open file again: the held mode changes nothing, a
/// conversion is done at once without another holder, and one unlock ends
/// whatever was held (on Windows, where `LockFileEx` locks stack per handle
/// and conflict with the handle's own, the host keeps the held mode).
pub(crate) fn filelock_handle_relock(flavour: Flavour) {
    let sandbox = Sandbox::new().with_flavour(flavour);
    sandbox
        .run(guests::FILELOCK_HANDLE_RELOCK, &[])
        .assert_success()
        .assert_line("ok");
    assert!(
        native::flock_n(&sandbox.path("r.lock")),
        "a lock outlived the guest"
    );
}

pub(crate) fn filelock_handle_local(flavour: Flavour) {
    Sandbox::new()
        .with_flavour(flavour)
        .run(guests::FILELOCK_HANDLE_LOCAL, &[])
        .assert_success()
        .assert_line("ok");
}

pub(crate) fn filelock_path_local(flavour: Flavour) {
    let sandbox = Sandbox::new().with_flavour(flavour);
    sandbox
        .run(guests::FILELOCK_PATH_LOCAL, &[])
        .assert_success()
        .assert_line("ok");
    // Every lock the scenario took is gone with its store.
    assert!(native::can_lock(&sandbox.path("a.lock"), Mode::Exclusive));
}

#[cfg(unix)]
pub(crate) fn filelock_path_sandbox(flavour: Flavour) {
    let sandbox = Sandbox::jailed().with_flavour(flavour);
    let secret = sandbox.outside().join("secret.lock");
    std::fs::write(&secret, "outside").unwrap();
    std::fs::create_dir(sandbox.path("subdir")).unwrap();
    std::fs::write(sandbox.path("target.txt"), "inside").unwrap();
    std::os::unix::fs::symlink(&secret, sandbox.path("link-out")).unwrap();
    std::os::unix::fs::symlink("target.txt", sandbox.path("link-in")).unwrap();
    let fifo =
        std::ffi::CString::new(sandbox.path("fifo").into_os_string().into_encoded_bytes()).unwrap();
    // SAFETY: `fifo` is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);

    sandbox
        .run(guests::FILELOCK_PATH_SANDBOX, &[])
        .assert_success()
        .assert_line("ok");

    // Nothing outside the preopen was created, truncated or left locked.
    let mut outside: Vec<_> = std::fs::read_dir(sandbox.outside())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    outside.sort();
    assert_eq!(outside, ["jail", "secret.lock"]);
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "outside");
    assert!(native::can_lock(&secret, Mode::Exclusive));
    assert!(!sandbox.outside().join("escape.lock").exists());
    // The link inside was not followed: its target was not truncated.
    assert_eq!(
        std::fs::read_to_string(sandbox.path("target.txt")).unwrap(),
        "inside"
    );
}

pub(crate) fn filelock_truncate(flavour: Flavour) {
    let sandbox = Sandbox::new().with_flavour(flavour);
    let path = sandbox.path("data.txt");
    std::fs::write(&path, "precious").unwrap();
    let mut holder = Holder::lock(&path, Mode::Exclusive);
    sandbox
        .run(guests::FILELOCK_TRUNCATE, &["data.txt", "timeout"])
        .assert_success();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "precious",
        "a waiter truncated the file while another holder had the lock"
    );
    holder.release();
    sandbox
        .run(guests::FILELOCK_TRUNCATE, &["data.txt", "ok"])
        .assert_success();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "mine");
}

pub(crate) fn filelock_panic_holding(flavour: Flavour) {
    let sandbox = Sandbox::new().with_flavour(flavour);
    let run = sandbox.run(guests::FILELOCK_PANIC_HOLDING, &["x.lock"]);
    assert!(run.trapped(), "the guest should trap: {run:?}");
    run.assert_line("locked");
    // The run's store is gone, and with it the lock.
    assert!(native::flock_n(&sandbox.path("x.lock")));
}

pub(crate) fn filelock_wait(flavour: Flavour) {
    for layer in ["path", "handle"] {
        let sandbox = Sandbox::new().with_flavour(flavour);
        let path = sandbox.path("x.lock");
        let mut holder = Holder::lock(&path, Mode::Exclusive);
        let guest = sandbox.spawn(guests::FILELOCK_WAIT, &["x.lock", layer]);
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            !guest.is_finished(),
            "the {layer} guest did not wait for the holder"
        );
        holder.release();
        let run = guest.join().unwrap();
        run.assert_success().assert_line("ok");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "guest");
    }
}

pub(crate) fn filelock_queue_order(flavour: Flavour) {
    let sandbox = Sandbox::new().with_flavour(flavour);
    let mut holder = Holder::lock(&sandbox.path("x.lock"), Mode::Exclusive);
    let names = ["first", "second", "third", "fourth"];
    let guests: Vec<_> = names
        .iter()
        .map(|name| {
            let guest = sandbox.spawn(guests::FILELOCK_QUEUE_ORDER, &["x.lock", name]);
            // Let each guest line up before the next one starts.
            std::thread::sleep(Duration::from_millis(300));
            guest
        })
        .collect();
    holder.release();
    for guest in guests {
        guest.join().unwrap().assert_success();
    }
    let order = std::fs::read_to_string(sandbox.path("order.txt")).unwrap();
    assert_eq!(
        order.lines().collect::<Vec<_>>(),
        names,
        "the host did not serve its waiters first-come-first-served"
    );
}

#[cfg(unix)]
pub(crate) fn filelock_atomic_write(flavour: Flavour) {
    let sandbox = Sandbox::new().with_flavour(flavour);
    std::fs::write(sandbox.path("old.txt"), "old").unwrap();
    std::fs::write(sandbox.path("target.txt"), "target").unwrap();
    std::os::unix::fs::symlink("target.txt", sandbox.path("link.txt")).unwrap();
    sandbox
        .run(guests::FILELOCK_ATOMIC_WRITE, &[])
        .assert_success()
        .assert_line("ok");
    assert_eq!(
        std::fs::read_to_string(sandbox.path("target.txt")).unwrap(),
        "target"
    );
    let mut left: Vec<String> = std::fs::read_dir(sandbox.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["link.txt", "new.txt", "old.txt", "race.txt", "target.txt"],
        "temporary files were left behind"
    );
}

pub(crate) fn filelock_rlock(flavour: Flavour) {
    let sandbox = Sandbox::new().with_flavour(flavour);
    let path = sandbox.path("r.lock");
    let guest = sandbox.spawn(guests::FILELOCK_RLOCK, &[]);
    reached(&sandbox, "held");
    assert!(
        !native::flock_n(&path),
        "one acquisition left must still hold the lock"
    );
    std::fs::write(sandbox.path("probed-held"), "").unwrap();
    reached(&sandbox, "free");
    assert!(native::flock_n(&path), "the last release must unlock");
    std::fs::write(sandbox.path("probed-free"), "").unwrap();
    guest.join().unwrap().assert_success().assert_line("ok");
}

pub(crate) fn filelock_temporary_counter(flavour: Flavour) {
    const GUESTS: usize = 6;
    const ROUNDS: u64 = 30;
    let sandbox = Sandbox::new().with_flavour(flavour);
    let rounds = ROUNDS.to_string();
    let guests: Vec<_> = (0..GUESTS)
        .map(|_| sandbox.spawn(guests::FILELOCK_TEMPORARY_COUNTER, &["t.lock", &rounds]))
        .collect();
    for guest in guests {
        guest.join().unwrap().assert_success();
    }
    let total: u64 = std::fs::read_to_string(sandbox.path("counter.txt"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        total,
        GUESTS as u64 * ROUNDS,
        "two holders held the temporary lock at once"
    );
    assert!(
        !sandbox.path("t.lock").exists(),
        "the temporary lock file was left behind"
    );
}

pub(crate) fn filelock_semaphore(flavour: Flavour) {
    let sandbox = Sandbox::new().with_flavour(flavour);
    let guest = sandbox.spawn(guests::FILELOCK_SEMAPHORE, &[]);
    reached(&sandbox, "full");
    for slot in ["jobs.00.lock", "jobs.01.lock"] {
        assert!(!native::flock_n(&sandbox.path(slot)), "{slot} is not held");
    }
    std::fs::write(sandbox.path("probed-full"), "").unwrap();
    guest.join().unwrap().assert_success().assert_line("ok");
}

pub(crate) fn filelock_options(flavour: Flavour) {
    let sandbox = Sandbox::new().with_flavour(flavour);
    sandbox
        .run(guests::FILELOCK_OPTIONS, &[])
        .assert_success()
        .assert_line("ok");
    assert_eq!(
        std::fs::read_to_string(sandbox.path("m.txt")).unwrap(),
        "Xbcdef!"
    );
    assert_eq!(
        std::fs::read_to_string(sandbox.path("w.txt")).unwrap(),
        "new"
    );
}

/// Waits until the guest in `sandbox` creates the checkpoint file `name`.
fn reached(sandbox: &Sandbox, name: &str) {
    assert!(
        portalocker_tests::eventually(Duration::from_secs(20), || sandbox.path(name).exists()),
        "the guest never reached `{name}`"
    );
}

pub(crate) fn filelock_upgrade(flavour: Flavour) {
    let sandbox = Sandbox::new().with_flavour(flavour);
    let path = sandbox.path("u.lock");
    let guest = sandbox.spawn(guests::FILELOCK_UPGRADE, &[]);
    for (step, shared_fits) in [("shared", true), ("exclusive", false), ("downgraded", true)] {
        reached(&sandbox, step);
        assert_eq!(
            native::can_lock(&path, Mode::Shared),
            shared_fits,
            "a native shared lock while the guest holds `{step}`"
        );
        assert!(
            !native::flock_n(&path),
            "flock -n got the lock while the guest holds `{step}`"
        );
        std::fs::write(sandbox.path(&format!("probed-{step}")), "").unwrap();
    }
    guest.join().unwrap().assert_success().assert_line("ok");
    assert!(native::flock_n(&path), "the lock outlived the guest");
}

pub(crate) fn filelock_pid(flavour: Flavour) {
    let sandbox = Sandbox::new().with_flavour(flavour);
    let _native = Holder::lock(&sandbox.path("native.pid.lock"), Mode::Exclusive);
    let mut gate = Holder::lock(&sandbox.path("gate"), Mode::Exclusive);
    let other = sandbox.spawn(
        guests::HOLD,
        &[
            "--layer",
            "pid",
            "--label",
            "other",
            "--until",
            "gate",
            "other.pid",
            "exclusive",
            "0",
        ],
    );
    let other_pid = sandbox.path("other.pid");
    assert!(
        portalocker_tests::eventually(Duration::from_secs(20), || other_pid.exists()),
        "the other instance never published itself"
    );
    let guest = sandbox.spawn(guests::FILELOCK_PID, &[]);
    reached(&sandbox, "pid-held");
    let sidecar = sandbox.path("app.pid.lock");
    assert!(!native::flock_n(&sidecar), "flock -n got a held PID file");
    assert_eq!(
        std::fs::read_to_string(sandbox.path("app.pid")).unwrap(),
        std::process::id().to_string(),
        "the PID file holds the host's process id"
    );
    std::fs::write(sandbox.path("pid-probed"), "").unwrap();
    let run = guest.join().unwrap();
    run.assert_success().assert_line("ok");
    assert_eq!(run.value("pid"), Some(u64::from(std::process::id())));
    gate.release();
    other
        .join()
        .unwrap()
        .assert_success()
        .assert_line("released");
    assert!(!other_pid.exists(), "a released PID file is removed");
    assert!(
        !sandbox.path("other.pid.lock").exists(),
        "and so is its lock file"
    );
}
