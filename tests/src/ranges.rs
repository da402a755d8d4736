//! Native byte-range lockers: this process through open-file-description
//! locks, and other processes (Python) through classic `fcntl`/`lockf` locks
//! or open-file-description locks, as native programs take them.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
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

/// A range this process holds with an open-file-description lock on its own
/// open file, until dropped.
pub struct RangeHolder {
    file: File,
}

impl RangeHolder {
    /// Locks `len` bytes (0: to the end) at `start` of `path` in `mode`,
    /// without waiting; panics if another open file holds them.
    pub fn lock(path: &Path, start: u64, len: u64, mode: Mode) -> RangeHolder {
        let file = native::open(path);
        let mut lock = record(start, len, Some(mode));
        // SAFETY: a valid descriptor and `struct flock`.
        let done = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &mut lock) };
        assert_eq!(
            done,
            0,
            "native range lock: {}",
            std::io::Error::last_os_error()
        );
        RangeHolder { file }
    }

    /// Unlocks the range now (dropping the holder closes its open file,
    /// which releases it too).
    pub fn release(self) {
        let mut lock = record(0, 0, None);
        // SAFETY: a valid descriptor and `struct flock`.
        let done = unsafe { libc::fcntl(self.file.as_raw_fd(), libc::F_OFD_SETLK, &mut lock) };
        assert_eq!(
            done,
            0,
            "native range unlock: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Whether an open-file-description lock of this process on a fresh open
/// file of `path` could take `len` bytes at `start` in `mode` now (the probe
/// is released at once).
pub fn can_lock_range(path: &Path, start: u64, len: u64, mode: Mode) -> bool {
    let file = native::open(path);
    let mut lock = record(start, len, Some(mode));
    // SAFETY: a valid descriptor and `struct flock`.
    let done = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_GETLK, &mut lock) };
    assert_eq!(done, 0, "F_OFD_GETLK: {}", std::io::Error::last_os_error());
    libc::c_int::from(lock.l_type) == libc::F_UNLCK
}

/// The Python code that locks (or tries) a range of `path` in another
/// process; `{blocking}` decides whether it waits.
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

/// A range another process (Python) holds until dropped.
pub struct PythonHolder {
    child: Child,
    stdin: Option<ChildStdin>,
}

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

impl Drop for PythonHolder {
    fn drop(&mut self) {
        self.release();
    }
}
