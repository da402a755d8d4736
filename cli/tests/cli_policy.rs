//! `portalocker run`'s host policy options, run as a separate process.

use std::process::{Command, Output};

fn run(dir: &std::path::Path, options: &[&str], guest_args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portalocker"))
        .arg("run")
        .args(options)
        .arg(format!("{}::/", dir.display()))
        .args(guest_args)
        .output()
        .expect("run portalocker")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn read_only_dir_refuses_writes_and_exclusive_locks() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x.lock"), "keep").unwrap();
    // A shared lock needs no writing: `hold` opens the file for reading.
    for layer in ["path", "handle", "reentrant"] {
        let shared = run(
            dir.path(),
            &["--dir-ro"],
            &["hold", "--layer", layer, "--try", "x.lock", "shared", "0"],
        );
        assert!(shared.status.success(), "{layer}: {shared:?}");
        assert_eq!(stdout(&shared), "locked\nreleased", "{layer}");
    }
    // An exclusive one is refused by the host's policy.
    let exclusive = run(
        dir.path(),
        &["--dir-ro"],
        &["hold", "--try", "x.lock", "exclusive", "0"],
    );
    assert_eq!(exclusive.status.code(), Some(1), "{exclusive:?}");
    assert_eq!(stdout(&exclusive), "error: denied");
    // And nothing may be created there.
    let missing = run(
        dir.path(),
        &["--dir-ro"],
        &["hold", "--try", "new.lock", "shared", "0"],
    );
    assert_eq!(missing.status.code(), Some(1), "{missing:?}");
    assert!(!dir.path().join("new.lock").exists());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("x.lock")).unwrap(),
        "keep"
    );
}

#[test]
fn max_wait_caps_a_wait_without_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let file = std::fs::File::create(dir.path().join("x.lock")).unwrap();
    fs4::FileExt::lock(&file).unwrap();
    let output = run(
        dir.path(),
        &["--max-wait-ms", "200", "--dir"],
        &["hold", "x.lock", "exclusive", "0"],
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(stdout(&output), "error: limit-reached");
}

#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "the policy learns an open directory's real path from /proc/self/fd only: \
              elsewhere `--lock-dir` denies every lock"
)]
fn lock_dir_confines_locking() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("locks")).unwrap();
    let locks = dir.path().join("locks");
    let allowed = run(
        dir.path(),
        &["--lock-dir", locks.to_str().unwrap(), "--dir"],
        &["hold", "--try", "locks/x.lock", "exclusive", "0"],
    );
    assert!(allowed.status.success(), "{allowed:?}");
    let denied = run(
        dir.path(),
        &["--lock-dir", locks.to_str().unwrap(), "--dir"],
        &["hold", "--try", "x.lock", "exclusive", "0"],
    );
    assert_eq!(stdout(&denied), "error: denied", "{denied:?}");
    assert!(
        !dir.path().join("x.lock").exists(),
        "a denied lock created its file"
    );

    let missing = run(
        dir.path(),
        &["--lock-dir", "/no/such/dir", "--dir"],
        &["hold", "x", "shared", "0"],
    );
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("/no/such/dir"), "{stderr}");
}

#[test]
#[cfg(unix)]
fn a_lock_denied_by_lock_dir_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["locks", "other"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
    }
    // The path is under the allowed directory, the file it reaches is not.
    std::os::unix::fs::symlink("../other", dir.path().join("locks/elsewhere")).unwrap();
    let locks = dir.path().join("locks");
    let denied = run(
        dir.path(),
        &["--lock-dir", locks.to_str().unwrap(), "--dir"],
        &["hold", "--try", "locks/elsewhere/x.lock", "exclusive", "0"],
    );
    assert_eq!(stdout(&denied), "error: denied", "{denied:?}");
    assert!(
        !dir.path().join("other/x.lock").exists(),
        "a denied lock created its file"
    );
}
