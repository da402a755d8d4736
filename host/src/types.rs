//! The WIT interface `types`: its records and variants are the bindings' own
//! (re-exported at the crate root); the host adds the one mapping of each of
//! its error types to what the guest sees.

use crate::bindings::portalocker::filelock::types::{self, LockError, PidLockError};
use crate::ctx::FileLockCtxView;
use crate::error::{LockFailure, PidLockFailure};

impl types::Host for FileLockCtxView<'_> {
    fn convert_lock_error(&mut self, err: LockFailure) -> wasmtime::Result<LockError> {
        err.into_guest_error()
    }

    fn convert_pid_lock_error(&mut self, err: PidLockFailure) -> wasmtime::Result<PidLockError> {
        err.into_guest_error()
    }
}
