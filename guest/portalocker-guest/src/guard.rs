//! [`LockGuard`]: a held path-layer lock and the locked file.

use std::fmt;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::time::Duration;

use wasip2::filesystem::types::{Descriptor, ErrorCode};

use crate::bindings::portalocker::filelock::path_lock::FileLock;
use crate::{Error, ErrorKind, Mode, duration_nanos};

/// How many bytes [`LockGuard::contents`] asks the host for at a time.
const CHUNK: u64 = 64 * 1024;

/// A lock held through the path layer, and the locked file.
///
/// Returned by [`Lock::acquire`](crate::Lock::acquire). The lock is released
/// when the guard is dropped, or by [`release`](LockGuard::release), which
/// reports errors. (The host also releases it when the instance goes away,
/// even after a trap.)
///
/// The guard reads, writes and seeks the locked file through
/// [`std::io::Read`], [`Write`] and [`Seek`], at a position it keeps itself
/// (starting at 0). Writes go to the file at once: [`flush`](Write::flush)
/// has nothing to do.
///
/// # Examples
///
/// ```no_run
/// use std::io::{Read, Seek, SeekFrom, Write};
///
/// use portalocker_guest::Lock;
///
/// # fn main() -> std::io::Result<()> {
/// let mut guard = Lock::new("notes.txt").acquire()?;
/// guard.seek(SeekFrom::End(0))?;
/// writeln!(guard, "one more line")?;
/// guard.rewind()?;
/// let mut all = String::new();
/// guard.read_to_string(&mut all)?;
/// # Ok(())
/// # }
/// ```
#[must_use = "if unused the lock will immediately unlock"]
pub struct LockGuard {
    lock: FileLock,
    file: Descriptor,
    mode: Mode,
    path: String,
    position: u64,
    released: bool,
    append: bool,
}

impl LockGuard {
    /// Wraps a held lock; fails (releasing the lock) when the host cannot
    /// hand out a descriptor of the locked file.
    pub(crate) fn new(lock: FileLock, path: String) -> Result<Self, Error> {
        let file = match lock.file() {
            Ok(file) => file,
            Err(e) => {
                let error = Error::new(e, "open the locked file", Some(&path));
                let _ = lock.release();
                return Err(error);
            }
        };
        let mode = lock.mode().into();
        Ok(LockGuard {
            lock,
            file,
            mode,
            path,
            position: 0,
            released: false,
            append: false,
        })
    }

    /// Makes every write go to the end of the file (portalocker's `'a'`).
    pub(crate) fn appending(mut self, append: bool) -> Self {
        self.append = append;
        self
    }

    /// The descriptor of the locked file. It shares the open file that holds
    /// the lock, so locking it with the handle layer never conflicts with
    /// this lock (and [`unlock`](crate::unlock) on it releases this lock).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let guard = portalocker_guest::Lock::new("a.lock").acquire()?;
    /// let stat = guard.file().stat().expect("stat");
    /// println!("{} bytes", stat.size);
    /// # Ok(())
    /// # }
    /// ```
    pub fn file(&self) -> &Descriptor {
        &self.file
    }

    /// The mode the lock was acquired in.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use portalocker_guest::{Lock, Mode};
    ///
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// assert_eq!(Lock::new("a.lock").shared().acquire()?.mode(), Mode::Shared);
    /// # Ok(())
    /// # }
    /// ```
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The path the lock was acquired with, as given to
    /// [`Lock::new`](crate::Lock::new).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// assert_eq!(portalocker_guest::Lock::new("a.lock").acquire()?.path(), "a.lock");
    /// # Ok(())
    /// # }
    /// ```
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether the host still holds the lock for this guard: true until the
    /// lock is released through [`as_file_lock`](LockGuard::as_file_lock)'s
    /// raw `release` (the guard itself can only be released by consuming it).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let guard = portalocker_guest::Lock::new("a.lock").acquire()?;
    /// assert!(guard.is_held());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_held(&self) -> bool {
        self.lock.is_held()
    }

    /// The raw WIT `file-lock` resource behind this guard.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let guard = portalocker_guest::Lock::new("a.lock").acquire()?;
    /// let raw = guard.as_file_lock();
    /// assert!(raw.is_held());
    /// # Ok(())
    /// # }
    /// ```
    pub fn as_file_lock(&self) -> &FileLock {
        &self.lock
    }

    /// The current size of the file in bytes.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when the host cannot `stat` the file.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let guard = portalocker_guest::Lock::new("a.lock").acquire()?;
    /// println!("{} bytes", guard.size()?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn size(&self) -> Result<u64, Error> {
        self.file
            .stat()
            .map(|stat| stat.size)
            .map_err(|code| self.io_error(code, "stat"))
    }

    /// Truncates or extends the file to `size` bytes (extending with zeros),
    /// like [`std::fs::File::set_len`]. The position is left unchanged.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when the host cannot resize the file, for example
    /// when the lock was acquired without [`write`](crate::Lock::write).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let guard = portalocker_guest::Lock::new("a.lock").acquire()?;
    /// guard.set_len(0)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_len(&self, size: u64) -> Result<(), Error> {
        self.file
            .set_size(size)
            .map_err(|code| self.io_error(code, "resize"))
    }

    /// The whole content of the file, read from its start (the position is
    /// left unchanged).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when the host cannot read the file.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let guard = portalocker_guest::Lock::new("a.lock").acquire()?;
    /// let bytes: Vec<u8> = guard.contents()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn contents(&self) -> Result<Vec<u8>, Error> {
        let mut contents = Vec::new();
        loop {
            let offset = contents.len() as u64;
            let (chunk, end) = self
                .file
                .read(CHUNK, offset)
                .map_err(|code| self.io_error(code, "read"))?;
            contents.extend_from_slice(&chunk);
            if end || chunk.is_empty() {
                return Ok(contents);
            }
        }
    }

    /// The whole content of the file as UTF-8 text, read from its start (the
    /// position is left unchanged).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when the host cannot read the file, with
    /// [`ErrorCode::IllegalByteSequence`] when the content is not UTF-8.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let guard = portalocker_guest::Lock::new("counter.txt").acquire()?;
    /// let n: u64 = guard.contents_string()?.trim().parse().unwrap_or(0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn contents_string(&self) -> Result<String, Error> {
        String::from_utf8(self.contents()?)
            .map_err(|_| self.io_error(ErrorCode::IllegalByteSequence, "read"))
    }

    /// Replaces the whole content of the file with `data`: writes it from the
    /// start, then cuts the file to its length. The position is left at the
    /// end of `data`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when the host cannot write or resize the file, for
    /// example when the lock was acquired without
    /// [`write`](crate::Lock::write).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let mut guard = portalocker_guest::Lock::new("counter.txt").acquire()?;
    /// guard.set_contents(b"42")?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_contents(&mut self, data: &[u8]) -> Result<(), Error> {
        let mut written = 0;
        while written < data.len() {
            let n = self
                .file
                .write(&data[written..], written as u64)
                .map_err(|code| self.io_error(code, "write"))?;
            if n == 0 {
                return Err(self.io_error(ErrorCode::Io, "write"));
            }
            written += usize::try_from(n)
                .unwrap_or(usize::MAX)
                .min(data.len() - written);
        }
        self.set_len(data.len() as u64)?;
        self.position = data.len() as u64;
        Ok(())
    }

    /// Flushes the file's data and metadata to storage (`fsync`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when the host cannot sync the file.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let mut guard = portalocker_guest::Lock::new("state.json").acquire()?;
    /// guard.set_contents(b"{}")?;
    /// guard.sync_all()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn sync_all(&self) -> Result<(), Error> {
        self.file.sync().map_err(|code| self.io_error(code, "sync"))
    }

    /// Releases the lock now, reporting any error (dropping the guard releases
    /// it too, ignoring errors). Descriptors obtained from
    /// [`file`](LockGuard::file) stay usable, without the lock.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when the host fails to release the lock.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let guard = portalocker_guest::Lock::new("a.lock").acquire()?;
    /// guard.release()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn release(mut self) -> Result<(), Error> {
        self.released = true;
        self.lock
            .release()
            .map_err(|e| Error::new(e, "release the lock on", Some(&self.path)))
    }

    /// Locks the file again in `mode`, waiting at most `timeout` (`None`:
    /// as long as it takes; zero: one attempt). The file stays open
    /// throughout, so the guard keeps reading and writing the same file.
    ///
    /// * Held in `mode` already: nothing happens (portalocker's `acquire`
    ///   on a lock it holds).
    /// * Held in the other mode: the lock is converted, shared to exclusive
    ///   (an upgrade, which may wait) or exclusive to shared (a downgrade,
    ///   which normally succeeds at once). As with `flock(2)`, a conversion
    ///   is not atomic: another holder may take the lock in between, and may
    ///   have changed the file. If a conversion fails, the lock is no longer
    ///   held at all ([`is_held`](Self::is_held) is false); `relock` again to
    ///   retake it.
    /// * Released by [`unlock`](Self::unlock): the lock is taken again.
    ///
    /// # Errors
    ///
    /// `AlreadyLocked` (zero timeout) or `TimedOut` when another holder is in
    /// the way; `Denied` when the host reserves exclusive locks for guests
    /// that may write.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// use portalocker_guest::{Lock, Mode};
    ///
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let mut guard = Lock::new("state.json").shared().acquire()?;
    /// let before = guard.contents_string()?;
    /// // Upgrade to write, then downgrade to let readers back in.
    /// guard.relock(Mode::Exclusive, Some(Duration::from_secs(1)))?;
    /// if guard.contents_string()? == before {
    ///     guard.set_contents(b"{\"version\": 2}")?;
    /// }
    /// guard.relock(Mode::Shared, None)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn relock(&mut self, mode: Mode, timeout: Option<Duration>) -> Result<(), Error> {
        let result = self
            .lock
            .lock(mode.into(), timeout.map(duration_nanos))
            .map_err(|e| Error::new(e, "lock", Some(&self.path)).with_detail(mode.as_str()));
        self.mode = self.lock.mode().into();
        self.released = !self.lock.is_held();
        result
    }

    /// Releases the lock but keeps the file open and the guard usable:
    /// [`relock`](Self::relock) takes the lock again. Unlocking a guard
    /// that holds no lock does nothing (portalocker's `release` twice).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when the host fails to release the lock.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use portalocker_guest::Mode;
    ///
    /// # fn main() -> Result<(), portalocker_guest::Error> {
    /// let mut guard = portalocker_guest::Lock::new("a.lock").acquire()?;
    /// guard.unlock()?;
    /// guard.unlock()?; // harmless
    /// guard.relock(Mode::Exclusive, None)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn unlock(&mut self) -> Result<(), Error> {
        self.released = true;
        self.lock
            .release()
            .map_err(|e| Error::new(e, "release the lock on", Some(&self.path)))
    }

    fn io_error(&self, code: ErrorCode, op: &'static str) -> Error {
        Error::new(ErrorKind::Io(code), op, Some(&self.path))
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if !self.released {
            // Dropping the resource releases the lock as well; releasing
            // explicitly first makes the point at which it happens plain.
            let _ = self.lock.release();
        }
    }
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("path", &self.path)
            .field("mode", &self.mode)
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

impl Read for LockGuard {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let (chunk, _) = self
            .file
            .read(buf.len() as u64, self.position)
            .map_err(|code| self.io_error(code, "read"))?;
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        self.position += n as u64;
        Ok(n)
    }
}

impl Write for LockGuard {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.append {
            self.position = self.size()?;
        }
        let n = self
            .file
            .write(buf, self.position)
            .map_err(|code| self.io_error(code, "write"))?;
        let n = usize::try_from(n).unwrap_or(usize::MAX).min(buf.len());
        self.position += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for LockGuard {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let (base, offset) = match pos {
            SeekFrom::Start(n) => {
                self.position = n;
                return Ok(n);
            }
            SeekFrom::Current(offset) => (self.position, offset),
            SeekFrom::End(offset) => (self.size()?, offset),
        };
        match base.checked_add_signed(offset) {
            Some(n) => {
                self.position = n;
                Ok(n)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "invalid seek in `{}` to a negative or overflowing position",
                    self.path
                ),
            )),
        }
    }

    fn stream_position(&mut self) -> io::Result<u64> {
        Ok(self.position)
    }
}
