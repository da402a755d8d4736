//! What the model predicts for a call, and the check of the host's answer
//! against it.

use std::time::Duration;

use super::World;
use crate::bindings::portalocker::filelock::types::{LockError, LockMode};
use crate::error::LockFailure;
use crate::fuzz::Check;
use crate::fuzz::instance::{Handle, ReqState};
use crate::fuzz::ops::{DirSel, Opts, PathKind, Timeout, paths};
use crate::fuzz::probe;

/// A lock call as it was made and answered.
#[derive(Debug)]
pub(super) struct LockCall {
    pub(super) mode: LockMode,
    pub(super) timeout: Timeout,
    /// The error the call must fail with before any attempt, if any.
    pub(super) pre: Option<LockError>,
    /// The answer.
    pub(super) out: Result<(), LockError>,
    /// How long the call took.
    pub(super) elapsed: Duration,
}

/// Whether to generate waits without timeout behind requests nobody polls
/// (the once-known findings, see the module docs of `fuzz`). On unless
/// `PORTALOCKER_FUZZ_STRICT=0`.
fn strict() -> bool {
    std::env::var_os("PORTALOCKER_FUZZ_STRICT").is_none_or(|v| v != "0")
}

pub(super) fn lock_error_name(err: &LockError) -> String {
    format!("{err:?}")
}

pub(super) fn same_error(a: &LockError, b: &LockError) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

/// A typed error, or a trap (never expected).
pub(super) fn guest_error(failure: LockFailure) -> Result<LockError, String> {
    match failure {
        LockFailure::Guest(err) => Ok(err),
        LockFailure::Trap(trap) => Err(format!("trap: {trap:?}")),
    }
}

/// A call's result with its typed error, or a trap (never expected).
pub(super) fn typed<T>(res: Result<T, LockFailure>) -> Result<Result<T, LockError>, String> {
    match res {
        Ok(v) => Ok(Ok(v)),
        Err(f) => guest_error(f).map(Err),
    }
}

/// Checks a lock attempt's result against the model's prediction; returns
/// whether the lock was taken.
pub(super) fn check_attempt(
    res: &Result<(), LockError>,
    conflict: bool,
    tainted: bool,
    timeout: Timeout,
    elapsed: Duration,
) -> Result<bool, String> {
    match res {
        Ok(()) => {
            ensure!(
                !conflict,
                "took a lock the model says is held in a conflicting mode"
            );
            Ok(true)
        }
        Err(LockError::AlreadyLocked) => {
            ensure!(
                timeout == Timeout::Zero,
                "already-locked with timeout {timeout:?}"
            );
            ensure!(
                conflict || tainted,
                "already-locked though the lock is free"
            );
            Ok(false)
        }
        Err(LockError::TimedOut) => {
            let Timeout::Ms(ms) = timeout else {
                return Err(format!("timed-out with timeout {timeout:?}"));
            };
            ensure!(
                elapsed >= Duration::from_millis(u64::from(ms)),
                "timed-out after {elapsed:?}, before its {ms} ms"
            );
            ensure!(conflict || tainted, "timed-out though the lock is free");
            Ok(false)
        }
        Err(err) => Err(format!("unexpected error {err:?}")),
    }
}

impl World {
    /// The error a handle-layer call must fail with before any attempt.
    pub(super) fn handle_error(
        &self,
        inst: usize,
        handle: Handle,
        mode: Option<LockMode>,
    ) -> Option<LockError> {
        let inst = &self.instances[inst];
        match handle {
            Handle::Dir => Some(LockError::BadDescriptor),
            Handle::Desc(d) => (mode == Some(LockMode::Exclusive)
                && inst.descs[d].read_only
                && !inst.cfg.read_only_exclusive)
                .then_some(LockError::Denied),
        }
    }

    /// The error a path-layer call must fail with before opening, or the file
    /// it opens.
    pub(super) fn path_expect(
        &self,
        inst: usize,
        dir: DirSel,
        path: u8,
        opts: &Opts,
    ) -> Result<usize, LockError> {
        let instance = &self.instances[inst];
        if let DirSel::Desc(_) = dir
            && !instance.descs.is_empty()
        {
            return Err(LockError::BadDescriptor);
        }
        if opts.truncate && (!opts.write || opts.mode != LockMode::Exclusive) {
            return Err(LockError::InvalidOptions);
        }
        if opts.append && (!opts.write || opts.truncate) {
            return Err(LockError::InvalidOptions);
        }
        if instance.cfg.read_only {
            if opts.write || opts.create || opts.truncate || opts.append {
                return Err(LockError::NotPermitted);
            }
            if opts.mode == LockMode::Exclusive && !instance.cfg.read_only_exclusive {
                return Err(LockError::Denied);
            }
        }
        match paths()[usize::from(path)].1 {
            PathKind::Fails(err) => Err(err),
            PathKind::File(file) => {
                if !self.model.files[file].exists && !opts.create {
                    Err(LockError::NotFound)
                } else {
                    Ok(file)
                }
            }
        }
    }

    /// Whether a wait without timeout must end at once: the lock is free,
    /// and (unless strict) no request waits in the file's queue (see
    /// [`strict`]).
    pub(super) fn may_wait_forever(&self, file: usize, ofd: Option<usize>, mode: LockMode) -> bool {
        !self.model.conflict(file, ofd, mode) && (strict() || !self.registered_on(file))
    }

    /// Requests with a place among a file's waiters.
    pub(super) fn registered_on(&self, file: usize) -> bool {
        self.instances.iter().any(|inst| {
            inst.reqs.iter().any(|r| {
                r.file == Some(file) && matches!(r.state, ReqState::Waiting { registered: true })
            })
        })
    }

    /// Whether the host itself may hold `file`'s lock for an instant
    /// (a sentinel before or after the operation, or a waiting request).
    pub(super) fn tainted(&self, file: usize) -> bool {
        self.before[file] || self.sentinels()[file] || self.registered_on(file)
    }

    /// Settles the model where a wait may or may not have made a failed
    /// attempt (a queued waiter does not try before its turn; a failed
    /// conversion drops the old lock): the open file holds its old lock or
    /// none, and the kernel says which.
    pub(super) fn settle_unsure(&mut self, fd: usize) -> Check {
        let ofd = self.model.ofd(fd);
        let old = self.model.ofds[ofd].held;
        if old.is_none() {
            return Ok(());
        }
        let raw = self.model.fds[fd]
            .raw
            .ok_or("fuzzer: no raw fd recorded for an ambiguous open file")?;
        let now = probe::fd_lock(raw)?;
        ensure!(
            now.is_none() || now == old,
            "the open file holds {now:?} after a wait that did not take the lock, before {old:?}"
        );
        self.model.ofds[ofd].held = now;
        Ok(())
    }

    /// Checks and applies a handle-layer lock call's result.
    pub(super) fn handle_result(&mut self, inst: usize, handle: Handle, call: LockCall) -> Check {
        let fd = match (handle, call.pre) {
            (Handle::Desc(d), _) => self.instances[inst].descs[d].fd,
            // A directory descriptor has no lock state to model: the call
            // must fail with the expected error, whatever `fd` says.
            (Handle::Dir, Some(_)) => 0,
            (Handle::Dir, None) => unreachable!("the preopen always has an expected error"),
        };
        self.attempt_result(fd, call)?;
        Ok(())
    }

    /// Checks a lock attempt on the open file of model descriptor `fd`
    /// against the model and applies it: `None` when the call failed with
    /// the expected error `pre` (nothing changes), else whether it took the
    /// lock.
    pub(super) fn attempt_result(
        &mut self,
        fd: usize,
        call: LockCall,
    ) -> Result<Option<bool>, String> {
        let LockCall {
            mode,
            timeout,
            pre,
            out,
            elapsed,
        } = call;
        self.log.push(format!("  -> {out:?} in {elapsed:?}"));
        self.note_result(&out);
        if let Some(want) = pre {
            return match out {
                Err(got) if same_error(&want, &got) => Ok(None),
                got => Err(format!("{got:?}, expected {want:?}")),
            };
        }
        let (ofd, file) = (self.model.ofd(fd), self.model.file_of(fd));
        let conflict = self.model.conflict(file, Some(ofd), mode);
        let tainted = self.tainted(file);
        let ok = check_attempt(&out, conflict, tainted, timeout, elapsed)?;
        self.model.attempted(ofd, mode, ok);
        Ok(Some(ok))
    }
}
