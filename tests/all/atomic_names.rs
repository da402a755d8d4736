//! The temporary files of atomic writes: long names, leftovers of crashed
//! writers, never removing another writer's temporary file, and the
//! directory flushed after the rename.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use portalocker_tests::{Flavour, Sandbox, eventually, guests, portalocker_bin, tool_missing};

/// Waits until the guest in `sandbox` creates the checkpoint file `name`.
fn reached(sandbox: &Sandbox, name: &str) {
    assert!(
        eventually(Duration::from_secs(20), || sandbox.path(name).exists()),
        "the guest never reached `{name}`"
    );
}

/// The names in `dir` of the temporary files of atomic writes of `target`.
fn temporaries(dir: &Path, target: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with(&format!(".{target}")) && name.ends_with(".tmp"))
        .collect()
}

/// Puts a file of somebody else's at the temporary name of the write of
/// `target` (moving the write's own file away); returns that name.
fn swap_in_a_foreign_file(sandbox: &Sandbox, target: &str) -> String {
    let [temporary] =
        <[String; 1]>::try_from(temporaries(sandbox.root(), target)).expect("one temporary file");
    std::fs::rename(
        sandbox.path(&temporary),
        sandbox.path(&format!("{target}.moved")),
    )
    .unwrap();
    std::fs::write(sandbox.path(&temporary), "foreign").unwrap();
    temporary
}

pub(crate) fn filelock_atomic_names(flavour: Flavour) {
    let sandbox = Sandbox::new().with_flavour(flavour);
    // Leftovers of writers that crashed, named as temporary files of this
    // process would once have been named.
    let leftovers: Vec<String> = (0..512)
        .map(|n| format!(".left.txt.{}-{n}.tmp", std::process::id()))
        .collect();
    for leftover in &leftovers {
        std::fs::write(sandbox.path(leftover), "crashed").unwrap();
    }
    let guest = sandbox.spawn(guests::FILELOCK_ATOMIC_NAMES, &[]);
    reached(&sandbox, "drop-started");
    let dropped = swap_in_a_foreign_file(&sandbox, "drop.txt");
    std::fs::write(sandbox.path("drop-swapped"), "").unwrap();
    reached(&sandbox, "fail-started");
    let failed = swap_in_a_foreign_file(&sandbox, "fail.txt");
    std::fs::write(sandbox.path("fail.txt"), "first").unwrap();
    std::fs::write(sandbox.path("fail-swapped"), "").unwrap();
    guest.join().unwrap().assert_success().assert_line("ok");

    assert_eq!(
        std::fs::read_to_string(sandbox.path("left.txt")).unwrap(),
        "mine"
    );
    for leftover in &leftovers {
        assert!(sandbox.path(leftover).exists(), "{leftover} was removed");
    }
    for temporary in [dropped, failed] {
        assert_eq!(
            std::fs::read_to_string(sandbox.path(&temporary))
                .ok()
                .as_deref(),
            Some("foreign"),
            "another writer's temporary file {temporary} was removed"
        );
    }
    assert_eq!(
        std::fs::read_to_string(sandbox.path("fail.txt")).unwrap(),
        "first"
    );
}

#[test]
fn the_directory_is_flushed_after_the_rename() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().canonicalize().unwrap();
    let trace = dir.join("trace");
    let run = Command::new("strace")
        .args([
            "-f",
            "-y",
            "-qq",
            "-e",
            "trace=rename,renameat,renameat2,fsync",
        ])
        .arg("-o")
        .arg(&trace)
        .arg(portalocker_bin())
        .args(["run", "--no-cache", "--dir"])
        .arg(format!("{}::/", dir.display()))
        .args([guests::WRITE_ATOMIC, "data.txt", "new contents"])
        .output();
    let Ok(run) = run else {
        tool_missing("strace", "install it: apt-get install strace");
        return;
    };
    let stderr = String::from_utf8_lossy(&run.stderr);
    if !run.status.success() && stderr.contains("strace: ") {
        tool_missing("strace that may trace its child", stderr.trim());
        return;
    }
    assert!(run.status.success(), "{run:?}");
    assert_eq!(
        std::fs::read_to_string(dir.join("data.txt")).unwrap(),
        "new contents"
    );
    let trace = std::fs::read_to_string(&trace).unwrap();
    let lines: Vec<&str> = trace.lines().collect();
    let renamed = lines
        .iter()
        .rposition(|line| {
            line.contains("rename") && line.contains("\"data.txt\"") && line.ends_with("= 0")
        })
        .unwrap_or_else(|| panic!("no rename onto data.txt in\n{trace}"));
    let directory = format!("<{}>", dir.display());
    assert!(
        lines[renamed..].iter().any(|line| line.contains("fsync(")
            && line.contains(&directory)
            && line.ends_with("= 0")),
        "the directory was not flushed after the rename:\n{trace}"
    );
}
