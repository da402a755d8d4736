//! The Windows behaviour the lock layer builds on, checked where it runs:
//! on Windows, and under Wine 8 in CI (`.ci/windows/run`). Where Wine does
//! not do what Windows documents, the test says what each does, so that the
//! lock layer is designed for both and a change in Wine is noticed.
//!
//! - `LockFileEx` locks are mandatory on Windows: while one handle holds an
//!   exclusive lock, no other handle may read or write the file, and while a
//!   handle holds a shared lock nobody, the holder included, may write.
//!   Wine 8 does not enforce them on reads and writes: there they are
//!   advisory, as `flock(2)` locks are.
//! - `UnlockFile` on a handle without a lock fails: `ERROR_NOT_LOCKED` on
//!   Windows, `ERROR_LOCK_VIOLATION` under Wine 8.
//! - A `LockFileEx` that waits on a synchronous handle blocks its thread
//!   until the lock is granted, on Windows and under Wine. Under Wine 8,
//!   `CancelSynchronousIo` does not end it (`ERROR_NOT_FOUND`).
//! - A `LockFileEx` that waits on a handle opened for overlapped I/O is
//!   pending I/O on Windows: its event is set once the lock is granted, and
//!   `CancelIoEx` ends it with `ERROR_OPERATION_ABORTED`. Wine 8 does not
//!   implement the wait: the call reports `ERROR_IO_PENDING`, the event is
//!   never set and `CancelIoEx` finds nothing to cancel.
//!
//! - A PID file's lock leaves the record's bytes free, and a duplicated
//!   handle shares its original's lock (what `sys::windows` builds on top).
//!
//! The tests print what they measured (run them with `--nocapture`).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::windows::fs::OpenOptionsExt;
use std::os::windows::io::AsRawHandle;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_IO_PENDING, ERROR_LOCK_VIOLATION, ERROR_NOT_FOUND, ERROR_NOT_LOCKED,
    ERROR_OPERATION_ABORTED, GetLastError, HANDLE, WAIT_OBJECT_0, WAIT_TIMEOUT,
};
use windows_sys::Win32::Storage::FileSystem::{
    FILE_FLAG_OVERLAPPED, LOCKFILE_EXCLUSIVE_LOCK, LOCKFILE_FAIL_IMMEDIATELY, LockFileEx,
    UnlockFile,
};
use windows_sys::Win32::System::IO::{
    CancelIoEx, CancelSynchronousIo, GetOverlappedResult, OVERLAPPED,
};
use windows_sys::Win32::System::Threading::{CreateEventW, WaitForSingleObject};

/// Whether this process runs under Wine, whose loader gives every process
/// it starts `WINECONFIGDIR` (the prefix) in its environment.
fn under_wine() -> bool {
    std::env::var_os("WINECONFIGDIR").is_some()
}

/// A new open file of `path`, read-write, created when missing.
fn open(path: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .unwrap()
}

fn handle(file: &File) -> HANDLE {
    file.as_raw_handle()
}

/// The calling thread's last Windows error.
fn last_error() -> u32 {
    // SAFETY: no preconditions.
    unsafe { GetLastError() }
}

/// `LockFileEx` on the whole file, as fs4 calls it; the Windows error code
/// when it fails.
fn lock_file(file: &File, flags: u32) -> Result<(), u32> {
    // SAFETY: a zeroed OVERLAPPED (offset 0, no event) is valid for a
    // synchronous handle, and outlives the call, which completes before it
    // returns on such a handle.
    let done = unsafe {
        let mut overlapped: OVERLAPPED = std::mem::zeroed();
        LockFileEx(handle(file), flags, 0, !0, !0, &mut overlapped)
    };
    if done != 0 { Ok(()) } else { Err(last_error()) }
}

/// Whether another handle gets an exclusive lock on `path` now (released at
/// once, with its handle).
fn other_can_lock(path: &Path) -> bool {
    lock_file(
        &open(path),
        LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY,
    )
    .is_ok()
}

/// The raw OS error of an I/O result, `None` when it succeeded.
fn os_error<T>(result: std::io::Result<T>) -> Option<i32> {
    result
        .err()
        .map(|err| err.raw_os_error().expect("an OS error"))
}

#[test]
fn exclusive_locks_are_mandatory_on_windows_and_advisory_under_wine() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.lock");
    std::fs::write(&path, "record\n").unwrap();
    let holder = open(&path);
    lock_file(&holder, LOCKFILE_EXCLUSIVE_LOCK).unwrap();
    let mut own = String::new();
    (&holder).read_to_string(&mut own).unwrap();
    assert_eq!(own, "record\n", "the holder reads through its own handle");
    let clone = holder.try_clone().unwrap();
    (&clone)
        .write_all(b"more\n")
        .expect("a duplicate of the holder's handle writes");

    let read = os_error(std::fs::read(&path));
    let write = os_error(open(&path).write_all(b"x"));
    if under_wine() {
        assert_eq!((read, write), (None, None), "Wine 8 enforces locks now");
    } else {
        let denied = Some(ERROR_LOCK_VIOLATION as i32);
        assert_eq!((read, write), (denied, denied));
    }
}

#[test]
fn shared_locks_deny_writing_on_windows_even_to_the_holder_not_under_wine() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.lock");
    std::fs::write(&path, "record\n").unwrap();
    let holder = open(&path);
    lock_file(&holder, 0).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "record\n");
    let write = os_error((&holder).write_all(b"x"));
    if under_wine() {
        assert_eq!(write, None, "Wine 8 enforces locks now");
    } else {
        assert_eq!(write, Some(ERROR_LOCK_VIOLATION as i32));
    }
}

#[test]
fn unlocking_without_a_lock_fails_with_not_locked_or_wine_s_lock_violation() {
    let dir = tempfile::tempdir().unwrap();
    let file = open(&dir.path().join("x.lock"));
    // SAFETY: a valid handle; UnlockFile has no other preconditions.
    let done = unsafe { UnlockFile(handle(&file), 0, 0, !0, !0) };
    let error = last_error();
    assert_eq!(done, 0);
    let expected = if under_wine() {
        ERROR_LOCK_VIOLATION
    } else {
        ERROR_NOT_LOCKED
    };
    assert_eq!(error, expected, "UnlockFile without a lock");
}

/// A thread that opened a file and locks it exclusively, waiting (on a
/// synchronous handle).
struct BlockedLocker {
    thread: std::thread::JoinHandle<()>,
    /// When the lock was granted, or the error.
    granted: mpsc::Receiver<(Instant, Result<(), u32>)>,
    /// The thread keeps its handle (and lock) until this is dropped.
    hold: mpsc::Sender<()>,
}

impl BlockedLocker {
    fn start(path: &Path) -> BlockedLocker {
        let path = path.to_owned();
        let (granted_tx, granted) = mpsc::channel();
        let (hold, hold_rx) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let file = open(&path);
            let outcome = lock_file(&file, LOCKFILE_EXCLUSIVE_LOCK);
            granted_tx.send((Instant::now(), outcome)).unwrap();
            let _ = hold_rx.recv();
        });
        BlockedLocker {
            thread,
            granted,
            hold,
        }
    }

    /// Lets the thread close its handle, and waits for it.
    fn end(self) {
        drop(self.hold);
        self.thread.join().unwrap();
    }
}

#[test]
fn a_blocking_lock_on_a_synchronous_handle_is_granted_on_release() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.lock");
    for release in ["unlock", "close"] {
        let holder = open(&path);
        lock_file(&holder, LOCKFILE_EXCLUSIVE_LOCK).unwrap();
        let locker = BlockedLocker::start(&path);
        assert!(
            locker
                .granted
                .recv_timeout(Duration::from_millis(100))
                .is_err(),
            "granted while held elsewhere"
        );
        let released = Instant::now();
        if release == "unlock" {
            // SAFETY: the holder's valid handle.
            assert_ne!(unsafe { UnlockFile(handle(&holder), 0, 0, !0, !0) }, 0);
        } else {
            drop(holder);
        }
        let (at, outcome) = locker.granted.recv().unwrap();
        assert_eq!(outcome, Ok(()));
        eprintln!(
            "a blocking LockFileEx was granted {:?} after the holder's {release}",
            at - released
        );
        assert!(!other_can_lock(&path), "the waiter holds the lock");
        locker.end();
    }
}

#[test]
fn cancel_synchronous_io_ends_a_blocking_lock_on_windows_not_under_wine() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.lock");
    let holder = open(&path);
    lock_file(&holder, LOCKFILE_EXCLUSIVE_LOCK).unwrap();
    let locker = BlockedLocker::start(&path);
    let granted = &locker.granted;
    assert!(granted.recv_timeout(Duration::from_millis(100)).is_err());
    let asked = Instant::now();
    // SAFETY: the thread's handle is valid until it is joined.
    let (cancelled, error) = unsafe {
        (
            CancelSynchronousIo(locker.thread.as_raw_handle()),
            last_error(),
        )
    };
    if under_wine() {
        assert_eq!((cancelled, error), (0, ERROR_NOT_FOUND));
        assert!(
            granted.recv_timeout(Duration::from_millis(200)).is_err(),
            "Wine 8 cancels a blocking lock now"
        );
        drop(holder);
        assert_eq!(granted.recv().unwrap().1, Ok(()));
        eprintln!("Wine 8: CancelSynchronousIo does not end a blocking LockFileEx");
    } else {
        assert_ne!(cancelled, 0, "CancelSynchronousIo: error {error}");
        let (at, outcome) = granted.recv().unwrap();
        assert_eq!(outcome, Err(ERROR_OPERATION_ABORTED));
        eprintln!(
            "CancelSynchronousIo ended a blocking LockFileEx in {:?}",
            at - asked
        );
        drop(holder);
    }
    locker.end();
}

/// A handle opened for overlapped I/O, with an event for its pending lock.
struct Overlapped {
    file: File,
    overlapped: Box<OVERLAPPED>,
}

impl Overlapped {
    fn open(path: &Path) -> Overlapped {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(FILE_FLAG_OVERLAPPED)
            .open(path)
            .unwrap();
        // SAFETY: a manual-reset event, initially unset, unnamed.
        let event = unsafe { CreateEventW(std::ptr::null(), 1, 0, std::ptr::null()) };
        assert!(!event.is_null(), "CreateEventW");
        // SAFETY: all-zero is a valid OVERLAPPED (offset 0).
        let mut overlapped: Box<OVERLAPPED> = Box::new(unsafe { std::mem::zeroed() });
        overlapped.hEvent = event;
        Overlapped { file, overlapped }
    }

    /// Starts an exclusive `LockFileEx` that waits, and checks that it is
    /// pending.
    fn start_lock(&mut self) {
        // SAFETY: the OVERLAPPED is boxed and outlives the operation (see
        // `end`).
        let done = unsafe {
            LockFileEx(
                handle(&self.file),
                LOCKFILE_EXCLUSIVE_LOCK,
                0,
                !0,
                !0,
                &mut *self.overlapped,
            )
        };
        assert_eq!(
            (done, last_error()),
            (0, ERROR_IO_PENDING),
            "a pending lock"
        );
    }

    /// Waits up to `limit` for the pending lock's event.
    fn wait(&self, limit: Duration) -> u32 {
        // SAFETY: the event handle is valid while `self` lives.
        unsafe { WaitForSingleObject(self.overlapped.hEvent, limit.as_millis() as u32) }
    }

    /// The completed operation's outcome.
    fn outcome(&self) -> Result<(), u32> {
        let mut transferred = 0;
        // SAFETY: the OVERLAPPED of the operation started on this handle.
        let done = unsafe {
            GetOverlappedResult(handle(&self.file), &*self.overlapped, &mut transferred, 1)
        };
        if done != 0 { Ok(()) } else { Err(last_error()) }
    }

    /// Asks for the pending lock to be cancelled.
    fn cancel(&self) -> Result<(), u32> {
        // SAFETY: cancels this handle's operation on this OVERLAPPED, if any.
        let done = unsafe { CancelIoEx(handle(&self.file), &*self.overlapped) };
        if done != 0 { Ok(()) } else { Err(last_error()) }
    }

    /// Closes the handle and the event once the operation has completed.
    /// Under Wine, where it never completes (and nothing refers to the
    /// OVERLAPPED any more), the OVERLAPPED is not waited for.
    fn end(self) {
        if !under_wine() {
            let _ = self.cancel();
            let _ = self.outcome();
        }
        // SAFETY: the event is ours and nothing waits on it.
        unsafe { CloseHandle(self.overlapped.hEvent) };
    }
}

#[test]
fn cancel_io_ex_ends_a_pending_lock_on_windows_which_wine_never_completes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.lock");
    let holder = open(&path);
    lock_file(&holder, LOCKFILE_EXCLUSIVE_LOCK).unwrap();
    let mut waiter = Overlapped::open(&path);
    waiter.start_lock();
    assert_eq!(waiter.wait(Duration::from_millis(100)), WAIT_TIMEOUT);

    let asked = Instant::now();
    let cancelled = waiter.cancel();
    if under_wine() {
        assert_eq!(
            cancelled,
            Err(ERROR_NOT_FOUND),
            "Wine 8 has a pending lock now"
        );
        eprintln!("Wine 8: CancelIoEx finds no pending LockFileEx to cancel");
    } else {
        assert_eq!(cancelled, Ok(()));
        assert_eq!(waiter.outcome(), Err(ERROR_OPERATION_ABORTED));
        eprintln!(
            "CancelIoEx ended a pending LockFileEx in {:?}",
            asked.elapsed()
        );
    }
    drop(holder);
    assert!(
        other_can_lock(&path),
        "the cancelled request left a lock behind"
    );
    waiter.end();
}

#[test]
fn a_pending_lock_is_granted_on_release_on_windows_never_under_wine() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.lock");
    let holder = open(&path);
    lock_file(&holder, LOCKFILE_EXCLUSIVE_LOCK).unwrap();
    let mut waiter = Overlapped::open(&path);
    waiter.start_lock();
    assert_eq!(waiter.wait(Duration::from_millis(100)), WAIT_TIMEOUT);
    let released = Instant::now();
    drop(holder);
    if under_wine() {
        assert_eq!(
            waiter.wait(Duration::from_millis(500)),
            WAIT_TIMEOUT,
            "Wine 8 grants a pending lock now"
        );
        assert!(other_can_lock(&path), "nobody holds the lock");
        eprintln!("Wine 8: a pending LockFileEx is never granted");
    } else {
        assert_eq!(waiter.wait(Duration::from_secs(60)), WAIT_OBJECT_0);
        let granted_in = released.elapsed();
        assert_eq!(waiter.outcome(), Ok(()));
        eprintln!("a pending LockFileEx was granted {granted_in:?} after the release");
        assert!(!other_can_lock(&path), "the waiter holds the lock");
    }
    waiter.end();
}

/// `LockFileEx` on `len` bytes from 0, failing at once; the Windows error
/// when it fails. Released with the handle.
fn lock_head(file: &File, len: u32) -> Result<(), u32> {
    // SAFETY: as for `lock_file`.
    let done = unsafe {
        let mut overlapped: OVERLAPPED = std::mem::zeroed();
        LockFileEx(
            handle(file),
            LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY,
            0,
            len,
            0,
            &mut overlapped,
        )
    };
    if done != 0 { Ok(()) } else { Err(last_error()) }
}

#[test]
fn a_pid_file_s_lock_leaves_its_record_free_and_excludes_whole_file_lockers() {
    use crate::backend::Lockable;
    use crate::backend::whole_file::WholeFile;
    use crate::bindings::portalocker::filelock::types::LockMode;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.pid");
    std::fs::write(&path, "1234\ninstance 1\nend\n").unwrap();
    let file = std::sync::Arc::new(open(&path));
    // The PID lock's start (`pid_lock`'s record space).
    let lock = WholeFile::from(&file, 4096);
    assert_eq!(
        lock.try_lock(LockMode::Exclusive).unwrap(),
        crate::backend::Attempt::Acquired
    );
    assert!(!other_can_lock(&path), "a whole-file locker got in");
    // Python portalocker's lock: bytes 0..0xFFFF0000.
    assert!(
        lock_head(&open(&path), 0xFFFF_0000).is_err(),
        "portalocker's range got in"
    );
    // No lock on the record's bytes: a mandatory lock there would keep
    // other handles from reading them on Windows.
    assert_eq!(lock_head(&open(&path), 4096), Ok(()));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "1234\ninstance 1\nend\n"
    );
    lock.unlock().unwrap();
    assert!(other_can_lock(&path), "the unlock left a lock behind");
}

#[test]
fn a_rename_over_a_file_a_reader_has_open_waits_for_the_reader() {
    let dir = tempfile::tempdir().unwrap();
    let (target, temporary) = (dir.path().join("app.pid"), dir.path().join("app.pid.tmp"));
    std::fs::write(&target, "1").unwrap();
    std::fs::write(&temporary, "2").unwrap();
    // A reader of the PID file (with std's share mode: read, write and
    // delete). Wine refuses a rename over it (`ERROR_ACCESS_DENIED`), as
    // Windows does without POSIX rename semantics.
    let reader = File::open(&target).unwrap();
    if under_wine() {
        let refused = std::fs::rename(&temporary, &target).unwrap_err();
        assert!(super::name_busy(&refused), "{refused:?}");
    }
    // Publishing the PID waits for the reader to let go.
    let letting_go = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(30));
        drop(reader);
    });
    crate::open::retry_busy(|| std::fs::rename(&temporary, &target)).unwrap();
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "2");
    letting_go.join().unwrap();
}
