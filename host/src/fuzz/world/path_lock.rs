//! Operations of the path layer, the WIT resource `file-lock` of
//! `path-lock`: `acquire` (on good, equivalent and hostile paths, and
//! wrongly through a file descriptor), `lock` on a held or released lock,
//! `file`, `release`, dropping the resource; and the check of every lock
//! resource's `mode` and `is-held`.

use std::os::fd::AsRawFd;
use std::time::Instant;

use wasmtime::component::Resource;
use wasmtime_wasi::filesystem::Descriptor;

use super::expect::{check_attempt, lock_error_name, same_error, typed};
use super::{HANG, World};
use crate::bindings::portalocker::filelock as wit;
use crate::bindings::portalocker::filelock::types::{LockError, LockMode};
use crate::bindings::sync::portalocker::filelock as wit_sync;
use crate::fuzz::Check;
use crate::fuzz::instance::{DescEntry, LockEntry, at_once, blocking, borrow, pick, within};
use crate::fuzz::ops::{DirSel, Opts, Timeout, paths};
use crate::path_lock::FileLock;

impl World {
    /// `file-lock.acquire`; without a timeout only when the model says the
    /// lock is free (see [`World::may_wait_forever`]). Through the sync
    /// linker when the instance is configured so.
    pub(super) fn acquire(&mut self, inst: u8, dir: DirSel, path: u8, opts: Opts) -> Check {
        let inst = self.inst(inst);
        let expect = self.path_expect(inst, dir, path, &opts);
        let mut opts = opts;
        if let (Ok(file), Timeout::Forever) = (expect, opts.timeout)
            && !self.may_wait_forever(file, None, opts.mode)
        {
            opts.timeout = Timeout::Zero;
        }
        let outlook = expect
            .ok()
            .map(|file| self.outlook(inst, file, None, opts.mode, opts.timeout, false));
        let instance = &mut self.instances[inst];
        let dir = instance.dir(dir);
        let path = paths()[usize::from(path)].0.to_owned();
        let (out, elapsed) = if instance.cfg.sync {
            blocking(format!("acquire {path:?} {opts:?}"), HANG, || {
                wit_sync::path_lock::HostFileLock::acquire(
                    &mut instance.view(),
                    dir,
                    path,
                    opts.options(),
                )
            })
        } else {
            let start = Instant::now();
            let out = within(
                &self.rt,
                HANG,
                wit::path_lock::HostFileLock::acquire(
                    &mut instance.view(),
                    dir,
                    path,
                    opts.options(),
                ),
            )
            .ok_or_else(|| format!("acquire with timeout {:?} hung for {HANG:?}", opts.timeout))?;
            (out, start.elapsed())
        };
        let out = typed(out)?;
        self.log.push(format!(
            "  -> {:?} in {elapsed:?}",
            out.as_ref().map(|_| ()).map_err(lock_error_name)
        ));
        self.note_result(&out);
        match (expect, outlook) {
            (Err(want), _) => match out {
                Err(got) if same_error(&want, &got) => Ok(()),
                Err(got) => Err(format!("acquire: {got:?}, expected {want:?}")),
                Ok(_) => Err(format!("acquire succeeded, expected {want:?}")),
            },
            (Ok(file), Some(outlook)) => {
                let attempt = out.as_ref().map(|_| ()).map_err(|e| *e);
                let ok = check_attempt(&attempt, outlook, opts.timeout, elapsed)?;
                self.model.opened(file, opts.create);
                if let (true, Ok(res)) = (ok, out) {
                    let instance = &self.instances[inst];
                    let raw = instance
                        .table
                        .get(&res)
                        .map_err(|e| format!("acquire: {e}"))?
                        .open_file()
                        .as_raw_fd();
                    let fd = self.model.new_fd(file, raw);
                    let ofd = self.model.ofd(fd);
                    self.model.attempted(ofd, opts.mode, true);
                    self.model.count(ofd, true);
                    if opts.truncate {
                        self.model.files[file].len = 0;
                    }
                    self.instances[inst].locks.push(LockEntry {
                        res,
                        fd,
                        mode: opts.mode,
                        held: true,
                    });
                }
                Ok(())
            }
            (Ok(_), None) => unreachable!("an outlook for every file"),
        }
    }

    /// `file-lock.release`.
    pub(super) fn release(&mut self, inst: u8, lock: u8) -> Check {
        let inst = self.inst_with(inst, |i| !i.locks.is_empty());
        let instance = &mut self.instances[inst];
        let Some(l) = pick(instance.locks.len(), lock) else {
            return self.skip();
        };
        let res = borrow(&instance.locks[l].res);
        at_once(
            "file-lock.release",
            wit::path_lock::HostFileLock::release(&mut instance.view(), res),
        )?
        .map_err(|f| format!("release: {f:?}"))?;
        let entry = &mut instance.locks[l];
        if entry.held {
            entry.held = false;
            let ofd = self.model.ofd(entry.fd);
            self.model.unlock(ofd);
            self.model.count(ofd, false);
            self.touch(ofd, None);
        }
        Ok(())
    }

    /// Drops a `file-lock` resource, which releases its lock.
    pub(super) fn drop_lock(&mut self, inst: u8, lock: u8) -> Check {
        let inst = self.inst_with(inst, |i| !i.locks.is_empty());
        let instance = &mut self.instances[inst];
        let Some(l) = pick(instance.locks.len(), lock) else {
            return self.skip();
        };
        let entry = instance.locks.remove(l);
        at_once(
            "file-lock drop",
            wit::path_lock::HostFileLock::drop(&mut instance.view(), entry.res),
        )?
        .map_err(|e| format!("drop lock: {e:?}"))?;
        if entry.held {
            let ofd = self.model.ofd(entry.fd);
            self.model.unlock(ofd);
            self.model.count(ofd, false);
            self.touch(ofd, None);
        }
        self.model.drop_ref(entry.fd);
        Ok(())
    }

    /// `file-lock.file`: a new descriptor of the lock's open file, given to
    /// the instance. It shares the lock's file descriptor (no new one is
    /// open), so the host counts one lock for both.
    pub(super) fn file(&mut self, inst: u8, lock: u8) -> Check {
        let inst = self.inst_with(inst, |i| !i.locks.is_empty());
        let instance = &mut self.instances[inst];
        let Some(l) = pick(instance.locks.len(), lock) else {
            return self.skip();
        };
        let res = borrow(&instance.locks[l].res);
        let res = at_once(
            "file-lock.file",
            wit::path_lock::HostFileLock::file(&mut instance.view(), res),
        )?
        .map_err(|f| format!("file(): {f:?}"))?;
        let raw = match instance.table.get(&res) {
            Ok(Descriptor::File(f)) => f.file.as_raw_fd(),
            _ => return Err("file() gave no file descriptor".into()),
        };
        let fd = instance.locks[l].fd;
        ensure!(
            raw == self.model.fds[fd].raw,
            "file() opened file descriptor {raw}, not sharing the lock's {}",
            self.model.fds[fd].raw
        );
        self.model.add_ref(fd);
        // The descriptor carries the permissions of the preopen the lock's
        // file was reached through, not the open file's access.
        let read_only = self.instances[inst].cfg.read_only;
        self.instances[inst]
            .descs
            .push(DescEntry { res, fd, read_only });
        Ok(())
    }

    /// `file-lock.lock`: a no-op when held in `mode`, a conversion when held
    /// in the other, a new lock after `release`.
    pub(super) fn relock(&mut self, inst: u8, lock: u8, mode: LockMode, timeout: Timeout) -> Check {
        let inst = self.inst_with(inst, |i| !i.locks.is_empty());
        let Some(l) = pick(self.instances[inst].locks.len(), lock) else {
            return self.skip();
        };
        let entry = &self.instances[inst].locks[l];
        let (fd, no_op) = (entry.fd, entry.held && entry.mode == mode);
        let cfg = self.instances[inst].cfg;
        let pre =
            (!no_op && mode == LockMode::Exclusive && cfg.read_only && !cfg.read_only_exclusive)
                .then_some(LockError::Denied);
        let (ofd, file) = (self.model.ofd(fd), self.model.file_of(fd));
        let timeout = match timeout {
            Timeout::Forever if !self.may_wait_forever(file, Some(ofd), mode) => Timeout::Zero,
            t => t,
        };
        let converting = self.instances[inst].locks[l].held;
        let outlook = self.outlook(inst, file, Some(ofd), mode, timeout, converting);
        let instance = &mut self.instances[inst];
        let res = borrow(&instance.locks[l].res);
        let (out, elapsed) = if instance.cfg.sync {
            blocking(format!("file-lock.lock {mode:?} {timeout:?}"), HANG, || {
                wit_sync::path_lock::HostFileLock::lock(
                    &mut instance.view(),
                    res,
                    mode,
                    timeout.ns(),
                )
            })
        } else {
            let start = Instant::now();
            let out = within(
                &self.rt,
                HANG,
                wit::path_lock::HostFileLock::lock(&mut instance.view(), res, mode, timeout.ns()),
            )
            .ok_or_else(|| format!("relock with timeout {timeout:?} hung for {HANG:?}"))?;
            (out, start.elapsed())
        };
        let out = typed(out)?;
        self.log.push(format!("  -> {out:?} in {elapsed:?}"));
        self.note_result(&out);
        if no_op {
            return match out {
                Ok(()) => Ok(()),
                Err(got) => Err(format!("{got:?}, expected a no-op")),
            };
        }
        if let Some(want) = pre {
            return match out {
                Err(got) if same_error(&want, &got) => Ok(()),
                got => Err(format!("{got:?}, expected {want:?}")),
            };
        }
        let ok = check_attempt(&out, outlook, timeout, elapsed)?;
        if ok {
            self.model.attempted(ofd, mode, true);
            self.model.count(ofd, true);
        } else if converting {
            // A conversion that fails gives up the old lock, and the
            // resource says so.
            self.model.unlock(ofd);
            self.model.count(ofd, false);
        } else {
            // The open file may hold a lock through a `file()` descriptor.
            self.failed_attempt(ofd, mode, !outlook.may_line_up);
            self.model.count_failed(ofd);
        }
        self.touch(ofd, None);
        let entry = &mut self.instances[inst].locks[l];
        entry.held = ok;
        if ok {
            entry.mode = mode;
        }
        Ok(())
    }

    /// Every lock resource reports what the model says (`file-lock.is-held`
    /// and `file-lock.mode`).
    pub(super) fn check_lock_resources(&mut self) -> Check {
        for (i, inst) in self.instances.iter_mut().enumerate() {
            let expected: Vec<(Resource<FileLock>, bool, LockMode)> = inst
                .locks
                .iter()
                .map(|lock| (borrow(&lock.res), lock.held, lock.mode))
                .collect();
            for (j, (res, want_held, want_mode)) in expected.into_iter().enumerate() {
                let mut v = inst.view();
                let held = at_once(
                    "file-lock.is-held",
                    wit::path_lock::HostFileLock::is_held(&mut v, borrow(&res)),
                )?
                .map_err(|e| format!("{e:?}"))?;
                let mode = at_once(
                    "file-lock.mode",
                    wit::path_lock::HostFileLock::mode(&mut v, res),
                )?
                .map_err(|e| format!("{e:?}"))?;
                ensure!(
                    held == want_held,
                    "instance {i} lock {j}: is-held {held}, model {want_held}"
                );
                ensure!(
                    mode == want_mode,
                    "instance {i} lock {j}: mode {mode:?}, model {want_mode:?}"
                );
            }
        }
        Ok(())
    }
}
