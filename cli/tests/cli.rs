//! The `portalocker` command line, run as a separate process.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

fn portalocker() -> Command {
    Command::new(env!("CARGO_BIN_EXE_portalocker"))
}

/// Whether `flock -n`, another process, gets an exclusive lock on `path` now.
#[cfg(unix)]
fn flock_n(path: &Path) -> bool {
    Command::new("flock")
        .arg("-n")
        .arg(path)
        .arg("true")
        .status()
        .expect("run flock(1)")
        .success()
}

/// Whether another locker gets an exclusive lock on `path` now: on Windows,
/// where `LockFileEx` locks belong to the handle, a handle of this process
/// opened separately.
#[cfg(windows)]
fn flock_n(path: &Path) -> bool {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    fs4::FileExt::try_lock(&file).is_ok()
}

/// Starts `portalocker run --dir DIR::/ hold ARGS...` and returns once it has
/// printed `locked`.
fn hold(dir: &Path, args: &[&str]) -> Child {
    let mut child = portalocker()
        .arg("run")
        .arg("--dir")
        .arg(format!("{}::/", dir.display()))
        .arg("hold")
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");
    child
}

fn one_line_error(output: &Output) -> String {
    assert!(!output.status.success(), "expected a failure: {output:?}");
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    assert_eq!(
        stderr.lines().count(),
        1,
        "expected one line, got:\n{stderr}"
    );
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn run_holds_a_real_lock_until_the_guest_exits() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.lock");
    let mut child = hold(dir.path(), &["x.lock", "exclusive", "1500"]);
    assert!(
        !flock_n(&file),
        "flock -n got the lock `portalocker run` holds"
    );
    assert!(child.wait().unwrap().success());
    assert!(flock_n(&file));
}

#[test]
fn two_run_processes_exclude_each_other_and_pass_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = hold(dir.path(), &["x.lock", "exclusive", "2000"]);
    let second = portalocker()
        .arg("run")
        .arg("--dir")
        .arg(format!("{}::/", dir.path().display()))
        .args(["hold", "--try", "x.lock", "shared", "0"])
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(2), "{second:?}");
    assert_eq!(
        String::from_utf8_lossy(&second.stdout).trim(),
        "error: already-locked"
    );
    assert!(first.wait().unwrap().success());
}

/// `portalocker run --dir DIR::/ hold ARGS...`, run to its end.
fn hold_output(dir: &Path, args: &[&str]) -> Output {
    portalocker()
        .arg("run")
        .arg("--dir")
        .arg(format!("{}::/", dir.display()))
        .arg("hold")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn two_run_processes_exclude_each_other_with_every_lock_class() {
    for layer in [
        "path",
        "handle",
        "reentrant",
        "temporary",
        "semaphore",
        "pid",
    ] {
        let dir = tempfile::tempdir().unwrap();
        // The first process holds its lock until it can lock `gate`, which
        // this test holds until it has seen the others fail.
        let gate = std::fs::File::create(dir.path().join("gate")).unwrap();
        fs4::FileExt::lock(&gate).unwrap();
        let mut first = hold(
            dir.path(),
            &[
                "--layer",
                layer,
                "--until",
                "gate",
                "x.lock",
                "exclusive",
                "0",
            ],
        );
        let tried = hold_output(
            dir.path(),
            &["--layer", layer, "--try", "x.lock", "exclusive", "0"],
        );
        assert_eq!(tried.status.code(), Some(2), "{layer}: {tried:?}");
        let stdout = String::from_utf8_lossy(&tried.stdout);
        assert!(
            stdout.contains("error: already-locked"),
            "{layer}: {stdout}"
        );
        if !matches!(layer, "semaphore" | "pid") {
            let waited = hold_output(
                dir.path(),
                &[
                    "--layer",
                    layer,
                    "--timeout",
                    "200",
                    "x.lock",
                    "shared",
                    "0",
                ],
            );
            assert_eq!(waited.status.code(), Some(3), "{layer}: {waited:?}");
        }
        fs4::FileExt::unlock(&gate).unwrap();
        assert!(first.wait().unwrap().success(), "{layer}");
        let after = hold_output(
            dir.path(),
            &["--layer", layer, "--try", "x.lock", "exclusive", "0"],
        );
        assert!(
            after.status.success(),
            "{layer} after the release: {after:?}"
        );
    }
}

#[test]
#[cfg_attr(
    windows,
    ignore = "a Windows path (drive letter, backslashes) given as `--dir D` becomes a guest \
              path the guest cannot resolve"
)]
fn env_reaches_the_guest_and_dir_defaults_to_the_same_name() {
    let dir = tempfile::tempdir().unwrap();
    // `--dir D` without `::GUEST` is visible to the guest as D itself.
    let path = dir.path().join("count.txt");
    let status = portalocker()
        .arg("run")
        .arg("--dir")
        .arg(dir.path())
        .args(["--env", "UNUSED=1", "counter"])
        .arg(&path)
        .arg("3")
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "3");
}

#[test]
fn user_errors_are_one_line_and_fail() {
    let dir = tempfile::tempdir().unwrap();
    let missing = portalocker()
        .args(["run", "no-such.wasm"])
        .output()
        .unwrap();
    assert!(one_line_error(&missing).contains("no-such.wasm"));

    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"not wasm").unwrap();
    let not_component = portalocker().arg("run").arg(&garbage).output().unwrap();
    assert!(one_line_error(&not_component).contains("not a WebAssembly component"));

    let bad_dir = portalocker()
        .args([
            "run",
            "--dir",
            "/no/such/dir::/",
            "hold",
            "x",
            "shared",
            "0",
        ])
        .output()
        .unwrap();
    assert!(one_line_error(&bad_dir).contains("/no/such/dir"));

    let empty_guest = portalocker()
        .args(["run", "--dir", "data::", "hold"])
        .output()
        .unwrap();
    assert!(!empty_guest.status.success());
    assert!(String::from_utf8_lossy(&empty_guest.stderr).contains("guest directory"));
}

#[test]
fn demo_loses_updates_without_locks_and_none_with_them() {
    let output = portalocker()
        .args(["demo", "--instances", "3", "--increments", "100"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let locked = stdout
        .lines()
        .find(|l| l.starts_with("with locks"))
        .expect("a `with locks` row");
    let cells: Vec<&str> = locked.split_whitespace().collect();
    // with locks | expected | got | lost | time
    assert_eq!(cells[2], "400", "{stdout}");
    assert_eq!(cells[3], "400", "{stdout}");
    assert_eq!(cells[4], "0", "{stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with("without locks")),
        "{stdout}"
    );
}

#[test]
fn run_keeps_compiled_components_in_its_cache_unless_told_not_to() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().join("portalocker");
    let run = |extra: &[&str]| {
        let output = portalocker()
            .env("PORTALOCKER_CACHE_DIR", &cache_dir)
            .arg("run")
            .args(extra)
            .arg("--dir")
            .arg(format!("{}::/", dir.path().display()))
            .args(["hold", "x.lock", "exclusive", "0"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
    };
    let entries = || std::fs::read_dir(&cache_dir).map_or(0, |dir| dir.count());
    run(&["--no-cache"]);
    assert_eq!(entries(), 0, "--no-cache wrote to the cache");
    run(&[]);
    assert_eq!(entries(), 1, "the first run stores the compiled component");
    run(&[]);
    assert_eq!(entries(), 1, "the second run reuses it");
}

#[test]
fn a_file_named_like_an_example_does_not_shadow_it() {
    let cwd = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(cwd.path().join("hold"), "a file that is no component").unwrap();
    let example = portalocker()
        .current_dir(cwd.path())
        .arg("run")
        .arg("--no-cache")
        .arg("--dir")
        .arg(format!("{}::/", dir.path().display()))
        .args(["hold", "x.lock", "exclusive", "0"])
        .output()
        .unwrap();
    assert!(example.status.success(), "{example:?}");
    assert_eq!(
        String::from_utf8_lossy(&example.stdout),
        "locked\nreleased\n"
    );
    let note = String::from_utf8_lossy(&example.stderr);
    assert!(
        note.contains("./hold"),
        "a note says how to run the file: {note}"
    );

    let file = portalocker()
        .current_dir(cwd.path())
        .args(["run", "--no-cache", "./hold"])
        .output()
        .unwrap();
    let error = one_line_error(&file);
    assert!(
        error.contains("./hold") && error.contains("not a WebAssembly component"),
        "{error}"
    );
}
