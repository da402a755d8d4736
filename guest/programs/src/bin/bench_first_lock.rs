//! `bench_first_lock PATH`: takes one exclusive path-layer lock on PATH and
//! releases it: the work of a freshly instantiated guest's first lock.

use portalocker_guest::Lock;
use portalocker_programs::{args, fail, usage};

fn main() {
    let [path] = args()
        .try_into()
        .unwrap_or_else(|_| usage("bench_first_lock PATH", "one argument"));
    let guard = Lock::new(path)
        .exclusive()
        .no_wait()
        .acquire()
        .unwrap_or_else(|err| fail(&err));
    guard.release().unwrap_or_else(|err| fail(&err));
}
