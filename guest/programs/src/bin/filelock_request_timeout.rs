//! `filelock_request_timeout PATH`
//!
//! The host holds a native exclusive lock on `PATH` throughout. Checks, a
//! line each:
//!
//! * a path-layer request with a 200 ms timeout answers `timed-out`, after at
//!   least 200 ms; asking again through the raw WIT `get` gives `some(err)`
//!   (already collected), and `try_take` an `io` error;
//! * a handle-layer `request_lock` with a 200 ms timeout, on a descriptor of
//!   `PATH`, answers `timed-out` through `wait`;
//! * a handle-layer request on a directory (the preopen `/`) is ready at once
//!   with `bad-descriptor`;
//! * a path-layer request of `missing.lock` without `create` is ready at once
//!   with `not-found`.
//!
//! Prints `ok`.

use std::time::{Duration, Instant};

use portalocker_guest::{ErrorKind, Lock, Mode, preopens, request_lock};
use portalocker_programs::{args, elapsed_ms, expect_kind, poll_take};
use wasip2::filesystem::types::ErrorCode;

const TIMEOUT: Duration = Duration::from_millis(200);

fn main() {
    let [path] = args()
        .try_into()
        .expect("usage: filelock_request_timeout PATH");

    let start = Instant::now();
    let request = Lock::new(path.as_str())
        .timeout(TIMEOUT)
        .request()
        .expect("request");
    expect_kind("path timeout", poll_take(&request), ErrorKind::TimedOut);
    let elapsed = elapsed_ms(start);
    assert!(elapsed >= 200, "timed out after {elapsed} ms");
    assert!(matches!(
        request.as_pending_file_lock().get(),
        Some(Err(()))
    ));
    println!("raw get again: err");
    let again = request.try_take().expect("collected is not waiting");
    expect_kind("try-take again", again, ErrorKind::Io(ErrorCode::Invalid));
    drop(request);

    let file = preopens::open_file(&path, false, true).expect("open");
    let start = Instant::now();
    let result = request_lock(&file, Mode::Exclusive, Some(TIMEOUT)).wait();
    expect_kind("handle timeout", result, ErrorKind::TimedOut);
    assert!(elapsed_ms(start) >= 200);

    let (root, _) = preopens::resolve("/").expect("resolve /");
    let request = request_lock(&root, Mode::Exclusive, None);
    assert!(
        request.subscribe().ready(),
        "a directory request is ready at once"
    );
    let answer = request.try_get().expect("answered at once");
    expect_kind("handle directory", answer, ErrorKind::BadDescriptor);

    let request = Lock::new("missing.lock")
        .create(false)
        .request()
        .expect("request");
    assert!(
        request.subscribe().ready(),
        "a missing file's request is ready at once"
    );
    let answer = request.try_take().expect("answered at once");
    expect_kind("path missing", answer, ErrorKind::NotFound);

    println!("ok");
}
