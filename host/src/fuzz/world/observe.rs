//! Checking the world against the model after each operation, and what the
//! model learns from it: the kernel's word on every open file (taken among
//! the states the model allows), requests seen granted in the background,
//! what each waiting request has met so far, and the wait engine's threads.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::World;
use crate::bindings::portalocker::filelock::types::LockMode;
use crate::fuzz::Check;
use crate::fuzz::instance::ReqState;
use crate::fuzz::ops::{FILES, Timeout, Waiters};
use crate::fuzz::probe;

/// How long the wait engine's threads may take to come back within their
/// bound after an operation (idle workers end after a few milliseconds).
const THREADS_SETTLE: Duration = Duration::from_millis(500);

/// How long a request at the front of its line may take to be granted its
/// lock once nothing conflicts (the kernel hands it over at once; this only
/// allows for a loaded machine).
const GRANT_WITHIN: Duration = Duration::from_secs(1);

/// How far from its deadline a request must be for the grant check: closer,
/// its wait may be interrupted first.
const DEADLINE_MARGIN: Duration = Duration::from_millis(50);

impl World {
    /// Checks everything against the model: every lock resource's `mode`
    /// and `is-held`, the process's open files and their locks, requests
    /// waiting at the front of a free lock, the files (existence, length,
    /// native probes) and the wait engine's threads.
    pub(in crate::fuzz) fn verify(&mut self) -> Check {
        self.check_lock_resources()?;
        let seen = probe::check_open_files(&self.real, &self.model)?;
        self.settle(&seen);
        self.check_grants()?;
        probe::check_files(&self.real, &self.model)?;
        self.check_threads()?;
        self.observe_requests();
        Ok(())
    }

    /// Takes the kernel's word for each open file (`seen`, already checked
    /// to be among the allowed states): a request that waits in the
    /// background and is the only one that could have brought the lock the
    /// kernel shows was granted.
    fn settle(&mut self, seen: &BTreeMap<usize, Option<LockMode>>) {
        for (&ofd, &lock) in seen {
            let o = &self.model.ofds[ofd];
            let explained = lock == o.held || o.unsure.has(lock);
            let granted: Vec<u64> = o
                .waiting
                .iter()
                .filter(|&&(_, mode)| Some(mode) == lock)
                .map(|&(id, _)| id)
                .collect();
            if let ([id], false) = (granted.as_slice(), explained) {
                self.granted_in_background(*id, ofd);
            }
            let o = &mut self.model.ofds[ofd];
            o.held = lock;
            o.unsure = Default::default();
            if o.count_unsure {
                // The host kept counting the lock if the open file still
                // held one when the attempt failed; a request waiting on it
                // may have been granted since, uncounted until answered.
                o.counted = lock.is_some() && o.waiting.is_empty();
                o.count_unsure = false;
            }
        }
    }

    /// Request `id` was seen granted its lock on `ofd` while waiting in the
    /// background: it no longer waits, and must answer ok.
    fn granted_in_background(&mut self, id: u64, ofd: usize) {
        self.model.end_waiting(ofd, id);
        if let Some((i, r)) = self.find_request(id) {
            let req = &mut self.instances[i].reqs[r];
            if let ReqState::Waiting { registered, .. } = req.state {
                req.state = ReqState::Waiting {
                    registered,
                    granted: true,
                };
            }
            self.model.ofds[ofd].held = Some(req.mode);
            self.log.push(format!("  (request {id} seen granted)"));
            *self
                .outcomes
                .entry("background: request seen granted".into())
                .or_default() += 1;
        }
    }

    /// The instance and index of request `id`.
    pub(super) fn find_request(&self, id: u64) -> Option<(usize, usize)> {
        self.instances
            .iter()
            .enumerate()
            .find_map(|(i, inst)| inst.reqs.iter().position(|r| r.id == id).map(|r| (i, r)))
    }

    /// A guest call changed the lock of `ofd`: requests waiting on it (but
    /// `except`) can no longer tell their answer from the kernel's.
    pub(super) fn touch(&mut self, ofd: usize, except: Option<u64>) {
        for inst in &mut self.instances {
            for r in &mut inst.reqs {
                if Some(r.id) != except && r.fd.is_some_and(|fd| self.model.ofd(fd) == ofd) {
                    r.touched = true;
                }
            }
        }
    }

    /// Records what each waiting request may meet now: a conflicting lock
    /// (or waiters ahead of it) or a free lock.
    pub(super) fn observe_requests(&mut self) {
        let mut seen = Vec::new();
        for (i, inst) in self.instances.iter().enumerate() {
            for (r, req) in inst.reqs.iter().enumerate() {
                if !matches!(req.state, ReqState::Waiting { .. }) {
                    continue;
                }
                let (Some(fd), Some(file)) = (req.fd, req.file) else {
                    continue;
                };
                let own = Some(self.model.ofd(fd));
                let line = inst.cfg.fair && self.line_on(file, Some(req.id));
                let contended = self.model.may_conflict(file, own, req.mode) || line;
                let free = !self.model.must_conflict(file, own, req.mode);
                seen.push((i, r, contended, free));
            }
        }
        for (i, r, contended, free) in seen {
            let req = &mut self.instances[i].reqs[r];
            req.contended |= contended;
            req.free |= free;
        }
    }

    /// A request that waits in the background at the front of its line
    /// (the only one of its file with a place in line), with its lock free
    /// for it and its deadline not near, is granted the lock by the kernel
    /// without anyone polling it: its wait is a standing order.
    fn check_grants(&mut self) -> Check {
        let mut due = Vec::new();
        for (i, inst) in self.instances.iter().enumerate() {
            if !(inst.cfg.fair && inst.cfg.waiters == Waiters::Kernel) {
                continue;
            }
            for req in &inst.reqs {
                let (Some(_), Some(fd), Some(file)) = (req.registered(), req.fd, req.file) else {
                    continue;
                };
                let Timeout::Ms(ms) = req.timeout else {
                    continue;
                };
                let deadline = req.created + Duration::from_millis(u64::from(ms));
                let ofd = self.model.ofd(fd);
                if deadline.saturating_duration_since(Instant::now()) > DEADLINE_MARGIN
                    && self.model.ofds[ofd].held != Some(req.mode)
                    && !self.line_on(file, Some(req.id))
                    && !self.model.may_conflict(file, Some(ofd), req.mode)
                {
                    due.push((i, req.id, fd, ofd, req.mode));
                }
            }
        }
        for (i, id, fd, ofd, mode) in due {
            let raw = self.model.fds[fd].raw;
            let start = Instant::now();
            loop {
                if probe::fd_lock(raw)? == Some(mode) {
                    break;
                }
                ensure!(
                    start.elapsed() < GRANT_WITHIN,
                    "request {id} of instance {i} waits at the front of its line for a free \
                     {mode:?} lock, not granted after {GRANT_WITHIN:?}"
                );
                std::thread::sleep(Duration::from_micros(200));
            }
            *self
                .outcomes
                .entry("background: front request granted a free lock".into())
                .or_default() += 1;
            self.granted_in_background(id, ofd);
        }
        Ok(())
    }

    /// The wait engine's threads: at most one worker per file with a waiter
    /// in the background, plus one (an idle worker ends after a few
    /// milliseconds), never more than the most any instance allows, and at
    /// most one interrupter; none once no instance is left (see
    /// [`World::check_threads_end`]).
    fn check_threads(&mut self) -> Check {
        let busy: Vec<usize> = (0..FILES.len())
            .filter(|&file| {
                self.instances.iter().any(|inst| {
                    inst.cfg.background()
                        && inst
                            .reqs
                            .iter()
                            .any(|r| r.file == Some(file) && r.registered().is_some())
                })
            })
            .collect();
        let cap = self
            .instances
            .iter()
            .map(|inst| inst.cfg.waiters.cap())
            .max()
            .unwrap_or(0);
        let bound = (busy.len() + 1).min(cap);
        let start = Instant::now();
        loop {
            let (workers, interrupters) = probe::engine_threads();
            if workers <= bound && interrupters <= 1 {
                return Ok(());
            }
            ensure!(
                start.elapsed() < THREADS_SETTLE,
                "{workers} kernel-waiter threads and {interrupters} interrupters for \
                 waiters in the background on {} files (instance cap {cap}) after {THREADS_SETTLE:?}",
                busy.len()
            );
            std::thread::sleep(Duration::from_micros(500));
        }
    }

    /// Once every instance is dropped, the wait engine's threads end within
    /// a short settle (idle workers and the interrupter end after a few
    /// milliseconds). Records how long it took.
    pub(in crate::fuzz) fn check_threads_end(&mut self) -> Check {
        let start = Instant::now();
        loop {
            let (workers, interrupters) = probe::engine_threads();
            if workers == 0 && interrupters == 0 {
                self.settled_in = self.settled_in.max(start.elapsed());
                return Ok(());
            }
            ensure!(
                start.elapsed() < THREADS_SETTLE,
                "{workers} kernel-waiter threads and {interrupters} interrupters still run \
                 {THREADS_SETTLE:?} after every instance was dropped"
            );
            std::thread::sleep(Duration::from_micros(500));
        }
    }
}
