//! Operations on requests of both layers (`descriptor-lock.request-lock`
//! with its `pending-lock`, `file-lock.request` with its
//! `pending-file-lock`): created (and sometimes polled once at once),
//! collected with `get`, awaited through `subscribe` and `pollable.block`,
//! dropped at any point.
//!
//! A request does nothing until it is first polled. The poll tries (unless
//! fair waiters of this host are ahead) and, while the lock is held
//! elsewhere, gives the request a place among the file's waiters. From then
//! on a request of a fair instance that may use the kernel is a standing
//! order: at the front of its line a worker blocks in `flock(2)` on the
//! request's open file, so its lock may be granted at any moment, polled or
//! not (the model lets the open file hold the request's mode as a second
//! state until the request is answered or dropped). Other requests only make
//! progress when polled.

use std::time::{Duration, Instant};

use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi_io::bindings::wasi::io::poll::HostPollable;
use wasmtime_wasi_io::poll::DynPollable;

use super::expect::{check_answer, check_failure, lock_error_name, same_error};
use super::{HANG, World};
use crate::bindings::portalocker::filelock as wit;
use crate::bindings::portalocker::filelock::types::{LockError, LockMode};
use crate::fuzz::Check;
use crate::fuzz::instance::{
    Answers, Handle, LockEntry, ReqEntry, ReqRes, ReqState, at_once, borrow, pick, within,
};
use crate::fuzz::model::States;
use crate::fuzz::ops::{After, DirSel, Opts, Target, Timeout, paths};
use crate::fuzz::probe;
use crate::path_lock::FileLock;

/// What `get` gave: `None` while waiting, `Some(None)` once collected,
/// else the answer (with the lock of a path-layer request).
type Polled = Option<Option<Result<Option<Resource<FileLock>>, LockError>>>;

/// How long after its deadline a request that only makes progress when
/// polled may still say it waits (it tries once more and answers at the
/// first poll after its deadline; this only allows for the time the
/// request call itself took).
const POLLED_GRACE: Duration = Duration::from_millis(500);

/// How long after its deadline a request waiting in the background may
/// still say it waits (its worker is interrupted at the deadline; this
/// allows for a loaded machine).
const BACKGROUND_GRACE: Duration = Duration::from_secs(2);

const OK: Answers = Answers {
    ok: true,
    err: false,
};
const ERR: Answers = Answers {
    ok: false,
    err: true,
};
const EITHER: Answers = Answers {
    ok: true,
    err: true,
};

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
    /// `request-lock`; with `poll`, one `get` at once; with `convert`, in
    /// the mode the descriptor does not hold when it holds one.
    pub(super) fn request_lock(
        &mut self,
        inst: u8,
        target: Target,
        mode: LockMode,
        timeout: Timeout,
        poll: bool,
        convert: bool,
    ) -> Check {
        let inst = self.inst_with(inst, |i| !i.descs.is_empty());
        let Some(handle) = self.target(inst, target) else {
            return self.skip();
        };
        let mode = match (convert, handle) {
            (true, Handle::Desc(d)) => {
                let ofd = self.model.ofd(self.instances[inst].descs[d].fd);
                match self.model.ofds[ofd].held {
                    Some(LockMode::Shared) => LockMode::Exclusive,
                    Some(LockMode::Exclusive) => LockMode::Shared,
                    None => mode,
                }
            }
            _ => mode,
        };
        let pre = self.handle_error(inst, handle, Some(mode));
        let id = self.next_id();
        let instance = &mut self.instances[inst];
        let fd = instance.handle(handle);
        let created = Instant::now();
        let req = at_once(
            "request-lock",
            wit::descriptor_lock::Host::request_lock(&mut instance.view(), fd, mode, timeout.ns()),
        )?
        .map_err(|e| format!("request-lock trapped: {e:?}"))?;
        let (fd, file, state, held_before) = match (pre, handle) {
            (Some(err), _) => (None, None, ReqState::Immediate(err), false),
            (None, Handle::Desc(d)) => {
                let fd = instance.descs[d].fd;
                let held_before = self.model.ofds[self.model.ofd(fd)].counted;
                self.model.add_ref(fd);
                let state = ReqState::Waiting {
                    registered: None,
                    granted: false,
                };
                (Some(fd), Some(self.model.file_of(fd)), state, held_before)
            }
            (None, Handle::Dir) => unreachable!(),
        };
        self.log.push(format!("  -> request {id}"));
        self.instances[inst].reqs.push(ReqEntry {
            id,
            res: ReqRes::Desc(req),
            mode,
            timeout,
            created,
            fd,
            file,
            truncate: false,
            held_before,
            state,
            contended: false,
            free: false,
            touched: false,
        });
        self.observe_requests();
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
        let id = self.next_id();
        let before = match expect {
            Ok(file) => probe::fds_on(&self.real[file]),
            Err(_) => Vec::new(),
        };
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
                // The request opened the file for its lock: its one new
                // file descriptor.
                let new: Vec<i32> = probe::fds_on(&self.real[file])
                    .into_iter()
                    .filter(|raw| !before.contains(raw))
                    .collect();
                let [raw] = new[..] else {
                    return Err(format!("request opened {new:?} on the file, not one fd"));
                };
                self.model.opened(file, opts.create);
                let state = ReqState::Waiting {
                    registered: None,
                    granted: false,
                };
                (Some(self.model.new_fd(file, raw)), Some(file), state)
            }
        };
        self.log.push(format!("  -> request {id}"));
        self.instances[inst].reqs.push(ReqEntry {
            id,
            res: ReqRes::Path(req),
            mode: opts.mode,
            timeout: opts.timeout,
            created,
            fd,
            file,
            truncate: opts.truncate,
            held_before: false,
            state,
            contended: false,
            free: false,
            touched: false,
        });
        self.observe_requests();
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

    /// `get` on request `r`; returns whether it is still waiting.
    fn collect(&mut self, inst: usize, r: usize) -> Result<bool, String> {
        let polled_at = Instant::now();
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
        let answered_by = Instant::now();
        let req = &self.instances[inst].reqs[r];
        self.log.push(format!(
            "  -> get {}: {:?} (was {:?})",
            req.id,
            polled.as_ref().map(|c| c
                .as_ref()
                .map(|a| a.as_ref().map(|_| ()).map_err(lock_error_name))),
            req.state
        ));
        let (state, timeout, created, id) = (req.state, req.timeout, req.created, req.id);
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
            (ReqState::Ready { answers, at }, Some(Some(got))) => {
                let attempt = got.as_ref().map(|_| ()).map_err(|e| *e);
                check_answer(&attempt, answers)?;
                if let Err(err) = &attempt {
                    check_failure(err, timeout, at.duration_since(created))?;
                }
                self.collected(inst, r, got.ok().flatten())?;
                Ok(false)
            }
            (ReqState::Ready { answers, .. }, None) => {
                Err(format!("get: waiting, expected one of {answers:?}"))
            }
            (
                ReqState::Waiting {
                    registered,
                    granted,
                },
                polled,
            ) => {
                let req = &self.instances[inst].reqs[r];
                let background = self.instances[inst].cfg.background();
                match polled {
                    None => {
                        ensure!(
                            timeout != Timeout::Zero,
                            "get: still waiting with a zero timeout"
                        );
                        ensure!(
                            !granted,
                            "get: still waiting though the kernel granted its lock"
                        );
                        ensure!(
                            req.contended,
                            "get: still waiting though its lock was free, with no waiter ahead, \
                             since it was made"
                        );
                        if let Timeout::Ms(ms) = timeout {
                            let grace = if background {
                                BACKGROUND_GRACE
                            } else {
                                POLLED_GRACE
                            };
                            let late = polled_at.duration_since(created);
                            ensure!(
                                late <= Duration::from_millis(u64::from(ms)) + grace,
                                "get: still waiting {late:?} after it was made, with a {ms} ms timeout"
                            );
                        }
                        self.still_waiting(inst, r, registered.is_none(), background);
                        Ok(true)
                    }
                    Some(Some(got)) => {
                        let attempt = got.as_ref().map(|_| ()).map_err(|e| *e);
                        if granted {
                            ensure!(
                                attempt.is_ok(),
                                "get: {attempt:?}, though the kernel granted its lock"
                            );
                        }
                        match &attempt {
                            Ok(()) => ensure!(
                                req.free,
                                "get: ok, though its lock was held in a conflicting mode \
                                 all along"
                            ),
                            Err(err) => {
                                check_failure(err, timeout, answered_by.duration_since(created))?;
                                ensure!(
                                    req.contended,
                                    "get: {err:?}, though its lock was free, with no waiter \
                                     ahead, since it was made"
                                );
                            }
                        }
                        let answers = if attempt.is_ok() { OK } else { ERR };
                        self.complete(inst, r, answers, answered_by);
                        self.log.push(format!("  (request {id} answered)"));
                        self.collected(inst, r, got.ok().flatten())?;
                        Ok(false)
                    }
                    Some(None) => unreachable!(),
                }
            }
        }
    }

    /// The model after a poll left request `r` waiting: the poll may have
    /// tried (a failed attempt gives up an old lock of another mode), and a
    /// first one gave it a place among the file's waiters; a request that
    /// waits in the background may be granted from now on.
    fn still_waiting(&mut self, inst: usize, r: usize, first: bool, background: bool) {
        let req = &self.instances[inst].reqs[r];
        let (id, mode, is_desc) = (req.id, req.mode, req.is_desc());
        let ofd = self
            .model
            .ofd(req.fd.expect("a waiting request has a file"));
        if is_desc {
            self.model.unsure(ofd, States::one(None));
            self.touch(ofd, Some(id));
        }
        if first {
            let seq = self.next_id();
            self.instances[inst].reqs[r].state = ReqState::Waiting {
                registered: Some(seq),
                granted: false,
            };
            if background {
                self.model.add_waiting(ofd, id, mode);
            }
        }
    }

    /// The model once request `r` is answered (not yet collected), with the
    /// answers the model allows.
    fn complete(&mut self, inst: usize, r: usize, answers: Answers, at: Instant) {
        let req = &self.instances[inst].reqs[r];
        let (id, mode, touched, truncate) = (req.id, req.mode, req.touched, req.truncate);
        let fd = req.fd.expect("a waiting request has a file");
        let is_desc = req.is_desc();
        let ofd = self.model.ofd(fd);
        self.model.end_waiting(ofd, id);
        if is_desc {
            let sure_ok = answers == OK;
            if sure_ok && !touched {
                self.model.attempted(ofd, mode, true);
            } else {
                // Granted (then changed by the guest), or failed after an
                // attempt that gave up an old lock of another mode.
                let mut left = States::one(None);
                if answers.ok {
                    left = left.with(Some(mode));
                }
                self.model.unsure(ofd, left);
            }
            // The host counts the descriptor's lock as the answer says; a
            // failure keeps counting a lock the open file still holds (the
            // guest may have taken it again while the request waited).
            if sure_ok {
                self.model.count(ofd, true);
            } else if answers.ok {
                self.model.ofds[ofd].counted = true;
                self.model.count_failed(ofd);
            } else {
                self.model.count_failed(ofd);
            }
            self.touch(ofd, Some(id));
        } else if answers.ok {
            self.model.attempted(ofd, mode, true);
            if truncate {
                let file = self.model.file_of(fd);
                self.model.files[file].len = 0;
            }
        } else {
            // The path layer's own open file is closed with the wait.
            self.model.drop_ref(fd);
            self.instances[inst].reqs[r].fd = None;
        }
        self.instances[inst].reqs[r].state = ReqState::Ready { answers, at };
    }

    /// The model after a request's answer was collected.
    fn collected(&mut self, inst: usize, r: usize, lock: Option<Resource<FileLock>>) -> Check {
        let req = &mut self.instances[inst].reqs[r];
        req.state = ReqState::Collected;
        let fd = req.fd.take();
        let (mode, is_desc) = (req.mode, req.is_desc());
        match (is_desc, fd) {
            (true, Some(fd)) => self.model.drop_ref(fd),
            (false, Some(fd)) => {
                let res = lock.ok_or("a path request's ok answer without a lock")?;
                self.instances[inst].locks.push(LockEntry {
                    res,
                    fd,
                    mode,
                    held: true,
                });
            }
            (_, None) => {}
        }
        Ok(())
    }

    /// Awaits request `r` as a guest does: `subscribe`, `block` on the
    /// pollable, drop the pollable. A waiting request is then answered: the
    /// kernel's word on its open file tells the model which answers it may
    /// give.
    fn ready(&mut self, inst: usize, r: usize) -> Check {
        let state = self.instances[inst].reqs[r].state;
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
        let at = Instant::now();
        ensure!(finished, "ready hung for {HANG:?} ({state:?})");
        self.log.push(format!("  -> ready in {:?}", at - start));
        let ReqState::Waiting { granted, .. } = state else {
            return Ok(());
        };
        let req = &self.instances[inst].reqs[r];
        let (id, mode) = (req.id, req.mode);
        let fd = req.fd.expect("a waiting request has a file");
        let ofd = self.model.ofd(fd);
        let raw = self.model.fds[fd].raw;
        let answers = if granted {
            OK
        } else if !req.is_desc() {
            // Its own open file holds the lock exactly when it was taken
            // (a failed wait closes it).
            if probe::fd_lock(raw).ok().flatten() == Some(mode) {
                OK
            } else {
                ERR
            }
        } else {
            let now = probe::fd_lock(raw)?;
            let o = &self.model.ofds[ofd];
            let others = o.waiting.iter().any(|&(w, _)| w != id);
            if req.touched || others || o.held == Some(mode) || o.unsure.has(Some(mode)) {
                EITHER
            } else if now == Some(mode) {
                OK
            } else {
                ERR
            }
        };
        if answers == OK {
            ensure!(
                req.free,
                "ready: took a lock held in a conflicting mode all along"
            );
        }
        if answers == ERR {
            ensure!(
                req.contended,
                "ready: failed though its lock was free, with no waiter ahead, since it was made"
            );
        }
        self.log
            .push(format!("  (request {id} answered: {answers:?})"));
        self.note(match answers {
            OK => "answered ok",
            ERR => "answered with an error",
            _ => "answered, the model allows either",
        });
        self.complete(inst, r, answers, at);
        Ok(())
    }

    /// The model after a request is dropped (its table entry or its whole
    /// instance, `background` telling whether it may have waited in the
    /// background).
    ///
    /// Dropping an uncollected request cancels its wait: a lock the kernel
    /// granted it meanwhile is given back before the drop returns, unless
    /// the descriptor held its lock before the request (a request that
    /// repeats or converts a held lock leaves the lock it took held), or the
    /// open file's lock is someone else's too: the host counts a lock on it
    /// (for a request still waiting), or another request on it waits in the
    /// background (and may have been granted the lock, which is then the
    /// open file's for both).
    pub(super) fn model_drop_request(&mut self, req: &ReqEntry, background: bool) {
        let Some(fd) = req.fd else { return };
        let ofd = self.model.ofd(fd);
        let others_wait = self.model.ofds[ofd]
            .waiting
            .iter()
            .any(|&(id, _)| id != req.id);
        let counted = self.model.ofds[ofd].counted;
        match req.state {
            ReqState::Immediate(_) | ReqState::Collected => {}
            ReqState::Waiting {
                registered,
                granted,
            } => {
                self.model.end_waiting(ofd, req.id);
                if req.is_desc() {
                    if granted {
                        if req.held_before || counted {
                            // Kept.
                        } else if others_wait {
                            self.model.unsure(ofd, States::one(None));
                        } else {
                            self.model.unlock(ofd);
                        }
                    } else if registered.is_some() && background {
                        // Granted just before (then given back, or kept),
                        // or its wait in the kernel gave up an old lock.
                        let mut left = States::one(None);
                        if req.held_before || counted || others_wait {
                            left = left.with(Some(req.mode));
                        }
                        self.model.unsure(ofd, left);
                    }
                    self.touch(ofd, Some(req.id));
                }
            }
            ReqState::Ready { answers, .. } => {
                if req.is_desc() && answers.ok && !req.held_before {
                    // The lock the request took is given back and no longer
                    // counted (unless another request on the open file was
                    // granted it too); after a failure the count stays as it
                    // was.
                    if others_wait {
                        self.model.unsure(ofd, States::one(None));
                    } else if answers.err {
                        self.model.unsure(ofd, States::one(None));
                        self.model.count_failed(ofd);
                    } else {
                        self.model.unlock(ofd);
                        self.model.count(ofd, false);
                    }
                    self.touch(ofd, Some(req.id));
                }
            }
        }
        self.model.drop_ref(fd);
    }

    /// Drops request `r` (its resource, and what the model keeps of it).
    fn remove_request(&mut self, inst: usize, r: usize) -> Check {
        let req = self.instances[inst].reqs.remove(r);
        let background = self.instances[inst].cfg.background();
        self.model_drop_request(&req, background);
        self.log.push(format!("  (request {} dropped)", req.id));
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
