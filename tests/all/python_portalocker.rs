//! On-disk compatibility with Python's portalocker (4.4.2, the version
//! `tests/python/install.sh` pins): for each lock class a real portalocker
//! process (`tests/python/peer.py`) and a guest lock the same name, and each
//! excludes the other, in both directions. Without the venv these tests are
//! ignored; CI installs it and requires it.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};
use std::time::Duration;

use portalocker_tests::native;
use portalocker_tests::{GuestRun, Sandbox, eventually, guests};

const LONG: Duration = Duration::from_secs(30);

/// The venv's interpreter, found by the build script.
fn python() -> &'static str {
    match option_env!("PORTALOCKER_PYTHON") {
        Some(python) => python,
        None => panic!("Python's portalocker is not installed: run tests/python/install.sh"),
    }
}

/// `peer.py ARGS`, run in the sandbox directory.
fn peer(sandbox: &Sandbox, args: &[&str]) -> Command {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/peer.py");
    let mut command = Command::new(python());
    command.arg(script).args(args).current_dir(sandbox.root());
    command
}

/// A portalocker process holding a lock until [`PythonHolder::release`].
struct PythonHolder {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl PythonHolder {
    /// Starts `peer.py hold CLASS PATH` and returns once it holds the lock.
    fn start(sandbox: &Sandbox, class: &str, path: &str) -> PythonHolder {
        let mut child = peer(sandbox, &["hold", class, path])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the Python peer");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(
            line.trim(),
            "locked",
            "Python's {class} did not lock {path}"
        );
        PythonHolder {
            child,
            stdin,
            stdout,
        }
    }

    /// The holder's process id.
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Lets go of the lock and waits for the process to end.
    fn release(mut self) {
        writeln!(self.stdin).unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "released");
        assert!(self.child.wait().unwrap().success());
    }
}

/// `peer.py try CLASS PATH`.
fn python_try(sandbox: &Sandbox, class: &str, path: &str) -> Output {
    peer(sandbox, &["try", class, path])
        .output()
        .expect("run the Python peer")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The guest's single attempt with `hold --layer LAYER --try PATH exclusive 0`.
fn guest_try(sandbox: &Sandbox, layer: &str, path: &str) -> GuestRun {
    sandbox.run(
        guests::HOLD,
        &["--layer", layer, "--try", path, "exclusive", "0"],
    )
}

/// One class: `class` in Python and `layer` in the `hold` guest, both on
/// `path`, the OS lock being on `lock_file`. Python holds and the guest is
/// refused, then the guest holds and Python is refused; each gets the lock
/// once the other let go. Returns the sandbox for checks of the files left.
fn excludes_both_ways(class: &str, layer: &str, path: &str, lock_file: &str) -> Sandbox {
    let sandbox = Sandbox::new();

    let holder = PythonHolder::start(&sandbox, class, path);
    let refused = guest_try(&sandbox, layer, path);
    refused.assert_code(2).assert_line("error: already-locked");
    if class == "pid" {
        refused.assert_line(&format!("holder: {} - -", holder.pid()));
    }
    holder.release();
    guest_try(&sandbox, layer, path)
        .assert_success()
        .assert_line("released");

    let gate = sandbox.path("gate");
    let mut gate_holder = native::Holder::lock(&gate, native::Mode::Exclusive);
    let guest = sandbox.spawn(
        guests::HOLD,
        &["--layer", layer, "--until", "gate", path, "exclusive", "0"],
    );
    let held = sandbox.path(lock_file);
    assert!(
        eventually(LONG, || held.exists() && !native::flock_n(&held)),
        "the guest never held {lock_file}"
    );
    let refused = python_try(&sandbox, class, path);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(
        stdout(&refused).lines().any(|l| l == "already-locked"),
        "Python's {class} got the lock the guest holds: {refused:?}"
    );
    if class == "pid" {
        assert!(
            stdout(&refused)
                .lines()
                .any(|l| l == format!("holder: {}", std::process::id())),
            "Python's PidFileLock did not read the guest's host pid: {refused:?}"
        );
    }
    gate_holder.release();
    guest.join().unwrap().assert_success();
    let acquired = python_try(&sandbox, class, path);
    assert!(acquired.status.success(), "{acquired:?}");
    assert_eq!(stdout(&acquired).trim(), "acquired");
    sandbox
}

/// The names left in the sandbox but the gate file.
fn left(sandbox: &Sandbox) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(sandbox.root())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != "gate")
        .collect();
    names.sort();
    names
}

#[test]
#[cfg_attr(
    not(has_python_portalocker),
    ignore = "Python's portalocker is not installed: run tests/python/install.sh"
)]
fn python_lock_and_guest_path_lock_exclude_each_other() {
    let sandbox = excludes_both_ways("lock", "path", "x.lock", "x.lock");
    assert_eq!(left(&sandbox), ["x.lock"]);
}

#[test]
#[cfg_attr(
    not(has_python_portalocker),
    ignore = "Python's portalocker is not installed: run tests/python/install.sh"
)]
fn python_rlock_and_guest_reentrant_lock_exclude_each_other() {
    let sandbox = excludes_both_ways("rlock", "reentrant", "x.lock", "x.lock");
    assert_eq!(left(&sandbox), ["x.lock"]);
}

#[test]
#[cfg_attr(
    not(has_python_portalocker),
    ignore = "Python's portalocker is not installed: run tests/python/install.sh"
)]
fn python_temporary_file_lock_and_guest_temporary_lock_exclude_each_other() {
    let sandbox = excludes_both_ways("temporary", "temporary", "t.lock", "t.lock");
    assert!(
        left(&sandbox).is_empty(),
        "left behind: {:?}",
        left(&sandbox)
    );
}

#[test]
#[cfg_attr(
    not(has_python_portalocker),
    ignore = "Python's portalocker is not installed: run tests/python/install.sh"
)]
fn python_pid_file_lock_and_guest_pid_lock_exclude_each_other() {
    let sandbox = excludes_both_ways("pid", "pid", "app.pid", "app.pid.lock");
    assert!(
        left(&sandbox).is_empty(),
        "left behind: {:?}",
        left(&sandbox)
    );
}

#[test]
#[cfg_attr(
    not(has_python_portalocker),
    ignore = "Python's portalocker is not installed: run tests/python/install.sh"
)]
fn python_bounded_semaphore_and_guest_semaphore_exclude_each_other() {
    let sandbox = excludes_both_ways("semaphore", "semaphore", "sem", "sem.00.lock");
    assert_eq!(left(&sandbox), ["sem.00.lock"]);
}
