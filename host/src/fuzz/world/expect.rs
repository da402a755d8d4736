//! What the model predicts for a call, and the check of the host's answer
//! against it.

use std::time::Duration;

use super::World;
use crate::bindings::portalocker::filelock::types::{LockError, LockMode};
use crate::error::LockFailure;
use crate::fuzz::Check;
use crate::fuzz::instance::{Answers, Handle};
use crate::fuzz::model::States;
use crate::fuzz::ops::{DirSel, LONG_MS, Opts, PathKind, Timeout, paths};

/// What may come of a lock attempt, by the model.
#[derive(Debug, Clone, Copy)]
pub(super) struct Outlook {
    /// The lock may be taken: no other open file surely holds it in a
    /// conflicting mode.
    pub(super) may_succeed: bool,
    /// The attempt may fail: another open file may hold the lock in a
    /// conflicting mode (or come to hold it: a waiting request may be
    /// granted meanwhile), or this host's fair waiters are ahead of a fair
    /// waiter that holds no lock on the file.
    pub(super) may_fail: bool,
    /// Whether the waiter may line up behind this host's fair waiters
    /// without trying first (a fair waiter with a timeout, fair waiters
    /// ahead, and it neither converts its own lock nor holds a lock on the
    /// file through another open file). Otherwise a failure always follows
    /// an attempt, which gives up an old lock of another mode.
    pub(super) may_line_up: bool,
}

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

/// Checks the error a lock that was not taken gave: `already-locked` only
/// for a timeout of zero, `timed-out` only for a timeout, and only once it
/// has passed (`elapsed`: at least the time since the call began).
pub(super) fn check_failure(
    err: &LockError,
    timeout: Timeout,
    elapsed: Duration,
) -> Result<(), String> {
    match err {
        LockError::AlreadyLocked => {
            ensure!(
                timeout == Timeout::Zero,
                "already-locked with timeout {timeout:?}"
            );
        }
        LockError::TimedOut => {
            let Timeout::Ms(ms) = timeout else {
                return Err(format!("timed-out with timeout {timeout:?}"));
            };
            ensure!(
                elapsed >= Duration::from_millis(u64::from(ms)),
                "timed-out after {elapsed:?}, before its {ms} ms"
            );
        }
        err => return Err(format!("unexpected error {err:?}")),
    }
    Ok(())
}

/// How long a call may take that needs no waiting (its lock is free for it,
/// and no waiter of this host is ahead or it holds the lock already). Only
/// checked for calls whose timeout is longer (none, or a long one): a call
/// that waited for something waits until a deadline.
const NO_WAIT: Duration = Duration::from_millis(100);

/// Checks a lock attempt's result against the model's outlook; returns
/// whether the lock was taken.
pub(super) fn check_attempt(
    res: &Result<(), LockError>,
    outlook: Outlook,
    timeout: Timeout,
    elapsed: Duration,
) -> Result<bool, String> {
    match res {
        Ok(()) => {
            ensure!(
                outlook.may_succeed,
                "took a lock the model says is held in a conflicting mode"
            );
            let long = matches!(timeout, Timeout::Forever | Timeout::Ms(LONG_MS));
            ensure!(
                outlook.may_fail || !long || elapsed < NO_WAIT,
                "took {elapsed:?} for a lock that was free for it with no waiter of this host \
                 ahead (or held by its instance already)"
            );
            Ok(true)
        }
        Err(err) => {
            check_failure(err, timeout, elapsed)?;
            ensure!(
                outlook.may_fail,
                "{err:?} though the lock is free and no waiter of this host is ahead"
            );
            Ok(false)
        }
    }
}

/// Checks a request's answer against what the model allows of it.
pub(super) fn check_answer(got: &Result<(), LockError>, allowed: Answers) -> Check {
    match got {
        Ok(()) => ensure!(allowed.ok, "get: ok, the model allows only a failure"),
        Err(err) => ensure!(allowed.err, "get: {err:?}, the model allows only ok"),
    }
    Ok(())
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

    /// Whether a wait without timeout must end: nothing may hold the lock
    /// in a conflicting mode, now or until the wait ends (the waiters ahead
    /// of it in this host's line are served or leave within their own
    /// timeouts).
    pub(super) fn may_wait_forever(&self, file: usize, ofd: Option<usize>, mode: LockMode) -> bool {
        !self.model.may_conflict(file, ofd, mode)
    }

    /// Whether the host counts a lock of instance `inst` on `file` (an
    /// open file of a descriptor or a `file-lock` it locked): the wait
    /// engine's own knowledge.
    pub(super) fn counts_lock_on(&self, inst: usize, file: usize) -> bool {
        let instance = &self.instances[inst];
        instance
            .descs
            .iter()
            .map(|d| d.fd)
            .chain(instance.locks.iter().map(|l| l.fd))
            .any(|fd| self.model.file_of(fd) == file && self.model.ofds[self.model.ofd(fd)].counted)
    }

    /// Whether one of instance `inst`'s open files surely holds a lock on
    /// `file`, by the kernel's rules (however the host came to know it).
    pub(super) fn surely_holds(&self, inst: usize, file: usize) -> bool {
        let instance = &self.instances[inst];
        let fds = instance
            .descs
            .iter()
            .map(|d| d.fd)
            .chain(instance.locks.iter().map(|l| l.fd))
            .chain(instance.reqs.iter().filter_map(|r| r.fd));
        fds.into_iter().any(|fd| {
            let ofd = self.model.ofd(fd);
            self.model.file_of(fd) == file
                && self.model.is_open(ofd)
                && !self.model.allowed(ofd).has(None)
        })
    }

    /// Whether fair waiters of this host may be lined up for `file`: fair
    /// instances' requests that wait with a place in line (`except`: one
    /// not to count).
    pub(super) fn line_on(&self, file: usize, except: Option<u64>) -> bool {
        self.instances.iter().filter(|i| i.cfg.fair).any(|i| {
            i.reqs
                .iter()
                .any(|r| r.file == Some(file) && Some(r.id) != except && r.registered().is_some())
        })
    }

    /// What may come of a lock attempt in `mode` on `file` by instance
    /// `inst` with `timeout`, through the open file `ofd` (none: a new one);
    /// `converting`: the host counts a lock on that open file.
    pub(super) fn outlook(
        &self,
        inst: usize,
        file: usize,
        ofd: Option<usize>,
        mode: LockMode,
        timeout: Timeout,
        converting: bool,
    ) -> Outlook {
        let tries_first = converting || self.holds_for_fairness(inst, file);
        let may_line_up = timeout != Timeout::Zero
            && self.instances[inst].cfg.fair
            && !tries_first
            && self.line_on(file, None);
        Outlook {
            may_succeed: !self.model.must_conflict(file, ofd, mode),
            may_fail: self.model.may_conflict(file, ofd, mode) || may_line_up,
            may_line_up,
        }
    }

    /// Whether instance `inst` holds a lock on `file` as far as fairness
    /// goes: a fair waiter that holds the lock it waits for (a second open
    /// file of it, say) tries at once instead of lining up behind waiters
    /// that may wait for it, as `flock(2)` would let it.
    pub(super) fn holds_for_fairness(&self, inst: usize, file: usize) -> bool {
        self.counts_lock_on(inst, file) || self.surely_holds(inst, file)
    }

    /// The model after a lock attempt on `ofd` that was not taken: an
    /// attempt gives up an old lock of another mode (Linux `flock`); a
    /// waiter that lined up may never have made one.
    pub(super) fn failed_attempt(&mut self, ofd: usize, mode: LockMode, tried: bool) {
        let old = self.model.ofds[ofd].held;
        self.model.attempted(ofd, mode, false);
        if !tried {
            self.model.unsure(ofd, States::one(old));
        }
    }

    /// Checks and applies a handle-layer lock call's result.
    pub(super) fn handle_result(
        &mut self,
        inst: usize,
        handle: Handle,
        call: LockCall,
        outlook: Outlook,
    ) -> Check {
        self.log
            .push(format!("  -> {:?} in {:?}", call.out, call.elapsed));
        self.note_result(&call.out);
        if let Some(want) = call.pre {
            return match call.out {
                Err(got) if same_error(&want, &got) => Ok(()),
                got => Err(format!("{got:?}, expected {want:?}")),
            };
        }
        let Handle::Desc(d) = handle else {
            unreachable!("the preopen always has an expected error")
        };
        let fd = self.instances[inst].descs[d].fd;
        let ofd = self.model.ofd(fd);
        let ok = check_attempt(&call.out, outlook, call.timeout, call.elapsed)?;
        if ok {
            self.model.attempted(ofd, call.mode, true);
            self.model.count(ofd, true);
        } else {
            self.failed_attempt(ofd, call.mode, !outlook.may_line_up);
            self.model.count_failed(ofd);
        }
        self.touch(ofd, None);
        Ok(())
    }
}
