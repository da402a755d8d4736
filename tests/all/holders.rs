//! PID-file locks as other programs see them: portalocker's layout (the
//! lock on the sidecar `NAME.lock`, the process id alone in `NAME`, replaced
//! whole, never seen empty), and holders whose labels come from elsewhere.

use std::time::Duration;

use portalocker_tests::native::{self, Holder, Mode};
use portalocker_tests::ranges::can_lock_range;
use portalocker_tests::{Sandbox, eventually, guests};

#[test]
fn the_pid_file_holds_the_pid_alone_and_is_never_seen_empty() {
    const CYCLES: usize = 100;
    let sandbox = Sandbox::new();
    let pid_file = sandbox.path("app.pid");
    // Two instances at a time take and release the PID lock, again and
    // again, while this thread reads the PID file.
    let churn: Vec<_> = (0..2)
        .map(|_| {
            let component = portalocker_tests::component(guests::HOLD);
            let invocation = sandbox.invocation(&["--layer", "pid", "app.pid", "exclusive", "0"]);
            let runner = sandbox.runner();
            std::thread::spawn(move || {
                for _ in 0..CYCLES {
                    let outcome = runner.run(&component, &invocation).expect("run hold");
                    assert_eq!(outcome.exit.code(), 0, "{outcome:?}");
                }
            })
        })
        .collect();
    let me = std::process::id().to_string();
    let (mut seen, mut missing) = (0, 0);
    while !churn.iter().all(|holder| holder.is_finished()) {
        match std::fs::read_to_string(&pid_file) {
            Ok(text) => {
                assert_eq!(text, me, "a reader saw {text:?} in the PID file");
                seen += 1;
            }
            Err(_) => missing += 1,
        }
    }
    for holder in churn {
        holder.join().unwrap();
    }
    assert!(
        seen > 0,
        "never saw the PID file ({missing} reads found none)"
    );
    assert!(!pid_file.exists(), "a released PID file is removed");
    assert!(
        !sandbox.path("app.pid.lock").exists(),
        "and so is its lock file"
    );
}

#[test]
fn the_lock_is_on_the_sidecar_file() {
    let sandbox = Sandbox::new();
    let mut gate = Holder::lock(&sandbox.path("gate"), Mode::Exclusive);
    let guest = sandbox.spawn(
        guests::HOLD,
        &[
            "--layer",
            "pid",
            "--until",
            "gate",
            "app.pid",
            "exclusive",
            "0",
        ],
    );
    let sidecar = sandbox.path("app.pid.lock");
    assert!(
        eventually(Duration::from_secs(20), || sidecar.exists()
            && !native::flock_n(&sidecar)),
        "the guest never locked app.pid.lock"
    );
    assert!(
        eventually(Duration::from_secs(20), || sandbox.path("app.pid").exists()),
        "the guest never published its PID"
    );
    assert_eq!(
        std::fs::read_to_string(sandbox.path("app.pid")).unwrap(),
        std::process::id().to_string()
    );
    gate.release();
    guest.join().unwrap().assert_success();
}

#[test]
fn the_record_stays_readable_while_the_lock_is_held() {
    let sandbox = Sandbox::new();
    let mut gate = Holder::lock(&sandbox.path("gate"), Mode::Exclusive);
    let guest = sandbox.spawn(
        guests::HOLD,
        &[
            "--layer",
            "pid",
            "--label",
            "nightly",
            "--until",
            "gate",
            "app.pid",
            "exclusive",
            "0",
        ],
    );
    let sidecar = sandbox.path("app.pid.lock");
    assert!(
        eventually(Duration::from_secs(20), || sandbox.path("app.pid").exists()),
        "the guest never published its PID"
    );
    // The lock still excludes whole-file lockers...
    assert!(!native::flock_n(&sidecar), "a whole-file lock got in");
    // ...but not the record's bytes, which Windows' mandatory locks would
    // keep other handles from reading (on Unix `flock` and byte ranges never
    // meet, so there this holds in any case).
    assert!(
        can_lock_range(&sidecar, 0, 4096, Mode::Exclusive),
        "the record's bytes are locked"
    );
    let record = std::fs::read_to_string(&sidecar).unwrap();
    assert!(
        record.starts_with(&format!("{}\ninstance ", std::process::id()))
            && record.ends_with("label nightly\nend\n"),
        "{record:?}"
    );
    // Another instance that finds the lock held reads the holder from it.
    let tried = sandbox.run(
        guests::HOLD,
        &["--layer", "pid", "--try", "app.pid", "exclusive", "0"],
    );
    tried.assert_code(2);
    let holder = format!("holder: {} ", std::process::id());
    assert!(
        tried
            .stdout()
            .lines()
            .any(|line| line.starts_with(&holder) && line.ends_with(" nightly")),
        "{}",
        tried.stdout()
    );
    gate.release();
    guest.join().unwrap().assert_success();
}

#[test]
fn hold_escapes_the_labels_it_prints() {
    let sandbox = Sandbox::new();
    // A holder that is not a guest of a careful host published a label with
    // an escape sequence in it.
    let record = "4242\ninstance 7 8\nlabel \u{1b}[31mred\u{7}\nend\n";
    let mut held = Vec::new();
    for name in ["app.pid", "app.pid.lock"] {
        std::fs::write(sandbox.path(name), record).unwrap();
        held.push(Holder::lock(&sandbox.path(name), Mode::Exclusive));
    }
    let run = sandbox.run(
        guests::HOLD,
        &["--layer", "pid", "--try", "app.pid", "exclusive", "0"],
    );
    run.assert_code(2)
        .assert_line(r"holder: 4242 7\u{20}8 \u{1b}[31mred\u{7}");
    assert!(
        !run.stdout().chars().any(|c| c.is_control() && c != '\n'),
        "raw control characters in {:?}",
        run.stdout()
    );
}
