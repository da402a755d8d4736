//! A simulated instance (a [`FileLockCtx`], its own [`ResourceTable`] and a
//! preopened directory), the resources a case gave it with what the model
//! knows of each, and how the fuzzer calls the host: the generated async
//! `Host` traits on a [`FileLockCtxView`], with resources passed as a guest
//! passes them.

use std::fs::File;
use std::path::Path;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::filesystem::{self as wasi_fs, Descriptor};
use wasmtime_wasi::{FsPerms, OpenMode};

use super::ops::{DirSel, InstCfg, Timeout, Waiters};
use crate::bindings::portalocker::filelock::types::{LockError, LockMode};
use crate::ctx::{FileLockCtx, FileLockCtxBuilder, FileLockCtxView};
use crate::descriptor_lock::PendingLock;
use crate::path_lock::{FileLock, PendingFileLock};

/// A descriptor the instance opened.
pub(super) struct DescEntry {
    pub(super) res: Resource<Descriptor>,
    /// Its model fd.
    pub(super) fd: usize,
    pub(super) read_only: bool,
}

/// A `file-lock` the instance holds a handle of.
pub(super) struct LockEntry {
    pub(super) res: Resource<FileLock>,
    /// The model fd of its open file.
    pub(super) fd: usize,
    pub(super) mode: LockMode,
    pub(super) held: bool,
}

/// A request resource of either layer.
pub(super) enum ReqRes {
    Desc(Resource<PendingLock>),
    Path(Resource<PendingFileLock>),
}

impl ReqRes {
    /// The request resource, borrowed (as a guest passes it to `get` and
    /// `subscribe`).
    pub(super) fn borrowed(&self) -> ReqRes {
        match self {
            ReqRes::Desc(res) => ReqRes::Desc(borrow(res)),
            ReqRes::Path(res) => ReqRes::Path(borrow(res)),
        }
    }
}

/// The answers a request that is ready may give when collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Answers {
    pub(super) ok: bool,
    pub(super) err: bool,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum ReqState {
    /// Answered at creation with this error.
    Immediate(LockError),
    /// Not answered yet. `registered` (with its place among all requests'
    /// registrations) once a poll left it waiting: it then has a place among
    /// the file's waiters. `granted` once the kernel was seen granting its
    /// lock in the background.
    Waiting {
        registered: Option<u64>,
        granted: bool,
    },
    /// Answered (it was awaited), not collected: the answers the model
    /// allows, and when it was known to be answered.
    Ready {
        answers: Answers,
        at: Instant,
    },
    Collected,
}

/// A request the instance made.
pub(super) struct ReqEntry {
    /// Its identity among all requests of the case.
    pub(super) id: u64,
    pub(super) res: ReqRes,
    pub(super) mode: LockMode,
    pub(super) timeout: Timeout,
    pub(super) created: Instant,
    /// The fd the request holds: a descriptor's (handle layer, until
    /// collected) or its own open file (path layer, while waiting or holding
    /// an uncollected lock).
    pub(super) fd: Option<usize>,
    /// The file it locks (none when answered at creation).
    pub(super) file: Option<usize>,
    /// Path layer: `truncate`.
    pub(super) truncate: bool,
    /// Handle layer: whether the host counted a lock on the descriptor when
    /// the request was made (the request then repeats or converts it).
    pub(super) held_before: bool,
    pub(super) state: ReqState,
    /// Whether the lock may have been contended (held in a conflicting mode
    /// elsewhere, or other waiters ahead) at some point since the request
    /// was made: only then may it fail.
    pub(super) contended: bool,
    /// Whether the lock may have been free at some point since the request
    /// was made: only then may it succeed.
    pub(super) free: bool,
    /// Handle layer: whether a guest call changed the descriptor's lock
    /// since the request was made.
    pub(super) touched: bool,
}

impl ReqEntry {
    /// Whether it is the handle layer's.
    pub(super) fn is_desc(&self) -> bool {
        matches!(self.res, ReqRes::Desc(_))
    }

    /// Whether it still waits with a place among its file's waiters.
    pub(super) fn registered(&self) -> Option<u64> {
        match self.state {
            ReqState::Waiting {
                registered,
                granted: false,
            } => registered,
            _ => None,
        }
    }
}

pub(super) struct Instance {
    pub(super) cfg: InstCfg,
    ctx: FileLockCtx,
    pub(super) table: ResourceTable,
    preopen: Resource<Descriptor>,
    pub(super) descs: Vec<DescEntry>,
    pub(super) locks: Vec<LockEntry>,
    pub(super) reqs: Vec<ReqEntry>,
}

/// A resolved handle-layer target.
#[derive(Debug, Clone, Copy)]
pub(super) enum Handle {
    Dir,
    Desc(usize),
}

impl Instance {
    /// An instance configured as `cfg`, with `dir` preopened.
    pub(super) fn new(cfg: InstCfg, dir: &Path) -> Instance {
        Instance::with_policy(cfg, dir, |builder| builder)
    }

    /// An instance configured as `cfg` and then by `policy`, with `dir`
    /// preopened.
    pub(super) fn with_policy(
        cfg: InstCfg,
        dir: &Path,
        policy: impl FnOnce(FileLockCtxBuilder) -> FileLockCtxBuilder,
    ) -> Instance {
        // The host's own file-system work (opening a lock file, truncating
        // it once locked) runs on the calling thread, so that it is done
        // when a call or a poll returns, as the model expects; on Tokio's
        // blocking pool a request that took its lock would still say
        // `waiting` until its truncation ends.
        let mut builder = FileLockCtx::builder()
            .fair(cfg.fair)
            .read_only_exclusive(cfg.read_only_exclusive)
            .allow_blocking_current_thread(true);
        builder = match cfg.waiters {
            Waiters::Kernel => builder,
            Waiters::Cap(cap) => builder.max_kernel_waiters(usize::from(cap)),
            Waiters::NoWorkers => builder.max_kernel_waiters(0),
            Waiters::NoSignal => builder.interrupt_signal(None),
        };
        let ctx = policy(builder).build();
        let mut table = ResourceTable::new();
        let (perms, open_mode) = if cfg.read_only {
            (FsPerms::ReadOnly, OpenMode::READ)
        } else {
            (FsPerms::ReadWrite, OpenMode::READ | OpenMode::WRITE)
        };
        let dir = File::open(dir).expect("open the temp dir");
        let preopen = table
            .push(Descriptor::Dir(wasi_fs::Dir::new(
                dir, perms, open_mode, false,
            )))
            .expect("push the preopen");
        Instance {
            cfg,
            ctx,
            table,
            preopen,
            descs: Vec::new(),
            locks: Vec::new(),
            reqs: Vec::new(),
        }
    }

    /// The view the host's `Host` traits are implemented on (the one place
    /// that builds a view).
    pub(super) fn view(&mut self) -> FileLockCtxView<'_> {
        FileLockCtxView {
            ctx: &self.ctx,
            table: &mut self.table,
        }
    }

    /// The descriptor a handle-layer call is given, borrowed.
    pub(super) fn handle(&self, handle: Handle) -> Resource<Descriptor> {
        match handle {
            Handle::Dir => borrow(&self.preopen),
            Handle::Desc(d) => borrow(&self.descs[d].res),
        }
    }

    /// The `dir` a path-layer call is given, borrowed: the preopen, or a
    /// file descriptor when asked and there is one.
    pub(super) fn dir(&self, dir: DirSel) -> Resource<Descriptor> {
        match dir {
            DirSel::Desc(i) if !self.descs.is_empty() => {
                borrow(&self.descs[usize::from(i) % self.descs.len()].res)
            }
            _ => borrow(&self.preopen),
        }
    }
}

/// Entry `i` (modulo their number) of `len` entries, if there are any.
pub(super) fn pick(len: usize, i: u8) -> Option<usize> {
    (len > 0).then(|| usize::from(i) % len)
}

/// A borrow of the resource `res`, as a guest passes a handle it keeps.
pub(super) fn borrow<T: 'static>(res: &Resource<T>) -> Resource<T> {
    Resource::new_borrow(res.rep())
}

/// Runs a host call that never waits (`try-lock`, `unlock`, `get`,
/// `request`, `release`, `file`, `drop`, ...) on this thread, outside any
/// executor; a call that does not answer at once is a failure.
pub(super) fn at_once<F: Future>(what: &str, call: F) -> Result<F::Output, String> {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(call).poll(&mut cx) {
        Poll::Ready(out) => Ok(out),
        Poll::Pending => Err(format!("{what} did not answer at once")),
    }
}

/// Runs a host call that may wait on the runtime `rt`, for at most `limit`:
/// `None` once that has passed (the call's future is then dropped).
pub(super) fn within<F: Future>(
    rt: &tokio::runtime::Runtime,
    limit: Duration,
    call: F,
) -> Option<F::Output> {
    rt.block_on(async { tokio::time::timeout(limit, call).await })
        .ok()
}

/// Runs a call of the sync linker, which may block this thread in the
/// kernel, under a watchdog: a hung sync call cannot be abandoned, so one
/// still running after `limit` aborts the process, naming the call.
/// Returns the call's result and how long the call took.
pub(super) fn blocking<R>(
    what: String,
    limit: Duration,
    call: impl FnOnce() -> R,
) -> (R, Duration) {
    let (done, watch) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::Builder::new()
        .name("fuzz-watchdog".into())
        .spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = watch.recv_timeout(limit) {
                eprintln!("fuzz: the sync call {what} hung for {limit:?}; aborting");
                std::process::abort();
            }
        })
        .expect("start a watchdog");
    let start = Instant::now();
    let out = call();
    let took = start.elapsed();
    drop(done);
    watchdog.join().expect("the watchdog ends");
    (out, took)
}
