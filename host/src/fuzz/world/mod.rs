//! The world a case runs in: one temporary directory with the files and the
//! hostile paths, the instances that share it, the model, and the trace and
//! outcome counts.
//!
//! [`World::run`] applies one operation, one method per operation, grouped
//! by the WIT interface it calls ([`descriptor_lock`], [`path_lock`], the
//! requests of both in [`request`]; dropping an instance and rewriting a
//! file here), and checks the host's answer against the model's prediction
//! ([`expect`]). [`World::verify`] then checks every lock resource, open
//! file, file and the wait engine's threads against the model, and settles
//! what the model left open by the kernel's word ([`observe`]).

mod descriptor_lock;
mod expect;
mod observe;
mod path_lock;
mod request;

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use super::Check;
use super::instance::Instance;
use super::model::{FileState, Model};
use super::ops::{Case, FILES, Op};

/// How long a call that should finish at once (or within its timeout) may
/// take before the fuzzer calls it hung.
const HANG: Duration = Duration::from_secs(3);

pub(super) struct World {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    /// Canonical paths of [`FILES`].
    real: Vec<PathBuf>,
    pub(super) instances: Vec<Instance>,
    pub(super) model: Model,
    pub(super) rt: tokio::runtime::Runtime,
    pub(super) log: Vec<String>,
    /// The operation running, and what the operations gave.
    pub(super) current: &'static str,
    pub(super) outcomes: BTreeMap<String, u64>,
    /// The identity of the next request, and the number of the next
    /// registration (a request's place among the file's waiters).
    next_id: u64,
    /// The longest the wait engine's threads took to end once every
    /// instance was dropped.
    pub(super) settled_in: Duration,
}

impl World {
    /// The directory, files and instances `case` starts with.
    pub(super) fn new(case: &Case) -> World {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = fs::canonicalize(tmp.path()).expect("canonical temp dir");
        let mut model = Model::default();
        for (i, name) in FILES.iter().enumerate() {
            let exists = i == 0 || case.exist[i - 1];
            if exists {
                fs::write(dir.join(name), b"data").expect("write a file");
            }
            model.files.push(FileState {
                exists,
                len: if exists { 4 } else { 0 },
            });
        }
        fs::create_dir(dir.join("sub")).expect("sub");
        std::os::unix::fs::symlink("a.lock", dir.join("alias.lock")).expect("alias");
        std::os::unix::fs::symlink("../outside.lock", dir.join("escape.lock")).expect("escape");
        std::os::unix::fs::symlink("loop.lock", dir.join("loop.lock")).expect("loop");
        let fifo = std::ffi::CString::new(dir.join("fifo").into_os_string().into_encoded_bytes())
            .expect("fifo path");
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0, "mkfifo");
        let real = FILES.iter().map(|name| dir.join(name)).collect();
        let instances = case
            .instances
            .iter()
            .map(|cfg| Instance::new(*cfg, &dir))
            .collect();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        World {
            _tmp: tmp,
            dir,
            real,
            instances,
            model,
            rt,
            log: Vec::new(),
            current: "",
            outcomes: BTreeMap::new(),
            next_id: 1,
            settled_in: Duration::ZERO,
        }
    }

    fn inst(&self, i: u8) -> usize {
        usize::from(i) % self.instances.len()
    }

    /// Instance `i`, or the next one that `has` what the operation needs.
    fn inst_with(&self, i: u8, has: fn(&Instance) -> bool) -> usize {
        let n = self.instances.len();
        let first = self.inst(i);
        (0..n)
            .map(|k| (first + k) % n)
            .find(|&k| has(&self.instances[k]))
            .unwrap_or(first)
    }

    /// A fresh number for a request or a registration.
    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Applies `op` and checks the host's answer.
    pub(super) fn run(&mut self, op: &Op) -> Check {
        // What the requests may meet from now on.
        self.observe_requests();
        match *op {
            Op::Open {
                inst,
                file,
                read_only,
            } => self.open(inst, file, read_only),
            Op::DropDesc { inst, desc } => self.drop_descriptor(inst, desc),
            Op::TryLock { inst, target, mode } => self.try_lock(inst, target, mode),
            Op::Lock {
                inst,
                target,
                mode,
                timeout,
            } => self.lock(inst, target, mode, timeout),
            Op::Unlock { inst, target } => self.unlock(inst, target),
            Op::LockCancel {
                inst,
                target,
                mode,
                after_ms,
            } => self.lock_cancelled(inst, target, mode, after_ms),
            Op::Acquire {
                inst,
                dir,
                path,
                opts,
            } => self.acquire(inst, dir, path, opts),
            Op::Release { inst, lock } => self.release(inst, lock),
            Op::DropLock { inst, lock } => self.drop_lock(inst, lock),
            Op::LockFile { inst, lock } => self.file(inst, lock),
            Op::Relock {
                inst,
                lock,
                mode,
                timeout,
            } => self.relock(inst, lock, mode, timeout),
            Op::RequestDesc {
                inst,
                target,
                mode,
                timeout,
                poll,
                convert,
            } => self.request_lock(inst, target, mode, timeout, poll, convert),
            Op::RequestPath {
                inst,
                dir,
                path,
                opts,
                poll,
            } => self.request(inst, dir, path, opts, poll),
            Op::Collect { inst, req, after } => self.get(inst, req, after),
            Op::Ready { inst, req } => self.block(inst, req),
            Op::DropRequest { inst, req } => self.drop_request(inst, req),
            Op::DropInstance { inst } => self.drop_instance(inst),
            Op::Scribble { file } => self.scribble(file),
        }
    }

    fn skip(&mut self) -> Check {
        self.log.push("  -> skipped".into());
        self.note("skipped");
        Ok(())
    }

    /// Counts an outcome of the running operation.
    fn note(&mut self, what: &str) {
        let what = what.strip_prefix("LockError::").unwrap_or(what);
        *self
            .outcomes
            .entry(format!("{}: {what}", self.current))
            .or_default() += 1;
    }

    fn note_result<T, E: std::fmt::Debug>(&mut self, res: &Result<T, E>) {
        match res {
            Ok(_) => self.note("ok"),
            Err(e) => self.note(&format!("{e:?}")),
        }
    }

    /// Dropping a whole instance (its table) releases everything it held.
    fn drop_instance(&mut self, inst: u8) -> Check {
        let inst = self.inst(inst);
        let cfg = self.instances[inst].cfg;
        let fresh = Instance::new(cfg, &self.dir);
        let old = std::mem::replace(&mut self.instances[inst], fresh);
        for lock in &old.locks {
            if lock.held {
                let ofd = self.model.ofd(lock.fd);
                self.model.unlock(ofd);
            }
        }
        for req in &old.reqs {
            self.model_drop_request(req, cfg.background());
        }
        // Descriptors last: a request may share one's open file.
        let fds: Vec<usize> = old
            .locks
            .iter()
            .map(|l| l.fd)
            .chain(old.descs.iter().map(|d| d.fd))
            .collect();
        drop(old);
        for fd in fds {
            self.model.drop_ref(fd);
        }
        Ok(())
    }

    /// Rewrites a file natively (so that a later truncation shows).
    fn scribble(&mut self, file: u8) -> Check {
        let file = usize::from(file) % FILES.len();
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.real[file])
            .map_err(|e| format!("scribble: {e}"))?;
        f.write_all(b"scribbled")
            .map_err(|e| format!("scribble: {e}"))?;
        let state = &mut self.model.files[file];
        state.exists = true;
        state.len = state.len.max(9);
        Ok(())
    }
}
