//! Existing code locks unchanged: a Rust guest's `std::fs::File` (through
//! `FileLockExt` and the fs4-compatible `fs4::FileExt`), a Python guest
//! running portalocker 4.4.2 and filelock 4.3.1 from PyPI, unmodified, over
//! our `fcntl` module (`guest/python/portalocker-wasi-fcntl`), and a C guest
//! calling plain `flock(2)` (`guest/c/flock/portalocker_flock.c`). Each
//! excludes native `flock(1)` and the other guests, and theirs exclude it;
//! portalocker's own test suite runs inside a Python guest.
//!
//! The Python and C guests need their toolchains (`guest/<language>/install.sh`);
//! without one its tests are ignored, with that reason (CI requires them).

use std::time::Duration;

use portalocker_tests::native::{self, Holder, Mode};
use portalocker_tests::{Flavour, GuestRun, Sandbox, guests};

use crate::holding::{assert_failed_with, rust_and_native_see_held, wait_held};

/// The layers of the Rust `hold` guest that try a lock someone else holds:
/// the WIT's two, and a `std::fs::File` through each of our traits.
const RUST_LAYERS: [&str; 4] = ["path", "handle", "std", "fs4"];

/// Runs `holder` (a guest and its arguments, which must hold x.lock until
/// they can take a shared lock on `gate`) while the test holds `gate`;
/// checks that `flock -n` and the Rust guest through every layer see x.lock
/// held (in shared mode, that a shared lock still fits), then lets go and
/// checks that the lock went with the holder.
fn holds_against_native_and_rust(holder: (&str, &[&str]), shared: bool, who: &str) -> GuestRun {
    let sandbox = Sandbox::new();
    let mut gate = Holder::lock(&sandbox.path("gate"), Mode::Exclusive);
    let running = sandbox.spawn(holder.0, holder.1);
    wait_held(&sandbox, "x.lock", who);
    rust_and_native_see_held(&sandbox, "x.lock", &RUST_LAYERS, shared, who);
    gate.release();
    let run = running.join().unwrap();
    run.assert_success()
        .assert_line("locked")
        .assert_line("released");
    assert!(
        native::flock_n(&sandbox.path("x.lock")),
        "the lock {who} held outlived it"
    );
    run
}

/// The other way round: the Rust guest (through `std::fs::File`) and then a
/// native process hold x.lock exclusively, and `guest` with `args` (before
/// `--try` or `--timeout MS` and the path) fails with `already-locked`, and
/// with `timed-out` when `timed`; once the holder is gone it succeeds.
fn blocked_by_rust_and_native(guest: &str, args: &[&str], timed: bool) {
    let sandbox = Sandbox::new();
    let run = |extra: &[&str]| {
        let all: Vec<&str> = args.iter().chain(extra).copied().collect();
        sandbox.run(guest, &all)
    };
    let mut gate = Holder::lock(&sandbox.path("gate"), Mode::Exclusive);
    let rust = sandbox.spawn(
        guests::HOLD,
        &[
            "--layer",
            "std",
            "--until",
            "gate",
            "x.lock",
            "exclusive",
            "0",
        ],
    );
    wait_held(&sandbox, "x.lock", "the Rust guest's std File");
    assert_failed_with(&run(&["--try", "x.lock"]), "already-locked");
    if timed {
        assert_failed_with(&run(&["--timeout", "200", "x.lock"]), "timed-out");
    }
    gate.release();
    rust.join().unwrap().assert_success();

    let mut native_holder = Holder::lock(&sandbox.path("x.lock"), Mode::Exclusive);
    assert_failed_with(&run(&["--try", "x.lock"]), "already-locked");
    native_holder.release();
    run(&["--try", "x.lock"])
        .assert_success()
        .assert_line("released");
}

/// Starts `guest` with `args` (a blocking lock on x.lock) while a native
/// process holds x.lock exclusively, checks that it is still waiting a
/// while later, lets go, and checks that it then got the lock.
fn waits_for_native(sandbox: &Sandbox, guest: &str, args: &[&str], who: &str) {
    let mut native_holder = Holder::lock(&sandbox.path("x.lock"), Mode::Exclusive);
    let waiter = sandbox.spawn(guest, args);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !waiter.is_finished(),
        "{who} did not wait for the native holder"
    );
    native_holder.release();
    waiter
        .join()
        .unwrap()
        .assert_success()
        .assert_line("locked")
        .assert_line("released");
}

/// The `filelock_std_file` scenario: `FileLockExt` and `fs4::FileExt` on
/// `std::fs::File`s inside one guest, checked by the guest.
pub(crate) fn filelock_std_file(flavour: Flavour) {
    Sandbox::new()
        .with_flavour(flavour)
        .run(guests::FILELOCK_STD_FILE, &[])
        .assert_success()
        .assert_line("std File::try_lock: unsupported")
        .assert_line("fs4 FileExt: ok")
        .assert_line("ok");
}

#[test]
fn rust_std_file_excludes_native_and_other_guests() {
    for layer in ["std", "fs4"] {
        for (mode, shared) in [("exclusive", false), ("shared", true)] {
            let args = ["--layer", layer, "--until", "gate", "x.lock", mode, "0"];
            holds_against_native_and_rust(
                (guests::HOLD, &args),
                shared,
                &format!("the Rust guest's {layer} File ({mode})"),
            );
        }
    }
}

#[test]
fn rust_std_file_waits_for_native_and_other_guests() {
    let sandbox = Sandbox::new();
    let mut gate = Holder::lock(&sandbox.path("gate"), Mode::Exclusive);
    let path_holder = sandbox.spawn(
        guests::HOLD,
        &[
            "--layer", "path", "--until", "gate", "x.lock", "shared", "0",
        ],
    );
    wait_held(&sandbox, "x.lock", "the Rust path-layer guest");
    let timed = sandbox.run(
        guests::HOLD,
        &[
            "--layer",
            "std",
            "--timeout",
            "200",
            "x.lock",
            "exclusive",
            "0",
        ],
    );
    assert_failed_with(&timed, "timed-out");
    gate.release();
    path_holder.join().unwrap().assert_success();

    for layer in ["std", "fs4"] {
        for mode in ["exclusive", "shared"] {
            waits_for_native(
                &sandbox,
                guests::HOLD,
                &["--layer", layer, "x.lock", mode, "0"],
                &format!("the Rust guest's {layer} File ({mode})"),
            );
        }
    }
}

/// The Python `existing` guest.
fn python() -> &'static str {
    guests::PYTHON_EXISTING.expect("built")
}

#[test]
#[cfg_attr(
    not(has_python_existing),
    ignore = "the Python toolchain is not installed: run guest/python/install.sh"
)]
#[cfg_attr(
    windows,
    ignore = "Python's libraries remove or rename over lock files they hold open, and on Windows \
              wasmtime-wasi opens a guest's files without FILE_SHARE_DELETE, so that is refused"
)]
fn python_fcntl_semantics_in_guest() {
    Sandbox::new()
        .run(python(), &["checks"])
        .assert_success()
        .assert_line("portalocker second Lock: AlreadyLocked")
        .assert_line("filelock second FileLock: Timeout")
        .assert_line("ok");
}

#[test]
#[cfg_attr(
    not(has_python_existing),
    ignore = "the Python toolchain is not installed: run guest/python/install.sh"
)]
#[cfg_attr(
    windows,
    ignore = "Python's libraries remove or rename over lock files they hold open, and on Windows \
              wasmtime-wasi opens a guest's files without FILE_SHARE_DELETE, so that is refused"
)]
fn python_libraries_exclude_native_and_rust() {
    // filelock's FileLock is exclusive only.
    let holders: [(&str, &[&str], bool); 6] = [
        ("portalocker", &[], false),
        ("portalocker", &["--shared"], true),
        ("filelock", &[], false),
        ("fcntl", &[], false),
        ("fcntl", &["--shared"], true),
        ("fcntl", &["--lockf"], false),
    ];
    for (library, options, shared) in holders {
        let args: Vec<&str> = std::iter::once(library)
            .chain(options.iter().copied())
            .chain(["--until", "gate", "x.lock"])
            .collect();
        let run = holds_against_native_and_rust(
            (python(), &args),
            shared,
            &format!("Python's {library} {options:?}"),
        );
        if library == "filelock" {
            run.assert_line("backend: UnixFileLock");
        }
    }
}

#[test]
#[cfg_attr(
    not(has_python_existing),
    ignore = "the Python toolchain is not installed: run guest/python/install.sh"
)]
fn python_libraries_wait_for_native_and_rust() {
    blocked_by_rust_and_native(python(), &["portalocker"], true);
    blocked_by_rust_and_native(python(), &["filelock"], true);
    blocked_by_rust_and_native(python(), &["fcntl"], false);
    // A blocking `fcntl.flock` waits in the host until the holder lets go.
    waits_for_native(
        &Sandbox::new(),
        python(),
        &["fcntl", "x.lock"],
        "Python's blocking fcntl.flock",
    );
}

#[test]
#[cfg_attr(
    not(has_python_existing),
    ignore = "the Python toolchain is not installed: run guest/python/install.sh"
)]
#[cfg_attr(
    windows,
    ignore = "Python's libraries remove or rename over lock files they hold open, and on Windows \
              wasmtime-wasi opens a guest's files without FILE_SHARE_DELETE, so that is refused"
)]
fn portalocker_test_suite_passes_in_guest() {
    let run = Sandbox::new().run(python(), &["suite", "/suite"]);
    run.assert_success();
    let stdout = run.stdout();
    let line = stdout
        .lines()
        .find(|line| line.starts_with("suite: "))
        .unwrap_or_else(|| panic!("no summary in {stdout}"));
    println!("{line}");
    let count = |what: &str| -> u32 {
        line["suite: ".len()..]
            .split(", ")
            .find_map(|part| part.strip_suffix(what)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no `{what}` count in {line:?}"))
    };
    assert_eq!(count("failed") + count("errors"), 0, "{line}\n{stdout}");
    // 287 of portalocker 4.4.2's tests apply inside one guest (3 more skip
    // themselves off Windows or without `os.chflags`); fewer passing means
    // that tests were skipped or not collected.
    let passed = count("passed");
    assert!(
        passed >= 287,
        "only {passed} of portalocker's tests passed: {line}"
    );
}

/// The C `existing` guest.
fn c() -> &'static str {
    guests::C_EXISTING.expect("built")
}

#[test]
#[cfg_attr(
    not(has_c_existing),
    ignore = "the C toolchain is not installed: run guest/c/install.sh"
)]
#[cfg_attr(
    windows,
    ignore = "the guest renames a file over one it holds open, and on Windows wasmtime-wasi \
              opens a guest's files without FILE_SHARE_DELETE, so that is refused"
)]
fn c_flock_semantics_in_guest() {
    Sandbox::new()
        .run(c(), &["checks"])
        .assert_success()
        .assert_line("lock through fileno(fopen()): ok")
        .assert_line("file replaced since it was opened: ok")
        .assert_line("ok");
}

#[test]
#[cfg_attr(
    not(has_c_existing),
    ignore = "the C toolchain is not installed: run guest/c/install.sh"
)]
fn c_flock_excludes_native_and_rust() {
    for (options, shared) in [(&[][..], false), (&["--shared"][..], true)] {
        let args: Vec<&str> = std::iter::once("flock")
            .chain(options.iter().copied())
            .chain(["--until", "gate", "x.lock"])
            .collect();
        holds_against_native_and_rust((c(), &args), shared, &format!("C's flock {options:?}"));
    }
}

#[test]
#[cfg_attr(
    not(has_c_existing),
    ignore = "the C toolchain is not installed: run guest/c/install.sh"
)]
fn c_flock_waits_for_native_and_rust() {
    blocked_by_rust_and_native(c(), &["flock"], false);
    waits_for_native(
        &Sandbox::new(),
        c(),
        &["flock", "x.lock"],
        "C's blocking flock",
    );
}
