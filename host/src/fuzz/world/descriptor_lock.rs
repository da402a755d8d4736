//! Operations of the handle layer: descriptors opened and dropped as a
//! guest's `wasi:filesystem` does, and the WIT interface `descriptor-lock`
//! (`lock`, `try-lock`, `unlock`) called on them or on the preopened
//! directory.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

use wasmtime_wasi::filesystem::{self as wasi_fs, Descriptor};
use wasmtime_wasi::{FsPerms, OpenMode};

use super::expect::{LockCall, Outlook, same_error, typed};
use super::{HANG, World};
use crate::bindings::portalocker::filelock as wit;
use crate::bindings::portalocker::filelock::types::LockMode;
use crate::bindings::sync::portalocker::filelock as wit_sync;
use crate::fuzz::Check;
use crate::fuzz::instance::{DescEntry, Handle, at_once, blocking, pick, within};
use crate::fuzz::model::States;
use crate::fuzz::ops::{FILES, Target, Timeout};

impl World {
    /// The descriptor a handle-layer operation names, if the instance has
    /// one.
    pub(super) fn target(&self, inst: usize, target: Target) -> Option<Handle> {
        match target {
            Target::Preopen => Some(Handle::Dir),
            Target::Desc(i) => pick(self.instances[inst].descs.len(), i).map(Handle::Desc),
        }
    }

    /// Opens a descriptor on a file (creating it if missing), as the guest's
    /// `open-at` would, and gives it to the instance.
    pub(super) fn open(&mut self, inst: u8, file: u8, read_only: bool) -> Check {
        let inst = self.inst(inst);
        let file = usize::from(file) % FILES.len();
        let path = &self.real[file];
        if !self.model.files[file].exists {
            File::create(path).map_err(|e| format!("create: {e}"))?;
            self.model.opened(file, true);
        }
        let std_file = OpenOptions::new()
            .read(true)
            .write(!read_only)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| format!("open: {e}"))?;
        let raw = std_file.as_raw_fd();
        let (perms, mode) = if read_only {
            (FsPerms::ReadOnly, OpenMode::READ)
        } else {
            (FsPerms::ReadWrite, OpenMode::READ | OpenMode::WRITE)
        };
        let res = self.instances[inst]
            .table
            .push(Descriptor::File(wasi_fs::File::new(
                std_file, perms, mode, false,
            )))
            .map_err(|e| format!("push: {e}"))?;
        let fd = self.model.new_fd(file, raw);
        self.instances[inst]
            .descs
            .push(DescEntry { res, fd, read_only });
        self.log.push(format!("  -> descriptor on {}", FILES[file]));
        Ok(())
    }

    /// Drops one of the instance's descriptors.
    pub(super) fn drop_descriptor(&mut self, inst: u8, desc: u8) -> Check {
        let inst = self.inst_with(inst, |i| !i.descs.is_empty());
        let instance = &mut self.instances[inst];
        let Some(d) = pick(instance.descs.len(), desc) else {
            return self.skip();
        };
        let entry = instance.descs.remove(d);
        instance
            .table
            .delete(entry.res)
            .map_err(|e| format!("delete descriptor: {e}"))?;
        self.model.drop_ref(entry.fd);
        Ok(())
    }

    /// `try-lock`.
    pub(super) fn try_lock(&mut self, inst: u8, target: Target, mode: LockMode) -> Check {
        let inst = self.inst_with(inst, |i| !i.descs.is_empty());
        let Some(handle) = self.target(inst, target) else {
            return self.skip();
        };
        let pre = self.handle_error(inst, handle, Some(mode));
        let outlook = self.handle_outlook(inst, handle, mode, Timeout::Zero);
        let instance = &mut self.instances[inst];
        let fd = instance.handle(handle);
        let out = typed(at_once(
            "try-lock",
            wit::descriptor_lock::Host::try_lock(&mut instance.view(), fd, mode),
        )?)?;
        let call = LockCall {
            mode,
            timeout: Timeout::Zero,
            pre,
            out,
            elapsed: Duration::ZERO,
        };
        self.handle_result(inst, handle, call, outlook)
    }

    /// What may come of a lock attempt on a handle-layer target (the
    /// preopen fails before any attempt).
    fn handle_outlook(
        &self,
        inst: usize,
        handle: Handle,
        mode: LockMode,
        timeout: Timeout,
    ) -> Outlook {
        match handle {
            Handle::Desc(d) => {
                let desc = &self.instances[inst].descs[d];
                let (ofd, file) = (self.model.ofd(desc.fd), self.model.file_of(desc.fd));
                let counted = self.model.ofds[ofd].counted;
                self.outlook(inst, file, Some(ofd), mode, timeout, counted)
            }
            Handle::Dir => Outlook {
                may_succeed: false,
                may_fail: false,
                may_line_up: false,
            },
        }
    }

    /// `lock` with a timeout; without one only when the model says the lock
    /// is free (see [`World::may_wait_forever`]). Through the sync linker
    /// when the instance is configured so.
    pub(super) fn lock(
        &mut self,
        inst: u8,
        target: Target,
        mode: LockMode,
        timeout: Timeout,
    ) -> Check {
        let inst = self.inst_with(inst, |i| !i.descs.is_empty());
        let Some(handle) = self.target(inst, target) else {
            return self.skip();
        };
        let pre = self.handle_error(inst, handle, Some(mode));
        let timeout = match (timeout, handle) {
            (Timeout::Forever, Handle::Desc(d)) => {
                let fd = self.instances[inst].descs[d].fd;
                let ofd = self.model.ofd(fd);
                if self.may_wait_forever(self.model.file_of(fd), Some(ofd), mode) {
                    Timeout::Forever
                } else {
                    Timeout::Zero
                }
            }
            (t, _) => t,
        };
        let outlook = self.handle_outlook(inst, handle, mode, timeout);
        let instance = &mut self.instances[inst];
        let fd = instance.handle(handle);
        let (out, elapsed) = if instance.cfg.sync {
            blocking(format!("lock {mode:?} {timeout:?}"), HANG, || {
                wit_sync::descriptor_lock::Host::lock(&mut instance.view(), fd, mode, timeout.ns())
            })
        } else {
            let start = Instant::now();
            let out = within(
                &self.rt,
                HANG,
                wit::descriptor_lock::Host::lock(&mut instance.view(), fd, mode, timeout.ns()),
            )
            .ok_or_else(|| format!("lock with timeout {timeout:?} hung for {HANG:?}"))?;
            (out, start.elapsed())
        };
        let out = typed(out)?;
        let call = LockCall {
            mode,
            timeout,
            pre,
            out,
            elapsed,
        };
        self.handle_result(inst, handle, call, outlook)
    }

    /// `unlock`.
    pub(super) fn unlock(&mut self, inst: u8, target: Target) -> Check {
        let inst = self.inst_with(inst, |i| !i.descs.is_empty());
        let Some(handle) = self.target(inst, target) else {
            return self.skip();
        };
        let pre = self.handle_error(inst, handle, None);
        let instance = &mut self.instances[inst];
        let fd = instance.handle(handle);
        let out = typed(at_once(
            "unlock",
            wit::descriptor_lock::Host::unlock(&mut instance.view(), fd),
        )?)?;
        self.log.push(format!("  -> {out:?}"));
        self.note_result(&out);
        match (pre, out) {
            (Some(want), Err(got)) => {
                ensure!(
                    same_error(&want, &got),
                    "unlock: {got:?}, expected {want:?}"
                )
            }
            (None, Ok(())) => {
                let Handle::Desc(d) = handle else {
                    unreachable!()
                };
                let ofd = self.model.ofd(self.instances[inst].descs[d].fd);
                self.model.unlock(ofd);
                self.model.count(ofd, false);
                self.touch(ofd, None);
            }
            (want, got) => return Err(format!("unlock: {got:?}, expected {want:?}")),
        }
        Ok(())
    }

    /// `lock` without a timeout, cancelled (its future dropped) after
    /// `after_ms` if it has not finished by then.
    pub(super) fn lock_cancelled(
        &mut self,
        inst: u8,
        target: Target,
        mode: LockMode,
        after_ms: u8,
    ) -> Check {
        let inst = self.inst_with(inst, |i| !i.descs.is_empty());
        let Some(handle) = self.target(inst, target) else {
            return self.skip();
        };
        let pre = self.handle_error(inst, handle, Some(mode));
        let outlook = self.handle_outlook(inst, handle, mode, Timeout::Forever);
        let instance = &mut self.instances[inst];
        let fd = instance.handle(handle);
        let patience = Duration::from_millis(u64::from(after_ms));
        let start = Instant::now();
        let out = within(
            &self.rt,
            patience,
            wit::descriptor_lock::Host::lock(&mut instance.view(), fd, mode, None),
        );
        let elapsed = start.elapsed();
        let out = match out {
            Some(done) => Some(typed(done)?),
            None => None,
        };
        self.log.push(format!("  -> {out:?} in {elapsed:?}"));
        match &out {
            None => self.note("cancelled"),
            Some(res) => self.note_result(res),
        }
        match (pre, out) {
            (Some(want), Some(Err(got))) if same_error(&want, &got) => {}
            (Some(want), got) => return Err(format!("{got:?}, expected {want:?}")),
            (None, Some(Ok(()))) => {
                ensure!(
                    outlook.may_succeed,
                    "took a lock the model says is held in a conflicting mode"
                );
                let Handle::Desc(d) = handle else {
                    unreachable!()
                };
                let ofd = self.model.ofd(self.instances[inst].descs[d].fd);
                self.model.attempted(ofd, mode, true);
                self.model.count(ofd, true);
                self.touch(ofd, None);
            }
            (None, None) => {
                ensure!(
                    outlook.may_fail,
                    "a wait for a free lock, with no waiter of this host ahead, was still \
                     waiting after {elapsed:?}"
                );
                let Handle::Desc(d) = handle else {
                    unreachable!()
                };
                let ofd = self.model.ofd(self.instances[inst].descs[d].fd);
                // Cancelled: a lock granted meanwhile was given back before
                // the cancellation returned; an attempt (or the wait in the
                // kernel) gave up an old lock of another mode. The host
                // still counts a lock it counted.
                self.failed_attempt(ofd, mode, !outlook.may_line_up);
                // A lock granted meanwhile stays if a request on the same
                // open file waits in the background (it may hold the grant
                // too: the lock is the open file's).
                if !self.model.ofds[ofd].waiting.is_empty() {
                    self.model.unsure(ofd, States::one(Some(mode)));
                }
                self.touch(ofd, None);
            }
            (None, Some(Err(got))) => return Err(format!("unexpected error {got:?}")),
        }
        Ok(())
    }
}
