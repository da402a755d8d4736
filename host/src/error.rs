//! The error types of the lock calls (one per WIT error type, each either a
//! typed error for the guest or a trap), and how OS errors become WIT errors.

use std::io;

use wasmtime::component::ResourceTableError;
use wasmtime_wasi::p2::bindings::filesystem::types::ErrorCode;

pub use crate::bindings::portalocker::filelock::types::{Limit, LockError, PidLockError};
use crate::sys;

/// How a lock call can fail: with a [`LockError`] the guest receives as a
/// typed WIT error, or with a trap that ends the guest (only for host-side
/// faults such as an invalid resource handle, never for anything about the
/// file or the lock).
#[derive(Debug, thiserror::Error)]
pub enum LockFailure {
    /// A typed error for the guest.
    #[error("{0}")]
    Guest(LockError),
    /// A trap: the guest is stopped.
    #[error(transparent)]
    Trap(wasmtime::Error),
}

impl From<LockError> for LockFailure {
    fn from(err: LockError) -> Self {
        LockFailure::Guest(err)
    }
}

impl From<ResourceTableError> for LockFailure {
    fn from(err: ResourceTableError) -> Self {
        LockFailure::Trap(err.into())
    }
}

impl LockFailure {
    /// The one mapping from a failure to what the guest sees: the typed error
    /// is returned to the guest, a trap stops it.
    pub(crate) fn into_guest_error(self) -> wasmtime::Result<LockError> {
        match self {
            LockFailure::Guest(err) => Ok(err),
            LockFailure::Trap(trap) => Err(trap),
        }
    }
}

/// How a PID-file lock call can fail: with a [`PidLockError`] (the error and
/// the holder in the way, when known) for the guest, or with a trap.
#[derive(Debug, thiserror::Error)]
pub enum PidLockFailure {
    /// A typed error for the guest.
    #[error("{}", .0.error)]
    Guest(PidLockError),
    /// A trap: the guest is stopped.
    #[error(transparent)]
    Trap(wasmtime::Error),
}

impl From<PidLockError> for PidLockFailure {
    fn from(err: PidLockError) -> Self {
        PidLockFailure::Guest(err)
    }
}

/// An error without a holder to name.
impl From<LockError> for PidLockFailure {
    fn from(error: LockError) -> Self {
        PidLockFailure::Guest(PidLockError {
            error,
            holder: None,
        })
    }
}

impl From<LockFailure> for PidLockFailure {
    fn from(failure: LockFailure) -> Self {
        match failure {
            LockFailure::Guest(err) => err.into(),
            LockFailure::Trap(trap) => PidLockFailure::Trap(trap),
        }
    }
}

impl From<ResourceTableError> for PidLockFailure {
    fn from(err: ResourceTableError) -> Self {
        PidLockFailure::Trap(err.into())
    }
}

impl PidLockFailure {
    /// The mapping to what the guest sees, as for [`LockFailure`].
    pub(crate) fn into_guest_error(self) -> wasmtime::Result<PidLockError> {
        match self {
            PidLockFailure::Guest(err) => Ok(err),
            PidLockFailure::Trap(trap) => Err(trap),
        }
    }
}

/// Maps an error from opening a file by path to the guest's error.
///
/// Lexical problems (absolute paths, `..` leaving the directory, NUL bytes)
/// are caught before the open; what remains here comes from the kernel or from
/// the sandboxed resolver, which reports a symbolic link leading outside the
/// directory as a permission error without an OS error code.
///
/// A process out of file descriptors is `limit-reached(open-files)`, "too
/// many open files", here and in [`file_error`].
pub(crate) fn open_error(err: &io::Error) -> LockError {
    if sys::too_many_files(err) {
        return LockError::LimitReached(Limit::OpenFiles);
    }
    match (err.kind(), err.raw_os_error()) {
        (io::ErrorKind::PermissionDenied, None) => LockError::BadPath,
        (io::ErrorKind::NotFound, _) => LockError::NotFound,
        (io::ErrorKind::AlreadyExists, _) => LockError::AlreadyExists,
        (io::ErrorKind::PermissionDenied, Some(_)) | (io::ErrorKind::ReadOnlyFilesystem, _) => {
            LockError::NotPermitted
        }
        (io::ErrorKind::IsADirectory, _) => LockError::NotLockable,
        (
            io::ErrorKind::NotADirectory
            | io::ErrorKind::InvalidFilename
            | io::ErrorKind::InvalidInput,
            _,
        ) => LockError::BadPath,
        _ => sys::open_error(err).unwrap_or_else(|| LockError::Io(ErrorCode::from(err))),
    }
}

/// Maps an error from a lock, unlock or truncate call on an open file.
pub(crate) fn file_error(err: &io::Error) -> LockError {
    if sys::too_many_files(err) {
        return LockError::LimitReached(Limit::OpenFiles);
    }
    match err.kind() {
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
            LockError::NotPermitted
        }
        _ => LockError::Io(ErrorCode::from(err)),
    }
}
