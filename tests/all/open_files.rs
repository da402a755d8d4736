//! A host out of file descriptors tells the guest so: `limit-reached` with
//! the limit `open-files`, "too many open files", never a bare `io`.

use std::process::Command;

use portalocker_tests::{guests, portalocker_bin, tool_missing};

#[test]
fn running_out_of_file_descriptors_says_so() {
    let dir = tempfile::tempdir().unwrap();
    // util-linux prlimit: the CLI may open at most 64 files.
    let run = Command::new("prlimit")
        .arg("--nofile=64")
        .arg(portalocker_bin())
        .args(["run", "--no-cache", "--dir"])
        .arg(format!("{}::/", dir.path().display()))
        .args([guests::LOCK_MANY, "1000"])
        .output();
    let Ok(run) = run else {
        tool_missing("prlimit", "install util-linux");
        return;
    };
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stdout}\n{stderr}");
    assert_eq!(stdout.trim(), "error: limit-reached", "{stderr}");
    assert!(stderr.contains("too many open files"), "{stderr}");
}
