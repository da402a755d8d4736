//! `filelock_append_only` (no arguments; works in `/`): portalocker's `'a'`
//! mode on `log.txt`, which the host made append-only (`chattr +a`) and
//! which holds `first`. Opening it for writing without `O_APPEND` is
//! refused by the kernel; the `'a'` lock opens it for appending, and its
//! writes land at the end. `'w'` (truncation) and `'r+'` (writes in place)
//! are refused. Prints `ok`.

use std::io::Write;

use portalocker_guest::{ErrorKind, Lock, OpenMode};
use portalocker_programs::{expect_kind, expect_ok};

fn main() {
    let mut append = expect_ok(
        "'a' on an append-only file",
        Lock::new("log.txt").open_mode(OpenMode::Append).acquire(),
    );
    append.write_all(b" second").unwrap();
    expect_ok("release", append.release());
    expect_kind(
        "'r+' on an append-only file",
        Lock::new("log.txt")
            .open_mode(OpenMode::ReadWrite)
            .acquire(),
        ErrorKind::NotPermitted,
    );
    expect_kind(
        "'w' on an append-only file",
        Lock::new("log.txt").open_mode(OpenMode::Write).acquire(),
        ErrorKind::NotPermitted,
    );
    println!("ok");
}
