//! Atomic writes, portalocker's `open_atomic`: new contents go into a
//! temporary file next to the target and replace it, flushed, only on
//! [`AtomicFile::commit`].

use std::io::{self, Write};

use wasip2::filesystem::types::Descriptor;

use crate::Error;
use crate::bindings::portalocker::filelock::atomic_write;
use crate::preopens;

/// Starts an atomic write of the guest path `path`: see [`AtomicWrite`].
///
/// # Examples
///
/// ```no_run
/// use std::io::Write;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut file = portalocker_guest::open_atomic("data/config.json").replace(true).create()?;
/// file.write_all(b"{\"version\": 2}")?;
/// file.commit()?; // readers now see the whole new file, never a part
/// # Ok(())
/// # }
/// ```
pub fn open_atomic(path: impl Into<String>) -> AtomicWrite {
    AtomicWrite {
        path: path.into(),
        replace: false,
    }
}

/// How to write a file atomically. By default an existing file is not
/// replaced (portalocker's no-replace): [`AtomicWrite::create`] and
/// [`AtomicFile::commit`] fail with [`ErrorKind::AlreadyExists`](crate::ErrorKind::AlreadyExists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtomicWrite {
    path: String,
    replace: bool,
}

impl AtomicWrite {
    /// Whether an existing file may be replaced.
    pub fn replace(mut self, replace: bool) -> Self {
        self.replace = replace;
        self
    }

    /// Creates the temporary file, resolving the path against the preopens.
    ///
    /// # Errors
    ///
    /// `AlreadyExists` without [`replace`](Self::replace) when the file
    /// exists, `BadPath` for a path outside the preopens or a symbolic link,
    /// `NotPermitted` for a read-only directory.
    pub fn create(&self) -> Result<AtomicFile, Error> {
        let (dir, relative) = preopens::resolve(&self.path)?;
        let inner = atomic_write::AtomicFile::create(&dir, &relative, self.replace)
            .map_err(|e| Error::new(e, "write atomically", Some(&self.path)))?;
        let file = inner
            .file()
            .map_err(|e| Error::new(e, "write atomically", Some(&self.path)))?;
        Ok(AtomicFile {
            inner,
            file,
            position: 0,
            path: self.path.clone(),
        })
    }
}

/// A file being written atomically. Write the new contents with
/// [`std::io::Write`], then [`commit`](Self::commit); dropping it without a
/// commit leaves the target untouched.
#[must_use = "dropping an AtomicFile without commit discards what was written"]
#[derive(Debug)]
pub struct AtomicFile {
    inner: atomic_write::AtomicFile,
    file: Descriptor,
    position: u64,
    path: String,
}

impl AtomicFile {
    /// The descriptor of the temporary file.
    pub fn file(&self) -> &Descriptor {
        &self.file
    }

    /// Flushes the new contents to disk and moves them into place.
    ///
    /// # Errors
    ///
    /// `AlreadyExists` when replacing was not allowed and the target appeared
    /// meanwhile; the target is then untouched.
    pub fn commit(self) -> Result<(), Error> {
        self.inner
            .commit()
            .map_err(|e| Error::new(e, "commit the atomic write of", Some(&self.path)))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.file.write(buf, self.position).map_err(|code| {
            io::Error::other(format!("write to `{}`: {}", self.path, code.name()))
        })?;
        let n = usize::try_from(n).unwrap_or(usize::MAX).min(buf.len());
        self.position += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
