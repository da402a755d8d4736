//! The model: Linux `flock(2)` on open file descriptions, the file
//! descriptors that keep them open, the files' existence and length, and
//! what waiting requests may still do to an open file's lock.
//!
//! An open file's lock is not always one known state. A request that waits
//! in the background may be granted its lock at any moment once nothing
//! conflicts (its wait is a standing order: the front of the file's queue
//! blocks in `flock(2)` on the request's own open file), and a call may or
//! may not have made an attempt that dropped a lock (a failed conversion
//! gives up the old lock). So each open file has a set of *allowed* states:
//! the one the guest's calls determine, the states an operation that just
//! ran may have left, and those its waiting requests may bring. The kernel
//! (`/proc/self/fdinfo`) must always show one of them; after each check the
//! model takes the kernel's word among them.

use std::fmt;

use crate::bindings::portalocker::filelock::types::LockMode;

/// A set of lock states of an open file (none, shared, exclusive).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct States(u8);

impl States {
    /// The set of one state.
    pub(super) fn one(state: Option<LockMode>) -> States {
        States(1 << rank(state))
    }

    /// This set and `state`.
    pub(super) fn with(self, state: Option<LockMode>) -> States {
        States(self.0 | 1 << rank(state))
    }

    pub(super) fn union(self, other: States) -> States {
        States(self.0 | other.0)
    }

    pub(super) fn has(self, state: Option<LockMode>) -> bool {
        self.0 & 1 << rank(state) != 0
    }

    pub(super) fn iter(self) -> impl Iterator<Item = Option<LockMode>> {
        [None, Some(LockMode::Shared), Some(LockMode::Exclusive)]
            .into_iter()
            .filter(move |s| self.has(*s))
    }
}

impl fmt::Debug for States {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(|s| match s {
                None => "none",
                Some(LockMode::Shared) => "shared",
                Some(LockMode::Exclusive) => "exclusive",
            }))
            .finish()
    }
}

/// Whether a lock in `state` conflicts with a lock in `mode` taken on
/// another open file.
pub(super) fn conflicts(state: Option<LockMode>, mode: LockMode) -> bool {
    match mode {
        LockMode::Exclusive => state.is_some(),
        LockMode::Shared => state == Some(LockMode::Exclusive),
    }
}

/// An open file description.
#[derive(Debug)]
pub(super) struct Ofd {
    pub(super) file: usize,
    /// The lock as the guest's calls (and the kernel's word since) say.
    pub(super) held: Option<LockMode>,
    /// The other states the operation that just ran may have left (it may
    /// or may not have made an attempt); the next check settles them.
    pub(super) unsure: States,
    /// Requests waiting in the background for a lock on this open file
    /// (by request id, with their mode): any of them may be granted at any
    /// moment once nothing conflicts.
    pub(super) waiting: Vec<(u64, LockMode)>,
    /// Whether the host counts a lock on this open file (the instance's
    /// usage, kept per open file: a descriptor, the requests made on it, a
    /// `file-lock` and its `file()` descriptors share one). The wait engine
    /// lets a holder try at once instead of lining up, and a request made
    /// while it is counted repeats or converts the lock.
    pub(super) counted: bool,
    /// A failed attempt left the count to the kernel's word: the host keeps
    /// counting the lock if the open file still holds one (the guest may
    /// have locked it again while a request waited). Settled at the next
    /// check.
    pub(super) count_unsure: bool,
    /// Open file descriptors of it.
    fds: usize,
}

/// One OS file descriptor, shared by its holders (a descriptor and the
/// requests made on it hold the same `Arc<File>`).
#[derive(Debug)]
pub(super) struct Fd {
    ofd: usize,
    refs: usize,
    /// The OS file descriptor number (valid while `refs > 0`).
    pub(super) raw: i32,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct FileState {
    pub(super) exists: bool,
    pub(super) len: u64,
}

#[derive(Debug, Default)]
pub(super) struct Model {
    pub(super) files: Vec<FileState>,
    pub(super) ofds: Vec<Ofd>,
    pub(super) fds: Vec<Fd>,
}

impl Model {
    /// A new open file of `file`, with one file descriptor, `raw`.
    pub(super) fn new_fd(&mut self, file: usize, raw: i32) -> usize {
        self.ofds.push(Ofd {
            file,
            held: None,
            unsure: States::default(),
            waiting: Vec::new(),
            counted: false,
            count_unsure: false,
            fds: 1,
        });
        self.fds.push(Fd {
            ofd: self.ofds.len() - 1,
            refs: 1,
            raw,
        });
        self.fds.len() - 1
    }

    pub(super) fn add_ref(&mut self, fd: usize) {
        assert!(self.fds[fd].refs > 0, "model: reference to a closed fd");
        self.fds[fd].refs += 1;
    }

    /// Drops a holder of `fd`: the last closes it, and the last file
    /// descriptor of an open file releases its lock.
    pub(super) fn drop_ref(&mut self, fd: usize) {
        let entry = &mut self.fds[fd];
        entry.refs -= 1;
        if entry.refs == 0 {
            let ofd = &mut self.ofds[entry.ofd];
            ofd.fds -= 1;
            if ofd.fds == 0 {
                ofd.held = None;
                ofd.unsure = States::default();
                ofd.waiting.clear();
            }
        }
    }

    pub(super) fn ofd(&self, fd: usize) -> usize {
        self.fds[fd].ofd
    }

    pub(super) fn file_of(&self, fd: usize) -> usize {
        self.ofds[self.fds[fd].ofd].file
    }

    /// Whether the open file is still open.
    pub(super) fn is_open(&self, ofd: usize) -> bool {
        self.ofds[ofd].fds > 0
    }

    /// The states the kernel may show for `ofd` now: its known lock, what
    /// the last operation may have left, and what its waiting requests may
    /// bring (their mode, and none: a waiting conversion gives up the old
    /// lock in the kernel before it waits).
    pub(super) fn allowed(&self, ofd: usize) -> States {
        let o = &self.ofds[ofd];
        let base = o.unsure.with(o.held);
        let mut allowed = base;
        for &(_, mode) in &o.waiting {
            allowed = allowed.with(Some(mode));
            if base.iter().any(|s| s.is_some() && s != Some(mode)) {
                allowed = allowed.with(None);
            }
        }
        allowed
    }

    /// The open files of `file` other than `except`.
    fn others(&self, file: usize, except: Option<usize>) -> impl Iterator<Item = usize> + '_ {
        (0..self.ofds.len())
            .filter(move |&i| Some(i) != except && self.ofds[i].file == file && self.is_open(i))
    }

    /// Whether another open file may hold `file`'s lock in a mode that
    /// conflicts with `mode`, now or until the asking call ends (`except`:
    /// the open file that asks; none: a new open file).
    ///
    /// A waiting request may only be granted its mode while no other open
    /// file surely holds a lock that conflicts with it: not while the
    /// asker's open file surely holds one that conflicts with both the
    /// request's mode and `mode` (converted to `mode`, it still does), nor
    /// while a third open file does.
    pub(super) fn may_conflict(&self, file: usize, except: Option<usize>, mode: LockMode) -> bool {
        self.others(file, except).any(|i| {
            let o = &self.ofds[i];
            let mut states = self.allowed(i);
            for &(_, wanted) in &o.waiting {
                if !(o.held == Some(wanted) || o.unsure.has(Some(wanted)))
                    && self.blocked(file, i, except, mode, wanted)
                {
                    states = States(states.0 & !States::one(Some(wanted)).0);
                }
            }
            states.iter().any(|s| conflicts(s, mode))
        })
    }

    /// Whether a request waiting on `ofd` for `wanted` cannot be granted
    /// until the call of `asker` (in `mode`) ends, whatever happens
    /// meanwhile (see [`Model::may_conflict`]).
    fn blocked(
        &self,
        file: usize,
        ofd: usize,
        asker: Option<usize>,
        mode: LockMode,
        wanted: LockMode,
    ) -> bool {
        self.others(file, Some(ofd)).any(|i| {
            let surely = self.allowed(i).iter().all(|s| conflicts(s, wanted));
            surely && (Some(i) != asker || conflicts(Some(mode), wanted))
        })
    }

    /// Whether another open file surely holds `file`'s lock in a mode that
    /// conflicts with `mode`.
    pub(super) fn must_conflict(&self, file: usize, except: Option<usize>, mode: LockMode) -> bool {
        self.others(file, except)
            .any(|i| self.allowed(i).iter().all(|s| conflicts(s, mode)))
    }

    /// What a native probe may see of `file` (none, shared, exclusive):
    /// every combination of the open files' allowed states.
    pub(super) fn probe_allowed(&self, file: usize) -> States {
        let mut seen = States::one(None);
        for i in self.others(file, None) {
            let allowed = self.allowed(i);
            let mut next = States::default();
            for a in seen.iter() {
                for b in allowed.iter() {
                    next = next.with(if rank(a) >= rank(b) { a } else { b });
                }
            }
            seen = next;
        }
        seen
    }

    /// How a file is held, as the guest's calls say (none, shared or
    /// exclusive).
    pub(super) fn state(&self, file: usize) -> Option<LockMode> {
        let mut state = None;
        for o in self.others(file, None).map(|i| &self.ofds[i]) {
            match o.held {
                Some(LockMode::Exclusive) => return Some(LockMode::Exclusive),
                Some(LockMode::Shared) => state = Some(LockMode::Shared),
                None => {}
            }
        }
        state
    }

    /// The result of an attempt in `mode` on `ofd` (Linux `flock`: a failed
    /// conversion has already dropped the old lock).
    pub(super) fn attempted(&mut self, ofd: usize, mode: LockMode, ok: bool) {
        let o = &mut self.ofds[ofd];
        if ok {
            o.held = Some(mode);
        } else if o.held != Some(mode) {
            o.held = None;
        }
    }

    /// The operation that just ran may also have left `ofd` in `states`.
    pub(super) fn unsure(&mut self, ofd: usize, states: States) {
        let o = &mut self.ofds[ofd];
        o.unsure = o.unsure.union(states);
    }

    pub(super) fn unlock(&mut self, ofd: usize) {
        self.ofds[ofd].held = None;
    }

    /// The host counts a lock on `ofd` (`true`) or no longer does.
    pub(super) fn count(&mut self, ofd: usize, counted: bool) {
        let o = &mut self.ofds[ofd];
        o.counted = counted;
        o.count_unsure = false;
    }

    /// An attempt on `ofd` failed: a lock the host counted stays counted
    /// only if the kernel shows the open file still holding one (settled
    /// at the next check, see [`Ofd::count_unsure`]).
    pub(super) fn count_failed(&mut self, ofd: usize) {
        let o = &mut self.ofds[ofd];
        o.count_unsure = o.counted;
        o.counted = false;
    }

    /// Request `id` waits for `mode` on `ofd` in the background.
    pub(super) fn add_waiting(&mut self, ofd: usize, id: u64, mode: LockMode) {
        self.ofds[ofd].waiting.push((id, mode));
    }

    /// Request `id` no longer waits on `ofd` (answered, granted or gone).
    pub(super) fn end_waiting(&mut self, ofd: usize, id: u64) {
        self.ofds[ofd].waiting.retain(|&(w, _)| w != id);
    }

    /// Open file descriptors of `file`: (model fd, raw fd, open file).
    pub(super) fn open_fds(&self, file: usize) -> impl Iterator<Item = (usize, i32, usize)> + '_ {
        self.fds
            .iter()
            .enumerate()
            .filter(move |(_, fd)| fd.refs > 0 && self.ofds[fd.ofd].file == file)
            .map(|(i, fd)| (i, fd.raw, fd.ofd))
    }

    /// The file is opened (and created, when asked and missing).
    pub(super) fn opened(&mut self, file: usize, create: bool) {
        let state = &mut self.files[file];
        if !state.exists && create {
            *state = FileState {
                exists: true,
                len: 0,
            };
        }
    }
}

/// Free, shared, exclusive as 0, 1, 2.
pub(super) fn rank(mode: Option<LockMode>) -> u8 {
    match mode {
        None => 0,
        Some(LockMode::Shared) => 1,
        Some(LockMode::Exclusive) => 2,
    }
}
