//! `filelock_path_sandbox`
//!
//! The path layer against the sandbox. The host prepares, inside the preopen
//! `/`: a directory `subdir`, a symbolic link `link-out` to an absolute path
//! outside the preopen, a symbolic link `link-in` to `target.txt` inside it,
//! and a FIFO `fifo`. Paths that leave the preopen fail with `bad-path`,
//! directories and FIFOs with `not-lockable` (promptly), and a link at the
//! lock path with `bad-path` even when it stays inside. Also checks the pure preopen resolver. Prints `<case>: <kind>` per
//! check, then `ok`.

use std::time::{Duration, Instant};

use portalocker_guest::preopens::{resolve, resolve_in};
use portalocker_guest::{ErrorKind, Lock};
use portalocker_programs::{elapsed_ms, expect_kind, expect_ok};
use wasip2::filesystem::types::PathFlags;

fn main() {
    resolver();
    sandbox();
    println!("ok");
}

/// Checks `resolve_in(preopens, path)` against `expected` (the preopen's name
/// and the relative path, or `None` for `bad-path`).
#[track_caller]
fn check_resolve(preopens: &[&str], path: &str, expected: Option<(&str, &str)>) {
    let case = format!("resolve {path:?} in {preopens:?}");
    match (resolve_in(preopens, path), expected) {
        (Ok((index, relative)), Some((name, rel))) => {
            println!("{case}: ({:?}, {relative:?})", preopens[index]);
            assert_eq!((preopens[index], relative.as_str()), (name, rel), "{case}");
        }
        (Err(error), None) => {
            println!("{case}: {}", error.kind().name());
            assert_eq!(error.kind(), ErrorKind::BadPath, "{case}: {error}");
        }
        (result, expected) => panic!("{case}: got {result:?}, expected {expected:?}"),
    }
}

/// The pure resolver logic.
fn resolver() {
    let both = ["/", "/data"];
    check_resolve(&both, "data/x", Some(("/data", "x")));
    check_resolve(&both, "/data/./y", Some(("/data", "y")));
    check_resolve(&both, "datax/z", Some(("/", "datax/z")));
    check_resolve(&both, "/data", Some(("/data", ".")));
    check_resolve(&both, "data/", Some(("/data", ".")));
    check_resolve(&both, "./data//sub/./f", Some(("/data", "sub/f")));
    check_resolve(&both, "/", Some(("/", ".")));
    check_resolve(&both, "x", Some(("/", "x")));
    check_resolve(&both, "/data/../x", Some(("/data", "../x")));
    check_resolve(&both, "../x", Some(("/", "../x")));
    check_resolve(&both, "", None);
    check_resolve(&["."], "x", Some((".", "x")));
    check_resolve(&["."], "/x/y", Some((".", "x/y")));
    check_resolve(&["./"], "./x", Some(("./", "x")));
    check_resolve(&["/data/"], "/data/x", Some(("/data/", "x")));
    check_resolve(&["/data"], "/other/x", None);
    check_resolve(&["/data"], "x", None);
    check_resolve(&[], "x", None);
    check_resolve(&["/a", "/a/b", "/"], "/a/b/c", Some(("/a/b", "c")));
    check_resolve(&["/a/b", "/a"], "/a/bc", Some(("/a", "bc")));
}

/// Paths that leave the preopen, objects that are not regular files.
fn sandbox() {
    let (root, relative) = expect_ok("resolve /", resolve("/"));
    assert_eq!(relative, ".");

    expect_kind(
        "../escape.lock",
        Lock::new("../escape.lock").acquire(),
        ErrorKind::BadPath,
    );
    expect_kind(
        "/abs.lock in /",
        Lock::new("/abs.lock").acquire_in(&root),
        ErrorKind::BadPath,
    );
    expect_kind(
        "subdir/../../escape.lock",
        Lock::new("subdir/../../escape.lock").acquire(),
        ErrorKind::BadPath,
    );
    expect_kind(
        "link-out",
        Lock::new("link-out").acquire(),
        ErrorKind::BadPath,
    );
    expect_kind(
        "subdir",
        Lock::new("subdir").acquire(),
        ErrorKind::NotLockable,
    );

    let start = Instant::now();
    let result = Lock::new("fifo").no_wait().acquire();
    let elapsed = elapsed_ms(start);
    expect_kind("fifo", result, ErrorKind::NotLockable);
    println!("fifo elapsed_ms={elapsed}");
    assert!(elapsed < 5000, "locking the FIFO took {elapsed} ms");
    let start = Instant::now();
    let result = Lock::new("fifo")
        .write(false)
        .create(false)
        .shared()
        .acquire();
    let elapsed = elapsed_ms(start);
    expect_kind("fifo read-only", result, ErrorKind::NotLockable);
    assert!(
        elapsed < 5000,
        "locking the FIFO read-only took {elapsed} ms"
    );

    // A symbolic link at the lock path is never followed, even one that
    // stays inside: with truncate it would destroy the file it points at.
    expect_kind(
        "link-in",
        Lock::new("link-in")
            .truncate(true)
            .timeout(Duration::from_secs(5))
            .acquire(),
        ErrorKind::BadPath,
    );

    expect_kind(
        "nul",
        Lock::new("bad\0name.lock").acquire(),
        ErrorKind::BadPath,
    );
    expect_kind("empty", Lock::new("").acquire(), ErrorKind::BadPath);
    expect_kind(
        "empty in /",
        Lock::new("").acquire_in(&root),
        ErrorKind::BadPath,
    );

    // Nothing was created by the failed call.
    assert!(
        root.stat_at(PathFlags::empty(), "abs.lock").is_err(),
        "abs.lock was created"
    );
}
