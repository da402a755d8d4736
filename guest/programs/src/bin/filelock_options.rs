//! `filelock_options` (no arguments; works in `/`): portalocker's lock
//! options and open modes, checked against a second holder in the same
//! guest. Prints `ok`.
//!
//! * `fail_when_locked` fails at once, whatever the timeout and whichever
//!   was set first; a timeout fails
//!   with `timed-out` after it, and not long after;
//! * only contention is waited out: a missing file fails at once, even when
//!   waiting forever;
//! * `'r'` reads only, `'r+'` writes in place, `'a'` appends, `'w'`
//!   truncates only once locked (never under a holder), and the `'r'`
//!   modes need the file to exist;
//! * acquiring a held lock again is a no-op; releasing twice is harmless;
//! * portalocker's flags-style `lock(fh, EXCLUSIVE | NON_BLOCKING)`.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use portalocker_guest::{ErrorKind, Lock, LockFlags, Mode, OpenMode, lock_with_flags, preopens};
use portalocker_programs::{expect_kind, expect_ok};

fn main() {
    parses_modes();
    timeouts();
    only_contention_waits();
    open_modes();
    reacquire_and_release_twice();
    flags();
    println!("ok");
}

fn parses_modes() {
    for (text, mode) in [
        ("a", OpenMode::Append),
        ("w", OpenMode::Write),
        ("r+", OpenMode::ReadWrite),
        ("r", OpenMode::Read),
        ("rb+", OpenMode::ReadWrite),
        ("wb", OpenMode::Write),
    ] {
        assert_eq!(text.parse::<OpenMode>(), Ok(mode), "{text}");
    }
    for bad in ["", "x", "w+", "a+"] {
        assert!(bad.parse::<OpenMode>().is_err(), "{bad:?} parsed");
    }
}

fn timeouts() {
    let holder = expect_ok("hold t.lock", Lock::new("t.lock").acquire());
    let start = Instant::now();
    expect_kind(
        "fail_when_locked with a 5 s timeout",
        Lock::new("t.lock")
            .timeout(Duration::from_secs(5))
            .fail_when_locked(true)
            .acquire(),
        ErrorKind::AlreadyLocked,
    );
    let failed_after = start.elapsed();
    assert!(
        failed_after < Duration::from_secs(2),
        "fail_when_locked waited {failed_after:?}"
    );
    // Python's keyword arguments have no order: neither has the builder.
    let start = Instant::now();
    expect_kind(
        "fail_when_locked, then a 5 s timeout",
        Lock::new("t.lock")
            .fail_when_locked(true)
            .timeout(Duration::from_secs(5))
            .acquire(),
        ErrorKind::AlreadyLocked,
    );
    expect_kind(
        "fail_when_locked, then waiting forever",
        Lock::new("t.lock")
            .fail_when_locked(true)
            .wait_forever()
            .acquire(),
        ErrorKind::AlreadyLocked,
    );
    let failed_after = start.elapsed();
    assert!(
        failed_after < Duration::from_secs(2),
        "fail_when_locked set first waited {failed_after:?}"
    );
    let start = Instant::now();
    expect_kind(
        "timeout 200 ms",
        Lock::new("t.lock")
            .timeout(Duration::from_millis(200))
            .acquire(),
        ErrorKind::TimedOut,
    );
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(200),
        "gave up after {waited:?}"
    );
    // Generous: the point is that the wait ends at its deadline, not at some
    // later poll.
    assert!(waited < Duration::from_secs(3), "overshot to {waited:?}");
    // fail_when_locked(false) undoes it.
    expect_kind(
        "fail_when_locked(false) keeps the timeout",
        Lock::new("t.lock")
            .timeout(Duration::from_millis(50))
            .fail_when_locked(false)
            .acquire(),
        ErrorKind::TimedOut,
    );
    expect_ok("release t.lock", holder.release());
}

fn only_contention_waits() {
    let start = Instant::now();
    expect_kind(
        "missing file, waiting forever",
        Lock::new("missing.lock")
            .create(false)
            .wait_forever()
            .acquire(),
        ErrorKind::NotFound,
    );
    for mode in [OpenMode::Read, OpenMode::ReadWrite] {
        expect_kind(
            &format!("'{mode}' on a missing file"),
            Lock::new("missing.lock").open_mode(mode).acquire(),
            ErrorKind::NotFound,
        );
    }
    expect_kind(
        "'w' with a shared lock",
        Lock::new("w.txt")
            .shared()
            .open_mode(OpenMode::Write)
            .acquire(),
        ErrorKind::InvalidOptions,
    );
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "errors other than contention must not wait"
    );
    assert!(
        std::fs::metadata("/missing.lock").is_err(),
        "'r' and 'r+' must not create the file"
    );
}

fn open_modes() {
    std::fs::write("/m.txt", "abc").unwrap();
    // 'r': shared, read-only.
    let mut read = expect_ok(
        "'r'",
        Lock::new("m.txt")
            .shared()
            .open_mode("r".parse().unwrap())
            .acquire(),
    );
    let mut text = String::new();
    read.read_to_string(&mut text).unwrap();
    assert_eq!(text, "abc");
    assert!(read.write_all(b"no").is_err(), "'r' must not write");
    drop(read);
    // 'r+': writes in place.
    let mut rw = expect_ok(
        "'r+'",
        Lock::new("m.txt").open_mode(OpenMode::ReadWrite).acquire(),
    );
    rw.write_all(b"X").unwrap();
    drop(rw);
    assert_eq!(std::fs::read_to_string("/m.txt").unwrap(), "Xbc");
    // 'a': writes go to the end, whatever the position.
    let mut append = expect_ok(
        "'a'",
        Lock::new("m.txt").open_mode(OpenMode::Append).acquire(),
    );
    append.write_all(b"def").unwrap();
    append.write_all(b"!").unwrap();
    drop(append);
    assert_eq!(std::fs::read_to_string("/m.txt").unwrap(), "Xbcdef!");
    // 'w': truncates only once the lock is held, never under a holder.
    std::fs::write("/w.txt", "precious").unwrap();
    let holder = expect_ok("hold w.txt", Lock::new("w.txt").acquire());
    expect_kind(
        "'w' while held",
        Lock::new("w.txt")
            .open_mode(OpenMode::Write)
            .no_wait()
            .acquire(),
        ErrorKind::AlreadyLocked,
    );
    assert_eq!(
        std::fs::read_to_string("/w.txt").unwrap(),
        "precious",
        "a waiting 'w' must not truncate"
    );
    drop(holder);
    let mut write = expect_ok(
        "'w'",
        Lock::new("w.txt").open_mode(OpenMode::Write).acquire(),
    );
    assert_eq!(write.size().unwrap(), 0, "'w' truncates once locked");
    write.write_all(b"new").unwrap();
    drop(write);
    assert_eq!(std::fs::read_to_string("/w.txt").unwrap(), "new");
}

fn reacquire_and_release_twice() {
    let mut guard = expect_ok("acquire r.lock", Lock::new("r.lock").acquire());
    expect_ok(
        "acquire again",
        guard.relock(Mode::Exclusive, Some(Duration::ZERO)),
    );
    assert!(guard.is_held());
    expect_kind(
        "another holder still contends",
        Lock::new("r.lock").no_wait().acquire(),
        ErrorKind::AlreadyLocked,
    );
    expect_ok("release", guard.unlock());
    expect_ok("release twice", guard.unlock());
    assert!(!guard.is_held());
    let other = expect_ok(
        "another holder now",
        Lock::new("r.lock").no_wait().acquire(),
    );
    expect_kind(
        "re-acquire while the other holds",
        guard.relock(Mode::Exclusive, Some(Duration::ZERO)),
        ErrorKind::AlreadyLocked,
    );
    drop(other);
    expect_ok(
        "re-acquire",
        guard.relock(Mode::Exclusive, Some(Duration::ZERO)),
    );
    assert!(guard.is_held());
    expect_kind(
        "another holder after re-acquiring",
        Lock::new("r.lock").no_wait().acquire(),
        ErrorKind::AlreadyLocked,
    );
    expect_ok("release the guard", guard.release());
}

fn flags() {
    let holder = expect_ok("hold f.lock", Lock::new("f.lock").acquire());
    let file = preopens::open_file("f.lock", true, true).unwrap();
    let start = Instant::now();
    expect_kind(
        "EXCLUSIVE | NON_BLOCKING",
        lock_with_flags(&file, LockFlags::EXCLUSIVE | LockFlags::NON_BLOCKING),
        ErrorKind::AlreadyLocked,
    );
    expect_kind(
        "SHARED | NON_BLOCKING",
        lock_with_flags(&file, LockFlags::SHARED | LockFlags::NON_BLOCKING),
        ErrorKind::AlreadyLocked,
    );
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "NON_BLOCKING waited"
    );
    for bad in [
        LockFlags::SHARED | LockFlags::EXCLUSIVE,
        LockFlags::NON_BLOCKING,
        LockFlags::UNBLOCK | LockFlags::EXCLUSIVE,
    ] {
        expect_kind(
            &format!("{bad:?}"),
            lock_with_flags(&file, bad),
            ErrorKind::InvalidOptions,
        );
    }
    drop(holder);
    expect_ok("EXCLUSIVE", lock_with_flags(&file, LockFlags::EXCLUSIVE));
    expect_kind(
        "a path lock meanwhile",
        Lock::new("f.lock").no_wait().acquire(),
        ErrorKind::AlreadyLocked,
    );
    expect_ok("UNBLOCK", lock_with_flags(&file, LockFlags::UNBLOCK));
    drop(expect_ok(
        "a path lock after UNBLOCK",
        Lock::new("f.lock").no_wait().acquire(),
    ));
}
