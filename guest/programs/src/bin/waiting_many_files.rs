//! `waiting_many_files path|handle N`
//!
//! Many short waits on many files that stay locked, as an attacker would
//! try to pile up the host's waiting machinery: for i = 0..N, locks
//! `f<i>.lock` exclusively (through the path layer, or a descriptor of the
//! handle layer), keeps it, and asks for the same lock a second time (a
//! second open file) with a timeout of 1 µs, which must time out. Then,
//! still holding all N locks, it reaches the checkpoint `waited` (see
//! [`portalocker_programs::checkpoint`]) so that the host can look at
//! itself, and releases everything once the host answers with `counted`.
//! Prints `timed_out=N` and `ok`.

use std::time::Duration;

use portalocker_guest::{ErrorKind, Lock, Mode, lock, lock_timeout, preopens};
use portalocker_programs::{args, checkpoint, expect_ok, usage};

const USAGE: &str = "waiting_many_files path|handle N";

/// What keeps one file locked: a lock guard or a locked descriptor.
enum Held {
    Path(#[expect(dead_code, reason = "held for its `Drop`")] portalocker_guest::LockGuard),
    Handle(
        #[expect(dead_code, reason = "held for its `Drop`")] wasip2::filesystem::types::Descriptor,
    ),
}

fn main() {
    let [layer, n] = args()
        .try_into()
        .unwrap_or_else(|_| usage(USAGE, "two arguments"));
    let n: usize = n.parse().unwrap_or_else(|_| usage(USAGE, "N is a number"));
    let tiny = Duration::from_micros(1);
    let mut held = Vec::with_capacity(n);
    let mut timed_out = 0;
    for i in 0..n {
        let path = format!("f{i}.lock");
        let second = match layer.as_str() {
            "path" => {
                let guard = expect_ok("hold", Lock::new(path.as_str()).exclusive().acquire());
                held.push(Held::Path(guard));
                Lock::new(path.as_str())
                    .exclusive()
                    .timeout(tiny)
                    .acquire()
                    .map(drop)
            }
            "handle" => {
                let first = expect_ok("open", preopens::open_file(&path, true, true));
                expect_ok("hold", lock(&first, Mode::Exclusive));
                held.push(Held::Handle(first));
                let other = expect_ok("open again", preopens::open_file(&path, true, true));
                lock_timeout(&other, Mode::Exclusive, tiny)
            }
            _ => usage(USAGE, "the layer is `path` or `handle`"),
        };
        match second {
            Err(error) if error.kind() == ErrorKind::TimedOut => timed_out += 1,
            other => panic!("{path}: a second lock with a 1 µs timeout gave {other:?}"),
        }
    }
    println!("timed_out={timed_out}");
    checkpoint("waited", "counted");
    drop(held);
    println!("ok");
}
