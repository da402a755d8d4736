//! `filelock_truncate PATH EXPECT`
//!
//! Acquires `PATH` exclusively with `truncate(true)`, waiting at most 300 ms.
//! With `EXPECT` = `timeout` (someone else holds the lock) this must fail with
//! `timed-out`, leaving the holder's data alone; with `ok` it must succeed,
//! the file must be empty once the lock is held, and the guest then writes
//! `mine` and releases. Prints `ok` at the end.

use std::io::Write;
use std::time::Duration;

use portalocker_guest::{ErrorKind, Lock};
use portalocker_programs::{args, expect_kind, expect_ok};

fn main() {
    let [path, expect] = args()
        .try_into()
        .expect("usage: filelock_truncate PATH timeout|ok");
    let lock = Lock::new(path.as_str())
        .exclusive()
        .truncate(true)
        .timeout(Duration::from_millis(300));
    match expect.as_str() {
        "timeout" => {
            expect_kind("acquire truncate", lock.acquire(), ErrorKind::TimedOut);
        }
        "ok" => {
            let mut guard = expect_ok("acquire truncate", lock.acquire());
            assert_eq!(guard.size().expect("size"), 0, "not truncated");
            assert!(guard.contents().expect("contents").is_empty());
            guard.write_all(b"mine").expect("write mine");
            expect_ok("release", guard.release());
        }
        other => panic!("EXPECT is `timeout` or `ok`, not {other:?}"),
    }
    println!("ok");
}
