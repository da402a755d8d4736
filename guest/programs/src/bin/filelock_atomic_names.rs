//! `filelock_atomic_names` (no arguments; works in `/`): the temporary files
//! of atomic writes. Names up to the file system's limit (255 bytes) can be
//! written atomically; files left by crashed writers (the host planted some
//! next to `left.txt`) are no obstacle; and a write never removes a
//! temporary file that is not its own: the host swaps another file in at
//! the temporary name of a write that is then dropped (`drop.txt`), and of
//! one whose commit fails (`fail.txt`, which the host creates meanwhile).
//! Pauses at checkpoints for the host. Prints `ok`.

use std::io::Write;

use portalocker_guest::{ErrorKind, open_atomic};
use portalocker_programs::{checkpoint, expect_kind, expect_ok};

fn main() {
    for length in [200, 250, 255] {
        let name = format!("{}.txt", "n".repeat(length - 4));
        let mut file = expect_ok(
            &format!("a {length}-byte name"),
            open_atomic(name.as_str()).create(),
        );
        file.write_all(b"long").unwrap();
        expect_ok("commit", file.commit());
        assert_eq!(std::fs::read_to_string(format!("/{name}")).unwrap(), "long");
        std::fs::remove_file(format!("/{name}")).unwrap();
    }

    let mut left = expect_ok("beside leftovers", open_atomic("left.txt").create());
    left.write_all(b"mine").unwrap();
    expect_ok("commit beside leftovers", left.commit());

    let dropped = expect_ok("create drop.txt", open_atomic("drop.txt").create());
    checkpoint("drop-started", "drop-swapped");
    drop(dropped);

    let failing = expect_ok("create fail.txt", open_atomic("fail.txt").create());
    checkpoint("fail-started", "fail-swapped");
    expect_kind(
        "commit when fail.txt appeared",
        failing.commit(),
        ErrorKind::AlreadyExists,
    );
    println!("ok");
}
