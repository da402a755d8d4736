//! The model: Linux `flock(2)` on open file descriptions, the file
//! descriptors that keep them open, and the files' existence and length.

use crate::bindings::portalocker::filelock::types::LockMode;

/// An open file description.
#[derive(Debug)]
pub(super) struct Ofd {
    pub(super) file: usize,
    pub(super) held: Option<LockMode>,
    /// Open file descriptors of it.
    fds: usize,
}

/// One OS file descriptor, shared by its holders (a descriptor and the
/// requests made on it hold the same `Arc<File>`).
#[derive(Debug)]
pub(super) struct Fd {
    ofd: usize,
    refs: usize,
    /// The OS file descriptor number, where the fuzzer knows it (guest
    /// descriptors): valid while `refs > 0`.
    pub(super) raw: Option<i32>,
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
    /// A new open file of `file`, with one file descriptor.
    pub(super) fn new_fd(&mut self, file: usize) -> usize {
        self.ofds.push(Ofd {
            file,
            held: None,
            fds: 1,
        });
        self.fds.push(Fd {
            ofd: self.ofds.len() - 1,
            refs: 1,
            raw: None,
        });
        self.fds.len() - 1
    }

    /// A new file descriptor of `fd`'s open file (a `dup`).
    pub(super) fn dup_fd(&mut self, fd: usize) -> usize {
        let ofd = self.fds[fd].ofd;
        self.ofds[ofd].fds += 1;
        self.fds.push(Fd {
            ofd,
            refs: 1,
            raw: None,
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
            }
        }
    }

    pub(super) fn ofd(&self, fd: usize) -> usize {
        self.fds[fd].ofd
    }

    pub(super) fn file_of(&self, fd: usize) -> usize {
        self.ofds[self.fds[fd].ofd].file
    }

    /// Whether another open file of the same file holds the lock in a mode
    /// that conflicts with `mode` (`ofd` none: a new open file).
    pub(super) fn conflict(&self, file: usize, ofd: Option<usize>, mode: LockMode) -> bool {
        self.ofds.iter().enumerate().any(|(i, o)| {
            Some(i) != ofd
                && o.file == file
                && o.fds > 0
                && match mode {
                    LockMode::Exclusive => o.held.is_some(),
                    LockMode::Shared => o.held == Some(LockMode::Exclusive),
                }
        })
    }

    /// The result of an attempt in `mode` on `ofd` (Linux `flock`: a failed
    /// conversion has already dropped the old lock).
    pub(super) fn attempted(&mut self, ofd: usize, mode: LockMode, ok: bool) {
        let held = &mut self.ofds[ofd].held;
        if ok {
            *held = Some(mode);
        } else if *held != Some(mode) {
            *held = None;
        }
    }

    pub(super) fn unlock(&mut self, ofd: usize) {
        self.ofds[ofd].held = None;
    }

    /// How a file is held: none, shared or exclusive.
    pub(super) fn state(&self, file: usize) -> Option<LockMode> {
        let mut state = None;
        for o in &self.ofds {
            if o.file == file && o.fds > 0 {
                match o.held {
                    Some(LockMode::Exclusive) => return Some(LockMode::Exclusive),
                    Some(LockMode::Shared) => state = Some(LockMode::Shared),
                    None => {}
                }
            }
        }
        state
    }

    /// The lock of each open fd of `file` (see [`rank`]), sorted.
    pub(super) fn fd_locks(&self, file: usize) -> Vec<u8> {
        let mut held: Vec<u8> = self
            .fds
            .iter()
            .filter(|fd| fd.refs > 0 && self.ofds[fd.ofd].file == file)
            .map(|fd| rank(self.ofds[fd.ofd].held))
            .collect();
        held.sort_unstable();
        held
    }

    /// How many file descriptors of `file` are open.
    pub(super) fn expected_fds(&self, file: usize) -> usize {
        self.fds
            .iter()
            .filter(|fd| fd.refs > 0 && self.ofds[fd.ofd].file == file)
            .count()
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
