//! Guests written in Python, JavaScript and C lock files through the same WIT
//! as the Rust guests: a lock taken by one is seen by the others and by
//! native `flock(1)`.
//!
//! Each language's `hold` (in `guest/<language>/`) takes the command line of
//! the Rust `hold` guest: `[--layer path|handle|pid] [--label L] [--try]
//! [--timeout MS] [--until GATE] PATH MODE`. Its toolchain must be installed for it to be
//! built (`guest/<language>/install.sh`; CI installs them all and sets
//! `PORTALOCKER_REQUIRE_LANGUAGES=all`, so that a missing toolchain fails the
//! build there); without it, its test is ignored, with that reason.

use portalocker_tests::native::{self, Holder, Mode};
use portalocker_tests::{GuestRun, Sandbox, eventually, guests};

use crate::holding::{LONG, assert_failed_with, rust_and_native_see_held, wait_held};

/// The lock modes a test runs in, and whether a second holder in `shared`
/// fits next to the first.
const MODES: [(&str, bool); 2] = [("exclusive", false), ("shared", true)];

/// Runs every cross-language check for the guest `language` at `guest`.
fn interoperates(language: &str, guest: &str) {
    for layer in ["path", "handle"] {
        for (mode, shared_fits) in MODES {
            other_language_holds(language, guest, layer, mode, shared_fits);
            rust_and_native_hold(guest, layer, mode);
        }
    }
    pid_holders_are_named(language, guest);
}

/// The `holder: PID INSTANCE LABEL` line a contended PID-file lock prints,
/// split into its fields.
fn holder_line(run: &GuestRun) -> Vec<String> {
    let stdout = run.stdout();
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix("holder: "))
        .unwrap_or_else(|| panic!("no holder line in {stdout:?}"));
    line.split(' ').map(str::to_owned).collect()
}

/// Holds `app.pid` with `holder` (a PID-file `hold` with `--label`) behind a
/// gate; once the holder has published itself, `contender` tries the lock,
/// must fail with `already-locked` naming the holder (this process's id and
/// the label), and then the gate opens and the holder releases, removing the
/// PID file and its lock file.
fn pid_contention(
    sandbox: &Sandbox,
    holder: (&str, &[&str]),
    contender: (&str, &[&str]),
    label: &str,
) {
    let file = sandbox.path("app.pid");
    let sidecar = sandbox.path("app.pid.lock");
    let mut gate = Holder::lock(&sandbox.path("gate"), Mode::Exclusive);
    let (guest, args) = holder;
    let holding = sandbox.spawn(guest, args);
    assert!(
        eventually(LONG, || file.exists()),
        "the {label} holder never published itself"
    );
    assert!(!native::flock_n(&sidecar), "flock -n got a held PID file");
    let (guest, args) = contender;
    let contended = sandbox.run(guest, args);
    assert_failed_with(&contended, "already-locked");
    let fields = holder_line(&contended);
    assert_eq!(fields.len(), 3, "{fields:?}");
    assert_eq!(fields[0], std::process::id().to_string(), "the host's pid");
    assert_eq!(fields[2], label, "the holder's label");
    gate.release();
    holding
        .join()
        .unwrap()
        .assert_success()
        .assert_line("released");
    assert!(!file.exists(), "a released PID file is removed");
    assert!(!sidecar.exists(), "and so is its lock file");
}

/// PID-file locks name their holder across languages: the guest in
/// `language` holds `app.pid` labelled with its language and the Rust
/// guest's attempt names it; then the reverse.
fn pid_holders_are_named(language: &str, guest: &str) {
    let sandbox = Sandbox::new();
    let until = ["--layer", "pid", "--until", "gate", "--label"];
    let other_holds: Vec<&str> = until
        .iter()
        .copied()
        .chain([language, "app.pid", "exclusive"])
        .collect();
    let rust_tries = ["--layer", "pid", "--try", "app.pid", "exclusive", "0"];
    pid_contention(
        &sandbox,
        (guest, &other_holds),
        (guests::HOLD, &rust_tries),
        language,
    );
    let rust_holds: Vec<&str> = until
        .iter()
        .copied()
        .chain(["rust", "app.pid", "exclusive", "0"])
        .collect();
    let other_tries = ["--layer", "pid", "--try", "app.pid", "exclusive"];
    pid_contention(
        &sandbox,
        (guests::HOLD, &rust_holds),
        (guest, &other_tries),
        "rust",
    );
}

/// The guest in `language` holds x.lock: the Rust guest and native lockers
/// see it held (in `mode`); once it lets go, they get it, and the file holds
/// what the guest wrote through its lock.
fn other_language_holds(language: &str, guest: &str, layer: &str, mode: &str, shared_fits: bool) {
    let sandbox = Sandbox::new();
    let file = sandbox.path("x.lock");
    let mut gate = Holder::lock(&sandbox.path("gate"), Mode::Exclusive);
    let holder = sandbox.spawn(
        guest,
        &["--layer", layer, "--until", "gate", "x.lock", mode],
    );
    let who = format!("the {language} guest ({layer}, {mode})");
    wait_held(&sandbox, "x.lock", &who);
    rust_and_native_see_held(&sandbox, "x.lock", &["path", "handle"], shared_fits, &who);
    gate.release();
    holder
        .join()
        .unwrap()
        .assert_success()
        .assert_line("locked")
        .assert_line("released");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        format!("held by {language}\n"),
        "what the {language} guest wrote through its lock"
    );
    assert!(
        native::flock_n(&file),
        "the {language} guest's lock outlived it"
    );
}

/// The reverse: the Rust guest, then a native process, hold x.lock (in
/// `mode`); the other-language guest's single attempt fails with
/// `already-locked` where the modes conflict, and its timed wait with
/// `timed-out`.
fn rust_and_native_hold(guest: &str, layer: &str, mode: &str) {
    let sandbox = Sandbox::new();
    let file = sandbox.path("x.lock");
    let mut gate = Holder::lock(&sandbox.path("gate"), Mode::Exclusive);
    let rust = sandbox.spawn(
        guests::HOLD,
        &["--layer", layer, "--until", "gate", "x.lock", mode, "0"],
    );
    wait_held(&sandbox, "x.lock", "the Rust guest");
    let exclusive = sandbox.run(guest, &["--layer", layer, "--try", "x.lock", "exclusive"]);
    assert_failed_with(&exclusive, "already-locked");
    let timed = sandbox.run(
        guest,
        &["--layer", layer, "--timeout", "200", "x.lock", "exclusive"],
    );
    assert_failed_with(&timed, "timed-out");
    let shared = sandbox.run(guest, &["--layer", layer, "--try", "x.lock", "shared"]);
    if mode == "shared" {
        shared.assert_success().assert_line("released");
    } else {
        assert_failed_with(&shared, "already-locked");
    }
    gate.release();
    rust.join().unwrap().assert_success();

    let native_mode = if mode == "shared" {
        Mode::Shared
    } else {
        Mode::Exclusive
    };
    let mut native_holder = Holder::lock(&file, native_mode);
    let blocked = sandbox.run(guest, &["--layer", layer, "--try", "x.lock", "exclusive"]);
    assert_failed_with(&blocked, "already-locked");
    native_holder.release();
    sandbox
        .run(guest, &["--layer", layer, "--try", "x.lock", "exclusive"])
        .assert_success()
        .assert_line("released");
}

#[test]
#[cfg_attr(
    not(has_python_hold),
    ignore = "the Python toolchain is not installed: run guest/python/install.sh"
)]
fn python_guest_locks_interoperate() {
    interoperates("python", guests::PYTHON_HOLD.expect("built"));
}

#[test]
#[cfg_attr(
    not(has_javascript_hold),
    ignore = "the JavaScript toolchain is not installed: run guest/js/install.sh"
)]
fn javascript_guest_locks_interoperate() {
    interoperates("javascript", guests::JAVASCRIPT_HOLD.expect("built"));
}

#[test]
#[cfg_attr(
    not(has_c_hold),
    ignore = "the C toolchain is not installed: run guest/c/install.sh"
)]
fn c_guest_locks_interoperate() {
    interoperates("c", guests::C_HOLD.expect("built"));
}
