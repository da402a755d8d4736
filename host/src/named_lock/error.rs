//! The errors of named locks: [`NamedLockFailure`], the one Rust error type
//! of the `named-lock` functions (a typed `named-lock-error` for the guest,
//! or a trap), with the WIT interface `named-lock-types`' one mapping;
//! [`BackendError`], how a lock service fails; and how the file-lock
//! engine's and the policy's errors read as named-lock errors.

use wasmtime::component::ResourceTableError;

use crate::bindings::portalocker::filelock::named_lock_types::{self, NamedLockError};
use crate::bindings::portalocker::filelock::types::LockError;
use crate::ctx::FileLockCtxView;

/// How a named-lock call can fail: with a [`NamedLockError`] the guest
/// receives as a typed WIT error, or with a trap that ends the guest (only
/// for host-side faults such as an invalid resource handle, never for
/// anything about the lock or its service).
#[derive(Debug, thiserror::Error)]
pub enum NamedLockFailure {
    /// A typed error for the guest.
    #[error("{0}")]
    Guest(NamedLockError),
    /// A trap: the guest is stopped.
    #[error(transparent)]
    Trap(wasmtime::Error),
}

impl From<NamedLockError> for NamedLockFailure {
    fn from(err: NamedLockError) -> Self {
        NamedLockFailure::Guest(err)
    }
}

impl From<ResourceTableError> for NamedLockFailure {
    fn from(err: ResourceTableError) -> Self {
        NamedLockFailure::Trap(err.into())
    }
}

impl NamedLockFailure {
    /// The one mapping from a failure to what the guest sees: the typed error
    /// is returned to the guest, a trap stops it.
    pub(crate) fn into_guest_error(self) -> wasmtime::Result<NamedLockError> {
        match self {
            NamedLockFailure::Guest(err) => Ok(err),
            NamedLockFailure::Trap(trap) => Err(trap),
        }
    }
}

impl named_lock_types::Host for FileLockCtxView<'_> {
    fn convert_named_lock_error(
        &mut self,
        err: NamedLockFailure,
    ) -> wasmtime::Result<NamedLockError> {
        err.into_guest_error()
    }
}

/// Why a lock service failed (other than contention).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BackendError {
    /// The service could not be reached or did not answer in time.
    #[error("the lock service is unavailable: {0}")]
    Unavailable(String),
    /// A lease the caller held is no longer held.
    #[error("the lock was lost")]
    #[cfg_attr(
        not(any(feature = "redis", feature = "postgres")),
        expect(dead_code, reason = "only a service on the network loses a lock")
    )]
    Lost,
}

impl BackendError {
    /// The guest's view of this error (the reason goes to the host's log).
    pub(crate) fn to_guest(&self) -> NamedLockError {
        match self {
            BackendError::Unavailable(why) => {
                tracing::debug!(%why, "named lock service unavailable");
                NamedLockError::Unavailable
            }
            BackendError::Lost => NamedLockError::Lost,
        }
    }
}

/// The named-lock error for an error of the file-lock engine or the host's
/// policy: contention and limits keep their meaning; anything else is a
/// local namespace's directory that cannot be used, which the guest sees as
/// a service that is `unavailable`.
pub(crate) fn from_lock_error(err: LockError) -> NamedLockError {
    match err {
        LockError::AlreadyLocked => NamedLockError::AlreadyLocked,
        LockError::TimedOut => NamedLockError::TimedOut,
        LockError::LimitReached(limit) => NamedLockError::LimitReached(limit),
        other => {
            tracing::warn!(?other, "a named lock's directory cannot be used");
            NamedLockError::Unavailable
        }
    }
}
