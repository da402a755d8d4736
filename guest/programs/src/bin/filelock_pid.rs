//! `filelock_pid` (no arguments; works in `/`): PID-file locks. The host
//! holds `native.pid.lock` (the sidecar lock file of `native.pid`) with a
//! native lock, and runs another instance holding `other.pid` with the
//! label `other`. Checks what is published (the process id alone in
//! `app.pid`, the record in `app.pid.lock`), the holder carried by
//! contention errors, `state`, label checks and release (which removes both
//! files); pauses at a checkpoint while holding `app.pid` so the host can
//! look. Prints `pid=<n>` and `ok`.

use std::time::Duration;

use portalocker_guest::{ErrorKind, LockState, PidFileLock};
use portalocker_programs::{checkpoint, expect_kind, expect_ok};

fn main() {
    let app = PidFileLock::new("app.pid").label("scenario");
    let guard = expect_ok("acquire app.pid", app.acquire());
    let me = guard.holder().clone();
    assert!(me.pid > 0);
    assert_eq!(me.label.as_deref(), Some("scenario"));
    println!("pid={}", me.pid);
    assert_eq!(
        std::fs::read_to_string("/app.pid").unwrap(),
        me.pid.to_string(),
        "the PID file holds the process id alone"
    );
    assert_eq!(
        std::fs::read_to_string("/app.pid.lock").unwrap(),
        format!(
            "{}\ninstance {}\nlabel scenario\nend\n",
            me.pid, me.instance
        )
    );

    // Contention names the holder (here: ourselves, through another open).
    let error = expect_kind(
        "acquire again",
        PidFileLock::new("app.pid").no_wait().acquire(),
        ErrorKind::AlreadyLocked,
    );
    assert_eq!(error.holder(), Some(&me));
    assert!(error.to_string().contains("held by pid"), "{error}");
    let error = expect_kind(
        "acquire with a timeout",
        PidFileLock::new("app.pid")
            .timeout(Duration::from_millis(100))
            .acquire(),
        ErrorKind::TimedOut,
    );
    assert_eq!(error.holder(), Some(&me));
    assert_eq!(app.state(), Ok(LockState::Held(Some(me.clone()))));
    checkpoint("pid-held", "pid-probed");

    expect_ok("release", guard.release());
    for name in ["/app.pid", "/app.pid.lock"] {
        assert!(std::fs::metadata(name).is_err(), "released: {name} removed");
    }
    assert_eq!(app.state(), Ok(LockState::Free));
    let unlabelled = expect_ok(
        "acquire unlabelled",
        PidFileLock::new("app.pid").no_wait().acquire(),
    );
    assert_eq!(unlabelled.holder().label, None);
    drop(unlabelled);

    // Another instance of this host holds other.pid.
    let error = expect_kind(
        "other.pid",
        PidFileLock::new("other.pid").no_wait().acquire(),
        ErrorKind::AlreadyLocked,
    );
    let other = error.holder().expect("the other instance published itself");
    assert_eq!(other.pid, me.pid, "same host process");
    assert_ne!(other.instance, me.instance, "another instance");
    assert_eq!(other.label.as_deref(), Some("other"));

    // A native holder publishes nothing.
    let error = expect_kind(
        "native.pid",
        PidFileLock::new("native.pid").no_wait().acquire(),
        ErrorKind::AlreadyLocked,
    );
    assert_eq!(error.holder(), None);
    assert_eq!(
        PidFileLock::new("native.pid").state(),
        Ok(LockState::Held(None))
    );

    assert_eq!(
        PidFileLock::new("missing.pid").state(),
        Ok(LockState::Free),
        "no sidecar: free"
    );
    for label in ["two\nlines".to_owned(), "x".repeat(257)] {
        expect_kind(
            "a bad label",
            PidFileLock::new("bad.pid").label(label).acquire(),
            ErrorKind::InvalidOptions,
        );
    }
    println!("ok");
}
