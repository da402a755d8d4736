//! Operations on requests of both layers (`descriptor-lock.request-lock`
//! with its `pending-lock`, `file-lock.request` with its
//! `pending-file-lock`): created (and sometimes polled once at once),
//! collected with `get`, awaited through `subscribe` and `pollable.block`,
//! dropped at any point.

use std::time::Instant;

use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi_io::bindings::wasi::io::poll::HostPollable;
use wasmtime_wasi_io::poll::DynPollable;

use super::expect::{check_attempt, lock_error_name, same_error};
use super::{HANG, World};
use crate::bindings::portalocker::filelock as wit;
use crate::bindings::portalocker::filelock::types::{LockError, LockMode};
use crate::fuzz::Check;
use crate::fuzz::instance::{
    Handle, LockEntry, ReqEntry, ReqRes, ReqState, at_once, borrow, pick, within,
};
use crate::fuzz::ops::{After, DirSel, Opts, Target, Timeout, paths};
use crate::path_lock::FileLock;

/// What `get` gave: `None` while waiting, `Some(None)` once collected,
/// else the answer (with the lock of a path-layer request).
type Polled = Option<Option<Result<Option<Resource<FileLock>>, LockError>>>;

/// `block` on a request's pollable (for at most [`HANG`]), then drops the
/// pollable, as a guest awaits a request: whether it finished.
fn block_on_pollable(
    rt: &tokio::runtime::Runtime,
    table: &mut ResourceTable,
    pollable: Resource<DynPollable>,
) -> Result<bool, String> {
    let finished = within(rt, HANG, HostPollable::block(table, borrow(&pollable)))
        .transpose()
        .map_err(|e| format!("block trapped: {e:?}"))?
        .is_some();
    HostPollable::drop(table, pollable).map_err(|e| format!("pollable drop trapped: {e:?}"))?;
    Ok(finished)
}

impl World {
    /// `request-lock`; with `poll`, one `get` at once.
    pub(super) fn request_lock(
        &mut self,
        inst: u8,
        target: Target,
        mode: LockMode,
        timeout: Timeout,
        poll: bool,
    ) -> Check {
        let inst = self.inst_with(inst, |i| !i.descs.is_empty());
        let Some(handle) = self.target(inst, target) else {
            return self.skip();
        };
        let pre = self.handle_error(inst, handle, Some(mode));
        let instance = &mut self.instances[inst];
        let fd = instance.handle(handle);
        let created = Instant::now();
        let req = at_once(
            "request-lock",
            wit::descriptor_lock::Host::request_lock(&mut instance.view(), fd, mode, timeout.ns()),
        )?
        .map_err(|e| format!("request-lock trapped: {e:?}"))?;
        let (fd, file, state) = match (pre, handle) {
            (Some(err), _) => (None, None, ReqState::Immediate(err)),
            (None, Handle::Desc(d)) => {
                let fd = instance.descs[d].fd;
                self.model.add_ref(fd);
                (
                    Some(fd),
                    Some(self.model.file_of(fd)),
                    ReqState::Waiting { registered: false },
                )
            }
            (None, Handle::Dir) => unreachable!(),
        };
        self.instances[inst].reqs.push(ReqEntry {
            res: ReqRes::Desc(req),
            mode,
            timeout,
            created,
            fd,
            file,
            write: false,
            truncate: false,
            state,
        });
        if poll {
            let r = self.instances[inst].reqs.len() - 1;
            self.collect(inst, r)?;
        }
        Ok(())
    }

    /// `file-lock.request`; with `poll`, one `get` at once.
    pub(super) fn request(
        &mut self,
        inst: u8,
        dir: DirSel,
        path: u8,
        opts: Opts,
        poll: bool,
    ) -> Check {
        let inst = self.inst(inst);
        let expect = self.path_expect(inst, dir, path, &opts);
        let instance = &mut self.instances[inst];
        let dir = instance.dir(dir);
        let path = paths()[usize::from(path)].0.to_owned();
        let created = Instant::now();
        let req = at_once(
            "file-lock.request",
            wit::path_lock::HostFileLock::request(&mut instance.view(), dir, path, opts.options()),
        )?
        .map_err(|e| format!("request trapped: {e:?}"))?;
        let (fd, file, state) = match expect {
            Err(err) => (None, None, ReqState::Immediate(err)),
            Ok(file) => {
                self.model.opened(file, opts.create);
                (
                    Some(self.model.new_fd(file)),
                    Some(file),
                    ReqState::Waiting { registered: false },
                )
            }
        };
        self.instances[inst].reqs.push(ReqEntry {
            res: ReqRes::Path(req),
            mode: opts.mode,
            timeout: opts.timeout,
            created,
            fd,
            file,
            write: opts.write,
            truncate: opts.truncate,
            state,
        });
        if poll {
            let r = self.instances[inst].reqs.len() - 1;
            self.collect(inst, r)?;
        }
        Ok(())
    }

    /// `get` on a request; if it is still waiting, keeps it, drops it or
    /// awaits it as `after` says.
    pub(super) fn get(&mut self, inst: u8, req: u8, after: After) -> Check {
        let inst = self.inst_with(inst, |i| !i.reqs.is_empty());
        let Some(r) = pick(self.instances[inst].reqs.len(), req) else {
            return self.skip();
        };
        let waiting = self.collect(inst, r)?;
        if waiting {
            match after {
                After::Keep => {}
                After::Drop => self.remove_request(inst, r)?,
                After::Await => {
                    self.ready(inst, r)?;
                    let waiting = self.collect(inst, r)?;
                    ensure!(!waiting, "get: still waiting after the request was ready");
                }
            }
        }
        Ok(())
    }

    /// Awaits a request's pollable.
    pub(super) fn block(&mut self, inst: u8, req: u8) -> Check {
        let inst = self.inst_with(inst, |i| !i.reqs.is_empty());
        let Some(r) = pick(self.instances[inst].reqs.len(), req) else {
            return self.skip();
        };
        self.ready(inst, r)
    }

    /// Drops a request.
    pub(super) fn drop_request(&mut self, inst: u8, req: u8) -> Check {
        let inst = self.inst_with(inst, |i| !i.reqs.is_empty());
        let Some(r) = pick(self.instances[inst].reqs.len(), req) else {
            return self.skip();
        };
        self.remove_request(inst, r)
    }

    /// The model's prediction for a poll of a waiting request: whether the
    /// lock conflicts, and whether the host may hold it for an instant.
    fn request_outlook(&self, inst: usize, r: usize) -> (bool, bool) {
        let req = &self.instances[inst].reqs[r];
        let fd = req.fd.expect("a waiting request has a file");
        let file = self.model.file_of(fd);
        let ofd = match req.res {
            ReqRes::Desc(_) => Some(self.model.ofd(fd)),
            ReqRes::Path(_) => None,
        };
        (self.model.conflict(file, ofd, req.mode), self.tainted(file))
    }

    /// Applies a request's answer to the model (not yet collected).
    fn answered(&mut self, inst: usize, r: usize, answer: Result<(), LockError>) {
        let req = &mut self.instances[inst].reqs[r];
        req.state = ReqState::Ready(answer);
        let fd = req.fd.expect("a waiting request has a file");
        let (mode, truncate, path) = (req.mode, req.truncate, matches!(req.res, ReqRes::Path(_)));
        let ofd = self.model.ofd(fd);
        self.model.attempted(ofd, mode, answer.is_ok());
        if path {
            if answer.is_ok() {
                if truncate {
                    let file = self.model.file_of(fd);
                    self.model.files[file].len = 0;
                }
            } else {
                // The path layer's own open file is closed with the wait.
                self.model.drop_ref(fd);
                self.instances[inst].reqs[r].fd = None;
            }
        }
    }

    /// `get` on request `r`; returns whether it is still waiting.
    fn collect(&mut self, inst: usize, r: usize) -> Result<bool, String> {
        let instance = &mut self.instances[inst];
        let polled: Polled = match instance.reqs[r].res.borrowed() {
            ReqRes::Desc(res) => at_once(
                "pending-lock.get",
                wit::descriptor_lock::HostPendingLock::get(&mut instance.view(), res),
            )?
            .map_err(|e| format!("get trapped: {e:?}"))?
            .map(|c| c.ok().map(|a| a.map(|()| None))),
            ReqRes::Path(res) => at_once(
                "pending-file-lock.get",
                wit::path_lock::HostPendingFileLock::get(&mut instance.view(), res),
            )?
            .map_err(|e| format!("get trapped: {e:?}"))?
            .map(|c| c.ok().map(|a| a.map(Some))),
        };
        self.log.push(format!(
            "  -> get: {:?} (was {:?})",
            polled.as_ref().map(|c| c
                .as_ref()
                .map(|a| a.as_ref().map(|_| ()).map_err(lock_error_name))),
            self.instances[inst].reqs[r].state
        ));
        let state = self.instances[inst].reqs[r].state;
        match &polled {
            None => self.note("waiting"),
            Some(None) => self.note("already collected"),
            Some(Some(answer)) => self.note_result(answer),
        }
        match (state, polled) {
            (ReqState::Collected, Some(None)) => Ok(false),
            (ReqState::Collected, got) => Err(format!("get after collection: {:?}", got.is_some())),
            (_, Some(None)) => Err("get: answer already collected, but it was not".into()),
            (ReqState::Immediate(want), Some(Some(Err(got)))) if same_error(&want, &got) => {
                self.instances[inst].reqs[r].state = ReqState::Collected;
                Ok(false)
            }
            (ReqState::Immediate(want), got) => Err(format!(
                "get: {:?}, expected {want:?}",
                got.map(|c| c.map(|a| a.map(|_| ())))
            )),
            (ReqState::Ready(want), Some(Some(got))) => {
                let same = match (&want, &got) {
                    (Ok(()), Ok(_)) => true,
                    (Err(w), Err(g)) => same_error(w, g),
                    _ => false,
                };
                ensure!(same, "get: {:?}, expected {want:?}", got.map(|_| ()));
                self.collected(inst, r, got.ok().flatten());
                Ok(false)
            }
            (ReqState::Ready(want), None) => Err(format!("get: waiting, expected {want:?}")),
            (ReqState::Waiting { registered }, polled) => {
                let (conflict, tainted) = self.request_outlook(inst, r);
                let req = &self.instances[inst].reqs[r];
                let timeout = req.timeout;
                let elapsed = req.created.elapsed();
                let is_desc = matches!(req.res, ReqRes::Desc(_));
                match polled {
                    None => {
                        ensure!(
                            timeout != Timeout::Zero,
                            "get: still waiting with a zero timeout"
                        );
                        ensure!(
                            conflict || tainted || registered,
                            "get: still waiting though the lock is free and nobody queues"
                        );
                        self.instances[inst].reqs[r].state = ReqState::Waiting { registered: true };
                        let fd = self.instances[inst].reqs[r].fd;
                        if let (true, Some(fd)) = (is_desc, fd) {
                            // A failed attempt may have dropped its descriptor's old
                            // lock (or it queued without trying).
                            self.settle_unsure(fd)?;
                        }
                        Ok(true)
                    }
                    Some(Some(got)) => {
                        let attempt = got.as_ref().map(|_| ()).map_err(|e| *e);
                        let ok = check_attempt(
                            &attempt,
                            conflict,
                            tainted || registered,
                            timeout,
                            elapsed,
                        )?;
                        self.answered(inst, r, if ok { Ok(()) } else { attempt });
                        self.collected(inst, r, got.ok().flatten());
                        Ok(false)
                    }
                    Some(None) => unreachable!(),
                }
            }
        }
    }

    /// The model after a request's answer was collected.
    fn collected(&mut self, inst: usize, r: usize, lock: Option<Resource<FileLock>>) {
        let req = &mut self.instances[inst].reqs[r];
        let ReqState::Ready(answer) = req.state else {
            unreachable!("collected without an answer")
        };
        req.state = ReqState::Collected;
        let fd = req.fd.take();
        let (mode, write) = (req.mode, req.write);
        match (&req.res, fd) {
            (ReqRes::Desc(_), Some(fd)) => self.model.drop_ref(fd),
            (ReqRes::Path(_), Some(fd)) => {
                let res = lock.expect("a collected path request hands out its lock");
                debug_assert!(answer.is_ok());
                self.instances[inst].locks.push(LockEntry {
                    res,
                    fd,
                    mode,
                    write,
                    held: true,
                });
            }
            (_, None) => {}
        }
    }

    /// Awaits request `r` as a guest does: `subscribe`, `block` on the
    /// pollable, drop the pollable.
    fn ready(&mut self, inst: usize, r: usize) -> Check {
        let state = self.instances[inst].reqs[r].state;
        let outlook =
            matches!(state, ReqState::Waiting { .. }).then(|| self.request_outlook(inst, r));
        let instance = &mut self.instances[inst];
        let pollable = match instance.reqs[r].res.borrowed() {
            ReqRes::Desc(res) => at_once(
                "pending-lock.subscribe",
                wit::descriptor_lock::HostPendingLock::subscribe(&mut instance.view(), res),
            )?,
            ReqRes::Path(res) => at_once(
                "pending-file-lock.subscribe",
                wit::path_lock::HostPendingFileLock::subscribe(&mut instance.view(), res),
            )?,
        }
        .map_err(|e| format!("subscribe trapped: {e:?}"))?;
        let start = Instant::now();
        let finished = block_on_pollable(&self.rt, &mut instance.table, pollable)?;
        ensure!(finished, "ready hung for {HANG:?} ({state:?})");
        self.log
            .push(format!("  -> ready in {:?}", start.elapsed()));
        let Some((conflict, tainted)) = outlook else {
            return Ok(());
        };
        let ReqState::Waiting { registered } = state else {
            unreachable!()
        };
        if tainted || registered {
            // The answer depends on a sentinel's instant or the queue: read it.
            let waiting = self.collect(inst, r)?;
            ensure!(!waiting, "get: still waiting after the request was ready");
            return Ok(());
        }
        let req = &self.instances[inst].reqs[r];
        let answer = if !conflict {
            Ok(())
        } else if req.timeout == Timeout::Zero {
            Err(LockError::AlreadyLocked)
        } else {
            Err(LockError::TimedOut)
        };
        self.answered(inst, r, answer);
        Ok(())
    }

    /// The model after a request is dropped (its table entry or its whole
    /// instance).
    pub(super) fn model_drop_request(&mut self, req: &ReqEntry) {
        match req.state {
            ReqState::Immediate(_) | ReqState::Collected => {}
            ReqState::Waiting { .. } => {
                if let Some(fd) = req.fd {
                    self.model.drop_ref(fd);
                }
            }
            ReqState::Ready(answer) => {
                if let Some(fd) = req.fd {
                    if answer.is_ok() {
                        // An uncollected lock is released.
                        let ofd = self.model.ofd(fd);
                        self.model.unlock(ofd);
                    }
                    self.model.drop_ref(fd);
                }
            }
        }
    }

    /// Drops request `r` (its resource, and what the model keeps of it).
    fn remove_request(&mut self, inst: usize, r: usize) -> Check {
        let req = self.instances[inst].reqs.remove(r);
        self.model_drop_request(&req);
        let instance = &mut self.instances[inst];
        match req.res {
            ReqRes::Desc(res) => at_once(
                "pending-lock drop",
                wit::descriptor_lock::HostPendingLock::drop(&mut instance.view(), res),
            )?,
            ReqRes::Path(res) => at_once(
                "pending-file-lock drop",
                wit::path_lock::HostPendingFileLock::drop(&mut instance.view(), res),
            )?,
        }
        .map_err(|e| format!("drop request: {e:?}"))
    }
}
