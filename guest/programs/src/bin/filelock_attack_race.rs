//! `filelock_attack_race PATH N`
//!
//! `N` times: acquires `PATH` exclusively with create, write and truncate
//! (through `acquire`, and through a request every other round), writes
//! `inside` into the locked file, and releases. Meanwhile the host keeps
//! swapping `PATH` (or a directory on the way to it) between something inside
//! the preopen and a symbolic link to a file outside it. Each round must
//! either lock the inside file or fail with `bad-path`; the file outside must
//! never be truncated or written (the host checks). Prints
//! `ok_rounds=A refused=B`.

use std::io::Write;
use std::time::Duration;

use portalocker_guest::{ErrorKind, Lock};
use portalocker_programs::{args, flush};

fn main() {
    let [path, n] = args()
        .try_into()
        .expect("usage: filelock_attack_race PATH N");
    let n: u64 = n.parse().expect("N is a number");
    let lock = Lock::new(path.as_str())
        .exclusive()
        .create(true)
        .write(true)
        .truncate(true)
        .timeout(Duration::from_secs(10));
    let (mut ok_rounds, mut refused) = (0u64, 0u64);
    for round in 0..n {
        let result = if round % 2 == 0 {
            lock.acquire()
        } else {
            lock.request().and_then(|request| request.wait())
        };
        match result {
            Ok(mut guard) => {
                assert_eq!(
                    guard.size().expect("size"),
                    0,
                    "round {round}: not truncated"
                );
                guard.write_all(b"inside").expect("write");
                guard.release().expect("release");
                ok_rounds += 1;
            }
            Err(error) if error.kind() == ErrorKind::BadPath => refused += 1,
            Err(error) => panic!("round {round}: {error}"),
        }
    }
    println!("ok_rounds={ok_rounds} refused={refused}");
    flush();
}
