//! `filelock_atomic_write` (no arguments; the host prepares `old.txt` with
//! `old`, and a symbolic link `link.txt` to `target.txt`): atomic writes
//! refuse to replace by default, replace only on commit, leave nothing when
//! dropped, lose a race to a file that appears meanwhile without replacing
//! it, and refuse a symbolic link at the path. Prints `ok`.

use std::io::Write;

use portalocker_guest::{ErrorKind, open_atomic};
use portalocker_programs::{expect_kind, expect_ok};

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("/{path}")).unwrap_or_else(|err| panic!("read {path}: {err}"))
}

fn main() {
    expect_kind(
        "no replace",
        open_atomic("old.txt").create(),
        ErrorKind::AlreadyExists,
    );

    let mut replacing = expect_ok("replace", open_atomic("old.txt").replace(true).create());
    replacing.write_all(b"new").expect("write");
    assert_eq!(read("old.txt"), "old", "the target changed before commit");
    expect_ok("commit replace", replacing.commit());
    assert_eq!(read("old.txt"), "new");

    let mut dropped = expect_ok("create fresh", open_atomic("fresh.txt").create());
    dropped.write_all(b"half").expect("write");
    drop(dropped);
    assert!(
        std::fs::metadata("/fresh.txt").is_err(),
        "an uncommitted write appeared"
    );

    let mut racing = expect_ok("create race", open_atomic("race.txt").create());
    std::fs::write("/race.txt", "other").expect("write the rival");
    racing.write_all(b"mine").expect("write");
    expect_kind("commit race", racing.commit(), ErrorKind::AlreadyExists);
    assert_eq!(read("race.txt"), "other");

    let mut fresh = expect_ok("create new", open_atomic("new.txt").create());
    fresh.write_all(b"fresh").expect("write");
    expect_ok("commit new", fresh.commit());
    assert_eq!(read("new.txt"), "fresh");

    expect_kind(
        "link",
        open_atomic("link.txt").replace(true).create(),
        ErrorKind::BadPath,
    );
    println!("ok");
}
