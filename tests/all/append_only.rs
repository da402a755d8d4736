//! portalocker's `'a'` mode on an append-only file (`chattr +a`), which the
//! kernel only lets a writer open for appending.

use std::path::Path;
use std::process::Command;

use portalocker_tests::{Flavour, Sandbox, guests, tool_missing};

/// Runs `chattr FLAG PATH`: `None` when there is no `chattr`, else whether
/// it worked.
fn chattr(flag: &str, path: &Path) -> Option<bool> {
    let output = Command::new("chattr").arg(flag).arg(path).output().ok()?;
    Some(output.status.success())
}

/// Takes the append-only attribute off again when dropped, so the sandbox
/// can be removed.
struct AppendOnly<'a>(&'a Path);

impl Drop for AppendOnly<'_> {
    fn drop(&mut self) {
        chattr("-a", self.0);
    }
}

pub(crate) fn filelock_append_only(flavour: Flavour) {
    // Under the target directory: the system's temporary directory is often
    // a tmpfs, which has no append-only attribute.
    let sandbox = Sandbox::new_in(env!("CARGO_TARGET_TMPDIR")).with_flavour(flavour);
    let log = sandbox.path("log.txt");
    std::fs::write(&log, "first").unwrap();
    match chattr("+a", &log) {
        Some(true) => {}
        None => {
            tool_missing("chattr", "install e2fsprogs");
            return;
        }
        Some(false) => {
            // Not a failure of ours: the `O_APPEND` flag itself is checked
            // by the host's unit tests on every Unix.
            eprintln!(
                "skipped: {} does not take `chattr +a` (root on ext4, xfs or btrfs is needed)",
                log.display()
            );
            return;
        }
    }
    let _undo = AppendOnly(&log);
    assert!(
        std::fs::OpenOptions::new().write(true).open(&log).is_err(),
        "the kernel let a writer without O_APPEND open an append-only file"
    );
    sandbox
        .run(guests::FILELOCK_APPEND_ONLY, &[])
        .assert_success()
        .assert_line("ok");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "first second");
}
