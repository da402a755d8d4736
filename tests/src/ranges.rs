//! Native byte-range lockers: this process through open-file-description
//! locks (Linux) or `LockFileEx` regions (Windows), and other processes
//! (Python, on Unix) through classic `fcntl`/`lockf` locks or
//! open-file-description locks, as native programs take them.

use std::fs::File;
#[cfg(unix)]
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
#[cfg(unix)]
use std::process::{Child, ChildStdin, Command, Stdio};

use crate::native::{self, Mode};

/// How a native program locks a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Classic POSIX record locks, owned by the process: `fcntl.lockf`
    /// (`F_SETLK`), as native SQLite takes them.
    Classic,
    /// Open-file-description locks (`F_OFD_SETLK`), owned by the open file.
    Ofd,
}

#[cfg(unix)]
mod platform {
    //! Open-file-description locks on this process's own open file.

    use std::fs::File;
    use std::os::fd::AsRawFd;

    use crate::native::Mode;

    /// The `struct flock` for `fcntl` in this process.
    fn record(start: u64, len: u64, mode: Option<Mode>) -> libc::flock {
        // SAFETY: all zeroes is a valid `struct flock`.
        let mut lock: libc::flock = unsafe { std::mem::zeroed() };
        lock.l_type = match mode {
            Some(Mode::Shared) => libc::F_RDLCK,
            Some(Mode::Exclusive) => libc::F_WRLCK,
            None => libc::F_UNLCK,
        } as libc::c_short;
        lock.l_whence = libc::SEEK_SET as libc::c_short;
        lock.l_start = start as libc::off_t;
        lock.l_len = len as libc::off_t;
        lock
    }

    /// Sets `len` bytes at `start` to `mode` (`None`: unlocks them), never
    /// waiting; the OS error when it fails.
    pub(super) fn set(
        file: &File,
        start: u64,
        len: u64,
        mode: Option<Mode>,
    ) -> std::io::Result<()> {
        let mut lock = record(start, len, mode);
        // SAFETY: a valid descriptor and `struct flock`.
        let done = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &mut lock) };
        if done == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    /// Whether `len` bytes at `start` of `file` could be locked in `mode`.
    pub(super) fn can_lock(file: &File, start: u64, len: u64, mode: Mode) -> bool {
        let mut lock = record(start, len, Some(mode));
        // SAFETY: a valid descriptor and `struct flock`.
        let done = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_GETLK, &mut lock) };
        assert_eq!(done, 0, "F_OFD_GETLK: {}", std::io::Error::last_os_error());
        libc::c_int::from(lock.l_type) == libc::F_UNLCK
    }
}

#[cfg(windows)]
mod platform {
    //! `LockFileEx` regions on this process's own handle: another handle of
    //! this process is excluded exactly as another process would be.

    use std::fs::File;
    use std::os::windows::io::AsRawHandle;

    use windows_sys::Win32::Foundation::HANDLE;
    use windows_sys::Win32::Storage::FileSystem::{
        LOCKFILE_EXCLUSIVE_LOCK, LOCKFILE_FAIL_IMMEDIATELY, LockFileEx, UnlockFileEx,
    };
    use windows_sys::Win32::System::IO::OVERLAPPED;

    use crate::native::Mode;

    /// The `OVERLAPPED` of a region at `start`, and its length (`len` 0:
    /// to the end of the largest file).
    fn region(start: u64, len: u64) -> (OVERLAPPED, u64) {
        // SAFETY: all zeroes is a valid OVERLAPPED.
        let mut overlapped: OVERLAPPED = unsafe { std::mem::zeroed() };
        overlapped.Anonymous.Anonymous.Offset = start as u32;
        overlapped.Anonymous.Anonymous.OffsetHigh = (start >> 32) as u32;
        let len = if len == 0 { u64::MAX - start } else { len };
        (overlapped, len)
    }

    /// Locks `len` bytes at `start` in `mode` (`None`: unlocks them), never
    /// waiting; the OS error when it fails.
    pub(super) fn set(
        file: &File,
        start: u64,
        len: u64,
        mode: Option<Mode>,
    ) -> std::io::Result<()> {
        let (mut overlapped, len) = region(start, len);
        let handle = file.as_raw_handle() as HANDLE;
        // SAFETY: a valid handle; `overlapped` outlives the call, which
        // never waits.
        let done = unsafe {
            match mode {
                Some(mode) => {
                    let mut flags = LOCKFILE_FAIL_IMMEDIATELY;
                    if mode == Mode::Exclusive {
                        flags |= LOCKFILE_EXCLUSIVE_LOCK;
                    }
                    LockFileEx(
                        handle,
                        flags,
                        0,
                        len as u32,
                        (len >> 32) as u32,
                        &mut overlapped,
                    )
                }
                None => UnlockFileEx(handle, 0, len as u32, (len >> 32) as u32, &mut overlapped),
            }
        };
        if done != 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    /// Whether `len` bytes at `start` of `file` could be locked in `mode`:
    /// a lock taken and given back at once.
    pub(super) fn can_lock(file: &File, start: u64, len: u64, mode: Mode) -> bool {
        let locked = set(file, start, len, Some(mode)).is_ok();
        if locked {
            set(file, start, len, None).expect("unlock the probe");
        }
        locked
    }
}

/// A range this process holds with a lock on its own open file (an
/// open-file-description lock; on Windows a `LockFileEx` region), until
/// dropped.
pub struct RangeHolder {
    file: File,
    start: u64,
    len: u64,
}

impl RangeHolder {
    /// Locks `len` bytes (0: to the end) at `start` of `path` in `mode`,
    /// without waiting; panics if another open file holds them.
    pub fn lock(path: &Path, start: u64, len: u64, mode: Mode) -> RangeHolder {
        let file = native::open(path);
        if let Err(err) = platform::set(&file, start, len, Some(mode)) {
            panic!("native range lock: {err}");
        }
        RangeHolder { file, start, len }
    }

    /// Unlocks the range now (dropping the holder closes its open file,
    /// which releases it too).
    pub fn release(self) {
        if let Err(err) = platform::set(&self.file, self.start, self.len, None) {
            panic!("native range unlock: {err}");
        }
    }
}

/// Whether a lock of this process on a fresh open file of `path` could take
/// `len` bytes at `start` in `mode` now (the probe is released at once).
pub fn can_lock_range(path: &Path, start: u64, len: u64, mode: Mode) -> bool {
    platform::can_lock(&native::open(path), start, len, mode)
}

/// The Python code that locks (or tries) a range of `path` in another
/// process; `{blocking}` decides whether it waits.
#[cfg(unix)]
fn python_lock_code(path: &Path, family: Family, start: u64, len: u64, mode: Mode) -> String {
    let path = path.display().to_string();
    let (lockf_mode, ofd_type) = match mode {
        Mode::Shared => ("fcntl.LOCK_SH", "fcntl.F_RDLCK"),
        Mode::Exclusive => ("fcntl.LOCK_EX", "fcntl.F_WRLCK"),
    };
    let call = match family {
        Family::Classic => {
            format!("fcntl.lockf(fd, {lockf_mode} | fcntl.LOCK_NB, {len}, {start}, os.SEEK_SET)")
        }
        // struct flock on 64-bit Linux: short, short, off_t, off_t, pid_t.
        Family::Ofd => format!(
            "fcntl.fcntl(fd, fcntl.F_OFD_SETLK, struct.pack('hhqqi4x', {ofd_type}, os.SEEK_SET, {start}, {len}, 0))"
        ),
    };
    format!(
        "import fcntl, os, struct, sys\n\
         fd = os.open({path:?}, os.O_RDWR | os.O_CREAT)\n\
         try:\n    {call}\n\
         except OSError:\n    print('busy', flush=True); sys.exit(1)\n"
    )
}

#[cfg(unix)]
/// Whether another process (Python) can lock `len` bytes at `start` of
/// `path` in `mode` with `family` locks right now (it exits at once, which
/// releases them).
pub fn python_can_lock(path: &Path, family: Family, start: u64, len: u64, mode: Mode) -> bool {
    let code = python_lock_code(path, family, start, len, mode);
    let output = Command::new("python3")
        .arg("-c")
        .arg(code)
        .output()
        .expect("run python3");
    match output.status.code() {
        Some(0) => true,
        Some(1) if String::from_utf8_lossy(&output.stdout).contains("busy") => false,
        _ => panic!("python3 failed: {output:?}"),
    }
}

#[cfg(unix)]
/// A range another process (Python) holds until dropped.
pub struct PythonHolder {
    child: Child,
    stdin: Option<ChildStdin>,
}

#[cfg(unix)]
impl PythonHolder {
    /// Starts a Python process that locks `len` bytes at `start` of `path`
    /// in `mode` with `family` locks and holds them until dropped; panics if
    /// it cannot take them.
    pub fn lock(path: &Path, family: Family, start: u64, len: u64, mode: Mode) -> PythonHolder {
        let code = format!(
            "{}print('locked', flush=True)\nsys.stdin.read()\n",
            python_lock_code(path, family, start, len, mode)
        );
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(code)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("read python3's output");
        assert_eq!(line.trim(), "locked", "python3 could not lock the range");
        let stdin = child.stdin.take();
        PythonHolder { child, stdin }
    }

    /// The holder's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Releases the range: the process ends.
    pub fn release(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.flush();
            drop(stdin);
            let _ = self.child.wait();
        }
    }
}

#[cfg(unix)]
impl Drop for PythonHolder {
    fn drop(&mut self) {
        self.release();
    }
}
