//! A property-based fuzzer for the host's lock logic, against a model of
//! `flock(2)`.
//!
//! Each case builds two or three simulated *instances* (each a
//! [`FileLockCtx`] with its own [`ResourceTable`] and a preopened directory
//! descriptor of one shared temporary directory, some with random policy:
//! fair or not, a read-only preopen, read-only exclusive locks allowed or
//! not), then runs up to 40 random operations through the inherent methods of
//! [`FileLockCtxView`] that the `Host` traits wrap:
//!
//! - the handle layer: open a descriptor (read-write or read-only) on one of
//!   three files, drop it, `try-lock`, `lock` with a timeout of zero, 1–5 ms
//!   or none (only when the model says the lock is free), `lock` without
//!   timeout cancelled after 1–3 ms (its future dropped), `unlock`, on a file
//!   descriptor or on the preopened directory;
//! - the path layer: `acquire` with random modes, timeouts and
//!   create/write/truncate combinations, on plain paths, equivalent ones
//!   (`./b.lock`, `sub/../c.lock`) and hostile ones (a symbolic link at the
//!   lock path, `""`,
//!   `../x`, `/abs`, `a\0b`, `sub/../../x`, `.`, a directory, a FIFO, a link
//!   leaving the directory, a link loop, `a.lock/x`, a missing parent), and
//!   through a file descriptor instead of a directory; `release`, dropping the
//!   lock resource, `file()` descriptors;
//! - requests of both layers: created (and sometimes polled once at once, as
//!   a guest that checks and goes on), collected with `get` (then, if still
//!   waiting, kept, dropped, or awaited), awaited through `Pollable::ready`,
//!   dropped at any point;
//! - dropping a whole instance (its table), which must release everything,
//!   and rewriting a file natively (so that truncation shows).
//!
//! After every operation the fuzzer checks:
//!
//! - the result: no panic, no trap, and exactly the typed error the model
//!   expects (`bad-descriptor`, `invalid-options`, `not-permitted`, `denied`,
//!   `bad-path`, `not-lockable`, `not-found`, `already-locked` only for a
//!   timeout of zero, `timed-out` only once the timeout has passed), or
//!   success exactly when the model says no other open file holds the lock in
//!   a conflicting mode (Linux `flock` semantics, failed conversions included:
//!   they drop the old lock);
//! - `file-lock.mode` and `file-lock.is-held` of every lock resource;
//! - the open files of the process (`/proc/self/fd`): exactly the file
//!   descriptors the model expects per file (no leak, nothing closed early),
//!   plus at most one sentinel thread's file per file (see `wake.rs`), and a
//!   sentinel ends once the file is free and nobody waits;
//! - the lock of every one of those open files as the kernel reports it
//!   (`/proc/self/fdinfo`, per open file description): the model's, fd by fd;
//! - with independent native probes (a separate open file and
//!   `fs4::FileExt::try_lock` / `try_lock_shared`, released at once) that
//!   each file is free, shared-held or exclusive-held as the model says, and
//!   that files exist and have the length the model says (created only when
//!   asked, truncated only once the lock is held).
//!
//! A sentinel holds a file's lock for an instant after the kernel grants it;
//! while a file has a sentinel or a waiting request, a spurious
//! `already-locked`/`timed-out` and a probe that sees more locking than the
//! model are tolerated (probes are retried), never the other way round.
//!
//! Where the host may or may not have made a failed attempt (a wait cancelled,
//! or a request left waiting: a queued waiter does not try before its turn,
//! and a failed conversion drops the old lock), the model takes the kernel's
//! word for that one open file, among the two allowed answers.
//!
//! Run it with `cargo test -p portalocker-host fuzz` (256 cases by default,
//! about 2 s); a long run:
//!
//! ```text
//! PROPTEST_CASES=5000 cargo test -p portalocker-host fuzz -- --nocapture
//! ```
//!
//! Failures are not persisted (the failing case is printed, shrunk).
//!
//! Findings, fixed: a wait for a free lock could wait forever behind a
//! request queued for the same file that nobody polled any more, and a
//! holder re-locking its own descriptor could line up behind a waiter that
//! waited for it. `finding_unpolled_request_blocks_fair_waiters` and
//! `finding_relock_waits_behind_queue` reproduce them, and the fuzzer now
//! generates such waits too (`PORTALOCKER_FUZZ_STRICT=0` turns them into
//! zero timeouts, as it did while the bugs were open).

#![cfg(target_os = "linux")]

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::filesystem::{self as wasi_fs, Descriptor};
use wasmtime_wasi::{FsPerms, OpenMode};
use wasmtime_wasi_io::poll::Pollable;

use crate::bindings::portalocker::filelock::types::{LockError, LockMode, LockOptions};
use crate::ctx::{FileLockCtx, FileLockCtxView};
use crate::error::LockFailure;
use crate::path_lock::FileLock;
use crate::request::{PendingFileLock, PendingLock};

/// Cases when `PROPTEST_CASES` is not set: a few seconds in the dev profile.
const DEFAULT_CASES: u32 = 256;
/// Longest operation sequence.
const MAX_OPS: usize = 40;
/// The files the instances lock; `a.lock` always exists at the start.
const FILES: [&str; 3] = ["a.lock", "b.lock", "c.lock"];
/// How long a call that should finish at once (or within its 1–5 ms
/// timeout) may take before the fuzzer calls it hung.
const HANG: Duration = Duration::from_secs(3);
/// How long a probe that sees more locking than the model is retried while
/// a sentinel may hold the lock for an instant.
const SETTLE: Duration = Duration::from_secs(1);

/// `FileLockCtxView` for one instance (the one place that builds a view).
fn view<'a>(ctx: &'a FileLockCtx, table: &'a mut ResourceTable) -> FileLockCtxView<'a> {
    FileLockCtxView { ctx, table }
}

// ---------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timeout {
    Zero,
    Ms(u8),
    /// No timeout: used only when the model says the lock is free (else the
    /// operation runs with a zero timeout instead).
    Forever,
}

impl Timeout {
    fn ns(self) -> Option<u64> {
        match self {
            Timeout::Zero => Some(0),
            Timeout::Ms(ms) => Some(u64::from(ms) * 1_000_000),
            Timeout::Forever => None,
        }
    }
}

/// A handle-layer target: one of the instance's descriptors (by index,
/// modulo their number) or its preopened directory.
#[derive(Debug, Clone, Copy)]
enum Target {
    Desc(u8),
    Preopen,
}

/// The `dir` of a path-layer call: the preopen or (wrongly) a file
/// descriptor.
#[derive(Debug, Clone, Copy)]
enum DirSel {
    Preopen,
    Desc(u8),
}

/// What to do with a request whose `get` said it is still waiting.
#[derive(Debug, Clone, Copy)]
enum After {
    Keep,
    Drop,
    Await,
}

#[derive(Debug, Clone, Copy)]
struct Opts {
    mode: LockMode,
    timeout: Timeout,
    create: bool,
    write: bool,
    truncate: bool,
}

#[derive(Debug, Clone)]
enum Op {
    Open {
        inst: u8,
        file: u8,
        read_only: bool,
    },
    DropDesc {
        inst: u8,
        desc: u8,
    },
    TryLock {
        inst: u8,
        target: Target,
        mode: LockMode,
    },
    Lock {
        inst: u8,
        target: Target,
        mode: LockMode,
        timeout: Timeout,
    },
    Unlock {
        inst: u8,
        target: Target,
    },
    /// `lock` without a timeout, cancelled (its future dropped) after a few
    /// milliseconds if it has not finished.
    LockCancel {
        inst: u8,
        target: Target,
        mode: LockMode,
        after_ms: u8,
    },
    Acquire {
        inst: u8,
        dir: DirSel,
        path: u8,
        opts: Opts,
    },
    Release {
        inst: u8,
        lock: u8,
    },
    DropLock {
        inst: u8,
        lock: u8,
    },
    LockFile {
        inst: u8,
        lock: u8,
    },
    /// `file-lock.lock`: a no-op when held in `mode`, a conversion when held
    /// in the other, a new lock after `release`.
    Relock {
        inst: u8,
        lock: u8,
        mode: LockMode,
        timeout: Timeout,
    },
    /// `request-lock`; with `poll`, one `get` at once (as a guest that
    /// checks once and goes on with other work).
    RequestDesc {
        inst: u8,
        target: Target,
        mode: LockMode,
        timeout: Timeout,
        poll: bool,
    },
    /// `file-lock.request`, and `poll` as for `RequestDesc`.
    RequestPath {
        inst: u8,
        dir: DirSel,
        path: u8,
        opts: Opts,
        poll: bool,
    },
    Collect {
        inst: u8,
        req: u8,
        after: After,
    },
    Ready {
        inst: u8,
        req: u8,
    },
    DropRequest {
        inst: u8,
        req: u8,
    },
    DropInstance {
        inst: u8,
    },
    Scribble {
        file: u8,
    },
}

/// What a path should give: a file of [`FILES`], or an error whatever the
/// options (after the option and permission checks).
#[derive(Debug, Clone, Copy)]
enum PathKind {
    File(usize),
    Fails(LockError),
}

/// The paths the path layer is given. The first six name the files.
fn paths() -> Vec<(&'static str, PathKind)> {
    use PathKind::{Fails, File};
    vec![
        ("a.lock", File(0)),
        ("b.lock", File(1)),
        ("c.lock", File(2)),
        ("./b.lock", File(1)),
        ("sub/../c.lock", File(2)),
        ("sub/../a.lock", File(0)),
        ("", Fails(LockError::BadPath)),
        ("../a.lock", Fails(LockError::BadPath)),
        ("/abs/a.lock", Fails(LockError::BadPath)),
        ("a\0b", Fails(LockError::BadPath)),
        ("sub/../../a.lock", Fails(LockError::BadPath)),
        (".", Fails(LockError::NotLockable)),
        ("sub/..", Fails(LockError::NotLockable)),
        ("sub", Fails(LockError::NotLockable)),
        ("fifo", Fails(LockError::NotLockable)),
        ("escape.lock", Fails(LockError::BadPath)),
        ("loop.lock", Fails(LockError::BadPath)),
        // A symbolic link at the lock path is never followed, even inside.
        ("alias.lock", Fails(LockError::BadPath)),
        ("a.lock/x", Fails(LockError::BadPath)),
        ("missing/x.lock", Fails(LockError::NotFound)),
    ]
}

const FILE_PATHS: u8 = 6;

fn mode() -> impl Strategy<Value = LockMode> {
    prop_oneof![Just(LockMode::Shared), Just(LockMode::Exclusive)]
}

fn timeout() -> impl Strategy<Value = Timeout> {
    prop_oneof![
        4 => Just(Timeout::Zero),
        2 => (1u8..=5).prop_map(Timeout::Ms),
        1 => Just(Timeout::Forever),
    ]
}

fn request_timeout() -> impl Strategy<Value = Timeout> {
    prop_oneof![
        1 => Just(Timeout::Zero),
        1 => (1u8..=5).prop_map(Timeout::Ms),
    ]
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        12 => any::<u8>().prop_map(Target::Desc),
        1 => Just(Target::Preopen),
    ]
}

fn dir_sel() -> impl Strategy<Value = DirSel> {
    prop_oneof![
        12 => Just(DirSel::Preopen),
        1 => any::<u8>().prop_map(DirSel::Desc),
    ]
}

fn path() -> impl Strategy<Value = u8> {
    let hostile = paths().len() as u8;
    prop_oneof![
        5 => 0..FILE_PATHS,
        1 => FILE_PATHS..hostile,
    ]
}

fn opts(timeouts: BoxedStrategy<Timeout>) -> impl Strategy<Value = Opts> {
    (
        mode(),
        timeouts,
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.15),
    )
        .prop_map(|(mode, timeout, create, write, truncate)| Opts {
            mode,
            timeout,
            create,
            write,
            truncate,
        })
}

fn after() -> impl Strategy<Value = After> {
    prop_oneof![Just(After::Keep), Just(After::Drop), Just(After::Await)]
}

fn op() -> impl Strategy<Value = Op> {
    let inst = || 0u8..3;
    prop_oneof![
        8 => (inst(), 0u8..3, prop::bool::weighted(0.2))
            .prop_map(|(inst, file, read_only)| Op::Open { inst, file, read_only }),
        2 => (inst(), any::<u8>()).prop_map(|(inst, desc)| Op::DropDesc { inst, desc }),
        6 => (inst(), target(), mode())
            .prop_map(|(inst, target, mode)| Op::TryLock { inst, target, mode }),
        5 => (inst(), target(), mode(), timeout())
            .prop_map(|(inst, target, mode, timeout)| Op::Lock { inst, target, mode, timeout }),
        3 => (inst(), target()).prop_map(|(inst, target)| Op::Unlock { inst, target }),
        2 => (inst(), target(), mode(), 1u8..=3)
            .prop_map(|(inst, target, mode, after_ms)| Op::LockCancel { inst, target, mode, after_ms }),
        7 => (inst(), dir_sel(), path(), opts(timeout().boxed()))
            .prop_map(|(inst, dir, path, opts)| Op::Acquire { inst, dir, path, opts }),
        2 => (inst(), any::<u8>()).prop_map(|(inst, lock)| Op::Release { inst, lock }),
        2 => (inst(), any::<u8>()).prop_map(|(inst, lock)| Op::DropLock { inst, lock }),
        2 => (inst(), any::<u8>()).prop_map(|(inst, lock)| Op::LockFile { inst, lock }),
        3 => (inst(), any::<u8>(), mode(), timeout())
            .prop_map(|(inst, lock, mode, timeout)| Op::Relock { inst, lock, mode, timeout }),
        3 => (inst(), target(), mode(), request_timeout(), any::<bool>())
            .prop_map(|(inst, target, mode, timeout, poll)| Op::RequestDesc { inst, target, mode, timeout, poll }),
        3 => (inst(), dir_sel(), path(), opts(request_timeout().boxed()), any::<bool>())
            .prop_map(|(inst, dir, path, opts, poll)| Op::RequestPath { inst, dir, path, opts, poll }),
        4 => (inst(), any::<u8>(), after())
            .prop_map(|(inst, req, after)| Op::Collect { inst, req, after }),
        2 => (inst(), any::<u8>()).prop_map(|(inst, req)| Op::Ready { inst, req }),
        1 => (inst(), any::<u8>()).prop_map(|(inst, req)| Op::DropRequest { inst, req }),
        1 => inst().prop_map(|inst| Op::DropInstance { inst }),
        1 => (0u8..3).prop_map(|file| Op::Scribble { file }),
    ]
}

/// An instance's configuration.
#[derive(Debug, Clone, Copy)]
struct InstCfg {
    fair: bool,
    /// The preopen is read-only.
    read_only: bool,
    /// Read-only directories and descriptors may lock exclusively.
    read_only_exclusive: bool,
}

#[derive(Debug, Clone)]
struct Case {
    instances: Vec<InstCfg>,
    /// Whether `b.lock` and `c.lock` exist at the start.
    exist: [bool; 2],
    ops: Vec<Op>,
}

fn case() -> impl Strategy<Value = Case> {
    let cfg = (any::<bool>(), prop::bool::weighted(0.15), any::<bool>()).prop_map(
        |(fair, read_only, read_only_exclusive)| InstCfg {
            fair,
            read_only,
            read_only_exclusive,
        },
    );
    // A few descriptors first, so that handle-layer operations have targets.
    let open = (0u8..3, 0u8..3).prop_map(|(inst, file)| Op::Open {
        inst,
        file,
        read_only: false,
    });
    (
        prop::collection::vec(cfg, 2..=3),
        any::<[bool; 2]>(),
        prop::collection::vec(open, 0..=4),
        prop::collection::vec(op(), 4..=MAX_OPS - 4),
    )
        .prop_map(|(instances, exist, mut ops, more)| {
            ops.extend(more);
            Case {
                instances,
                exist,
                ops,
            }
        })
}

// ---------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------

/// An open file description.
#[derive(Debug)]
struct Ofd {
    file: usize,
    held: Option<LockMode>,
    /// Open file descriptors of it.
    fds: usize,
}

/// One OS file descriptor, shared by its holders (a descriptor and the
/// requests made on it hold the same `Arc<File>`).
#[derive(Debug)]
struct Fd {
    ofd: usize,
    refs: usize,
    /// The OS file descriptor number, where the fuzzer knows it (guest
    /// descriptors): valid while `refs > 0`.
    raw: Option<i32>,
}

#[derive(Debug, Clone, Copy)]
struct FileState {
    exists: bool,
    len: u64,
}

#[derive(Debug, Default)]
struct Model {
    files: Vec<FileState>,
    ofds: Vec<Ofd>,
    fds: Vec<Fd>,
}

impl Model {
    fn new_fd(&mut self, file: usize) -> usize {
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
    fn dup_fd(&mut self, fd: usize) -> usize {
        let ofd = self.fds[fd].ofd;
        self.ofds[ofd].fds += 1;
        self.fds.push(Fd {
            ofd,
            refs: 1,
            raw: None,
        });
        self.fds.len() - 1
    }

    fn add_ref(&mut self, fd: usize) {
        assert!(self.fds[fd].refs > 0, "model: reference to a closed fd");
        self.fds[fd].refs += 1;
    }

    fn drop_ref(&mut self, fd: usize) {
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

    fn ofd(&self, fd: usize) -> usize {
        self.fds[fd].ofd
    }

    fn file_of(&self, fd: usize) -> usize {
        self.ofds[self.fds[fd].ofd].file
    }

    /// Whether another open file of the same file holds the lock in a mode
    /// that conflicts with `mode` (`ofd` none: a new open file).
    fn conflict(&self, file: usize, ofd: Option<usize>, mode: LockMode) -> bool {
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
    fn attempted(&mut self, ofd: usize, mode: LockMode, ok: bool) {
        let held = &mut self.ofds[ofd].held;
        if ok {
            *held = Some(mode);
        } else if *held != Some(mode) {
            *held = None;
        }
    }

    fn unlock(&mut self, ofd: usize) {
        self.ofds[ofd].held = None;
    }

    /// How a file is held: none, shared or exclusive.
    fn state(&self, file: usize) -> Option<LockMode> {
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
    fn fd_locks(&self, file: usize) -> Vec<u8> {
        let mut held: Vec<u8> = self
            .fds
            .iter()
            .filter(|fd| fd.refs > 0 && self.ofds[fd.ofd].file == file)
            .map(|fd| rank(self.ofds[fd.ofd].held))
            .collect();
        held.sort_unstable();
        held
    }

    fn expected_fds(&self, file: usize) -> usize {
        self.fds
            .iter()
            .filter(|fd| fd.refs > 0 && self.ofds[fd.ofd].file == file)
            .count()
    }

    /// The file is opened (and created, when asked and missing).
    fn opened(&mut self, file: usize, create: bool) {
        let state = &mut self.files[file];
        if !state.exists && create {
            *state = FileState {
                exists: true,
                len: 0,
            };
        }
    }
}

// ---------------------------------------------------------------------------
// Instances
// ---------------------------------------------------------------------------

struct DescEntry {
    res: Resource<Descriptor>,
    fd: usize,
    read_only: bool,
}

struct LockEntry {
    res: Resource<FileLock>,
    fd: usize,
    mode: LockMode,
    write: bool,
    held: bool,
}

enum ReqRes {
    Desc(Resource<PendingLock>),
    Path(Resource<PendingFileLock>),
}

#[derive(Debug, Clone, Copy)]
enum ReqState {
    /// Answered at creation with this error.
    Immediate(LockError),
    /// Not answered yet; `registered` once a poll left it waiting (it then
    /// has a place among the file's waiters).
    Waiting {
        registered: bool,
    },
    /// Answered, not collected.
    Ready(Result<(), LockError>),
    Collected,
}

struct ReqEntry {
    res: ReqRes,
    mode: LockMode,
    timeout: Timeout,
    created: Instant,
    /// The fd the request holds: a descriptor's (handle layer, until
    /// collected) or its own open file (path layer, while waiting or holding
    /// an uncollected lock).
    fd: Option<usize>,
    /// The file it locks (none when answered at creation).
    file: Option<usize>,
    /// Path layer: `write` and `truncate`.
    write: bool,
    truncate: bool,
    state: ReqState,
}

struct Instance {
    cfg: InstCfg,
    ctx: FileLockCtx,
    table: ResourceTable,
    preopen: Resource<Descriptor>,
    descs: Vec<DescEntry>,
    locks: Vec<LockEntry>,
    reqs: Vec<ReqEntry>,
}

impl Instance {
    fn new(cfg: InstCfg, dir: &Path) -> Instance {
        let ctx = FileLockCtx::builder()
            .fair(cfg.fair)
            .read_only_exclusive(cfg.read_only_exclusive)
            .build();
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
}

/// A resolved handle-layer target.
#[derive(Debug, Clone, Copy)]
enum Handle {
    Dir,
    Desc(usize),
}

fn pick(len: usize, i: u8) -> Option<usize> {
    (len > 0).then(|| usize::from(i) % len)
}

// ---------------------------------------------------------------------------
// The world: temp dir, instances, model, checks
// ---------------------------------------------------------------------------

struct World {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    /// Canonical paths of [`FILES`].
    real: Vec<PathBuf>,
    instances: Vec<Instance>,
    model: Model,
    rt: tokio::runtime::Runtime,
    log: Vec<String>,
    /// The operation running, and what the operations gave.
    current: &'static str,
    outcomes: BTreeMap<String, u64>,
}

type Check = Result<(), String>;

macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err(format!($($arg)*));
        }
    };
}

fn lock_error_name(err: &LockError) -> String {
    format!("{err:?}")
}

fn same_error(a: &LockError, b: &LockError) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

/// Whether to generate waits without timeout behind requests nobody polls
/// (the once-known findings, see the module docs). On unless
/// `PORTALOCKER_FUZZ_STRICT=0`.
fn strict() -> bool {
    std::env::var_os("PORTALOCKER_FUZZ_STRICT").is_none_or(|v| v != "0")
}

/// A call's result with its typed error, or a trap (never expected).
fn typed<T>(res: Result<T, LockFailure>) -> Result<Result<T, LockError>, String> {
    match res {
        Ok(v) => Ok(Ok(v)),
        Err(f) => guest_error(f).map(Err),
    }
}

/// What `/proc/self/fd` shows of one file.
#[derive(Debug, Default)]
struct FdScan {
    /// The lock of each file descriptor opened by an instance or the host
    /// (see [`rank`]), sorted.
    held: Vec<u8>,
    /// Sentinel file descriptors.
    sentinels: usize,
}

/// Free, shared, exclusive as 0, 1, 2.
fn rank(mode: Option<LockMode>) -> u8 {
    match mode {
        None => 0,
        Some(LockMode::Shared) => 1,
        Some(LockMode::Exclusive) => 2,
    }
}

/// The `flock` lock an fdinfo text shows for its open file.
fn fdinfo_lock(info: &str) -> Option<LockMode> {
    let line = info
        .lines()
        .find(|l| l.starts_with("lock:") && l.contains("FLOCK"))?;
    if line.contains("WRITE") {
        Some(LockMode::Exclusive)
    } else {
        Some(LockMode::Shared)
    }
}

/// A typed error, or a trap (never expected).
fn guest_error(failure: LockFailure) -> Result<LockError, String> {
    match failure {
        LockFailure::Guest(err) => Ok(err),
        LockFailure::Trap(trap) => Err(format!("trap: {trap:?}")),
    }
}

impl World {
    fn new(case: &Case) -> World {
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

    // --- observation ------------------------------------------------------

    /// Per file: (file descriptors opened by instances or the host, sentinel
    /// file descriptors). Instances' files are opened with `O_NONBLOCK` (the
    /// host's path layer does that too); a sentinel's is not.
    fn scan_fds(&self) -> Vec<FdScan> {
        let mut counts: Vec<FdScan> = (0..FILES.len()).map(|_| FdScan::default()).collect();
        let Ok(entries) = fs::read_dir("/proc/self/fd") else {
            return counts;
        };
        for entry in entries.flatten() {
            let Ok(target) = fs::read_link(entry.path()) else {
                continue;
            };
            let Some(file) = self.real.iter().position(|p| *p == target) else {
                continue;
            };
            let name = entry.file_name();
            let info = fs::read_to_string(format!("/proc/self/fdinfo/{}", name.to_string_lossy()))
                .unwrap_or_default();
            let flags = info
                .lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
                .unwrap_or(0);
            if flags & libc::O_NONBLOCK as u32 != 0 {
                counts[file].held.push(rank(fdinfo_lock(&info)));
            } else {
                counts[file].sentinels += 1;
            }
        }
        for scan in &mut counts {
            scan.held.sort_unstable();
        }
        counts
    }

    fn sentinels(&self) -> Vec<bool> {
        self.scan_fds().iter().map(|s| s.sentinels > 0).collect()
    }

    /// The lock a model fd's open file holds, as the kernel reports it.
    fn observe(&self, fd: usize) -> Result<Option<LockMode>, String> {
        let raw = self.model.fds[fd]
            .raw
            .ok_or("fuzzer: no raw fd recorded for an ambiguous open file")?;
        let info = fs::read_to_string(format!("/proc/self/fdinfo/{raw}"))
            .map_err(|e| format!("fdinfo {raw}: {e}"))?;
        Ok(fdinfo_lock(&info))
    }

    /// Settles the model where a wait may or may not have made a failed
    /// attempt (a queued waiter does not try before its turn; a failed
    /// conversion drops the old lock): the open file holds its old lock or
    /// none, and the kernel says which.
    fn settle_unsure(&mut self, fd: usize) -> Check {
        let ofd = self.model.ofd(fd);
        let old = self.model.ofds[ofd].held;
        if old.is_none() {
            return Ok(());
        }
        let now = self.observe(fd)?;
        ensure!(
            now.is_none() || now == old,
            "the open file holds {now:?} after a wait that did not take the lock, before {old:?}"
        );
        self.model.ofds[ofd].held = now;
        Ok(())
    }

    /// Requests with a place among a file's waiters.
    fn registered_on(&self, file: usize) -> bool {
        self.instances.iter().any(|inst| {
            inst.reqs.iter().any(|r| {
                r.file == Some(file) && matches!(r.state, ReqState::Waiting { registered: true })
            })
        })
    }

    /// Whether the host itself may hold `file`'s lock for an instant
    /// (a sentinel before or after the operation, or a waiting request).
    fn tainted(&self, file: usize, before: &[bool]) -> bool {
        before[file] || self.sentinels()[file] || self.registered_on(file)
    }

    /// A native probe: how `file` is held by others.
    fn probe(&self, file: usize) -> Option<LockMode> {
        let f = File::open(&self.real[file]).expect("probe open");
        if fs4::FileExt::try_lock(&f).is_ok() {
            fs4::FileExt::unlock(&f).expect("probe unlock");
            None
        } else if fs4::FileExt::try_lock_shared(&f).is_ok() {
            fs4::FileExt::unlock(&f).expect("probe unlock");
            Some(LockMode::Shared)
        } else {
            Some(LockMode::Exclusive)
        }
    }

    fn verify(&mut self) -> Check {
        // Lock resources report what the model says.
        for (i, inst) in self.instances.iter_mut().enumerate() {
            for (j, lock) in inst.locks.iter().enumerate() {
                let v = view(&inst.ctx, &mut inst.table);
                let held = v.lock_is_held(&lock.res).map_err(|e| format!("{e:?}"))?;
                let mode = v.lock_mode(&lock.res).map_err(|e| format!("{e:?}"))?;
                ensure!(
                    held == lock.held,
                    "instance {i} lock {j}: is-held {held}, model {}",
                    lock.held
                );
                ensure!(
                    mode == lock.mode,
                    "instance {i} lock {j}: mode {mode:?}, model {:?}",
                    lock.mode
                );
            }
        }
        // Open files: exactly the model's, plus at most one sentinel per file;
        // a sentinel ends once its file is free and nobody waits.
        let counts = self.scan_fds();
        for (file, scan) in counts.iter().enumerate() {
            let (open, sentinel) = (scan.held.len(), scan.sentinels);
            let expected = self.model.expected_fds(file);
            ensure!(
                open == expected,
                "{}: {open} open file descriptors, model {expected}",
                FILES[file]
            );
            let want = self.model.fd_locks(file);
            ensure!(
                scan.held == want,
                "{}: the open files' locks (0 none, 1 shared, 2 exclusive, one per fd) are {:?}, model {want:?}",
                FILES[file],
                scan.held
            );
            ensure!(
                sentinel <= 1,
                "{}: {sentinel} sentinel file descriptors",
                FILES[file]
            );
            if sentinel > 0 && !self.registered_on(file) && self.model.state(file).is_none() {
                let start = Instant::now();
                while self.scan_fds()[file].sentinels > 0 {
                    ensure!(
                        start.elapsed() < SETTLE,
                        "{}: a sentinel still runs {SETTLE:?} after the file became free with no waiter",
                        FILES[file]
                    );
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        }
        // Files: existence, length, lock state (native probes).
        for (file, name) in FILES.iter().enumerate() {
            let state = self.model.files[file];
            let meta = fs::metadata(&self.real[file]);
            ensure!(
                meta.is_ok() == state.exists,
                "{name}: exists {}, model {}",
                meta.is_ok(),
                state.exists
            );
            let Ok(meta) = meta else { continue };
            ensure!(
                meta.len() == state.len,
                "{name}: length {}, model {}",
                meta.len(),
                state.len
            );
            let want = self.model.state(file);
            let rank = |m: Option<LockMode>| match m {
                None => 0,
                Some(LockMode::Shared) => 1,
                Some(LockMode::Exclusive) => 2,
            };
            let start = Instant::now();
            loop {
                let got = self.probe(file);
                if got == want {
                    break;
                }
                ensure!(
                    rank(got) > rank(want),
                    "{name}: native probe sees {got:?}, model {want:?}"
                );
                // More locking than the model: only a sentinel's instant may
                // explain it.
                ensure!(
                    start.elapsed() < SETTLE,
                    "{name}: native probe sees {got:?} for {SETTLE:?}, model {want:?}"
                );
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        Ok(())
    }

    // --- checking lock results ---------------------------------------------

    /// Checks a lock attempt's result against the model's prediction; returns
    /// whether the lock was taken.
    fn check_attempt(
        res: &Result<(), LockError>,
        conflict: bool,
        tainted: bool,
        timeout: Timeout,
        elapsed: Duration,
    ) -> Result<bool, String> {
        match res {
            Ok(()) => {
                ensure!(
                    !conflict,
                    "took a lock the model says is held in a conflicting mode"
                );
                Ok(true)
            }
            Err(LockError::AlreadyLocked) => {
                ensure!(
                    timeout == Timeout::Zero,
                    "already-locked with timeout {timeout:?}"
                );
                ensure!(
                    conflict || tainted,
                    "already-locked though the lock is free"
                );
                Ok(false)
            }
            Err(LockError::TimedOut) => {
                let Timeout::Ms(ms) = timeout else {
                    return Err(format!("timed-out with timeout {timeout:?}"));
                };
                ensure!(
                    elapsed >= Duration::from_millis(u64::from(ms)),
                    "timed-out after {elapsed:?}, before its {ms} ms"
                );
                ensure!(conflict || tainted, "timed-out though the lock is free");
                Ok(false)
            }
            Err(err) => Err(format!("unexpected error {err:?}")),
        }
    }

    /// The error a handle-layer call must fail with before any attempt.
    fn handle_error(
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
    fn path_expect(
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
        if instance.cfg.read_only {
            if opts.write || opts.create || opts.truncate {
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

    /// Whether a wait without timeout must end at once: the lock is free,
    /// and (unless strict) no request waits in the file's queue (see
    /// [`strict`]).
    fn may_wait_forever(&self, file: usize, ofd: Option<usize>, mode: LockMode) -> bool {
        !self.model.conflict(file, ofd, mode) && (strict() || !self.registered_on(file))
    }

    fn handle(&self, inst: usize, target: Target) -> Option<Handle> {
        match target {
            Target::Preopen => Some(Handle::Dir),
            Target::Desc(i) => pick(self.instances[inst].descs.len(), i).map(Handle::Desc),
        }
    }

    // --- operations --------------------------------------------------------

    fn run(&mut self, op: &Op) -> Check {
        let before = self.sentinels();
        match *op {
            Op::Open {
                inst,
                file,
                read_only,
            } => {
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
                let instance = &mut self.instances[inst];
                let res = instance
                    .table
                    .push(Descriptor::File(wasi_fs::File::new(
                        std_file, perms, mode, false,
                    )))
                    .map_err(|e| format!("push: {e}"))?;
                let fd = self.model.new_fd(file);
                self.model.fds[fd].raw = Some(raw);
                self.instances[inst]
                    .descs
                    .push(DescEntry { res, fd, read_only });
                self.log.push(format!("  -> descriptor on {}", FILES[file]));
            }
            Op::DropDesc { inst, desc } => {
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
            }
            Op::TryLock { inst, target, mode } => {
                let inst = self.inst_with(inst, |i| !i.descs.is_empty());
                let Some(handle) = self.handle(inst, target) else {
                    return self.skip();
                };
                let pre = self.handle_error(inst, handle, Some(mode));
                let instance = &mut self.instances[inst];
                let res = match handle {
                    Handle::Dir => &instance.preopen,
                    Handle::Desc(d) => &instance.descs[d].res,
                };
                let out = view(&instance.ctx, &mut instance.table)
                    .try_lock_descriptor(res, mode)
                    .map_or_else(|f| guest_error(f).map(Err), |()| Ok(Ok(())))?;
                self.handle_result(
                    inst,
                    handle,
                    mode,
                    Timeout::Zero,
                    pre,
                    out,
                    Duration::ZERO,
                    &before,
                )?;
            }
            Op::Lock {
                inst,
                target,
                mode,
                timeout,
            } => {
                let inst = self.inst_with(inst, |i| !i.descs.is_empty());
                let Some(handle) = self.handle(inst, target) else {
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
                let instance = &mut self.instances[inst];
                let res = match handle {
                    Handle::Dir => &instance.preopen,
                    Handle::Desc(d) => &instance.descs[d].res,
                };
                let mut v = view(&instance.ctx, &mut instance.table);
                let start = Instant::now();
                let out = self
                    .rt
                    .block_on(async {
                        tokio::time::timeout(HANG, v.lock_descriptor(res, mode, timeout.ns())).await
                    })
                    .map_err(|_| format!("lock with timeout {timeout:?} hung for {HANG:?}"))?
                    .map_or_else(|f| guest_error(f).map(Err), |()| Ok(Ok(())))?;
                let elapsed = start.elapsed();
                self.handle_result(inst, handle, mode, timeout, pre, out, elapsed, &before)?;
            }
            Op::Unlock { inst, target } => {
                let inst = self.inst_with(inst, |i| !i.descs.is_empty());
                let Some(handle) = self.handle(inst, target) else {
                    return self.skip();
                };
                let pre = self.handle_error(inst, handle, None);
                let instance = &mut self.instances[inst];
                let res = match handle {
                    Handle::Dir => &instance.preopen,
                    Handle::Desc(d) => &instance.descs[d].res,
                };
                let out = view(&instance.ctx, &mut instance.table)
                    .unlock_descriptor(res)
                    .map_or_else(|f| guest_error(f).map(Err), |()| Ok(Ok(())))?;
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
                        let fd = self.instances[inst].descs[d].fd;
                        let ofd = self.model.ofd(fd);
                        self.model.unlock(ofd);
                    }
                    (want, got) => return Err(format!("unlock: {got:?}, expected {want:?}")),
                }
            }
            Op::LockCancel {
                inst,
                target,
                mode,
                after_ms,
            } => {
                let inst = self.inst_with(inst, |i| !i.descs.is_empty());
                let Some(handle) = self.handle(inst, target) else {
                    return self.skip();
                };
                let pre = self.handle_error(inst, handle, Some(mode));
                let instance = &mut self.instances[inst];
                let res = match handle {
                    Handle::Dir => &instance.preopen,
                    Handle::Desc(d) => &instance.descs[d].res,
                };
                let mut v = view(&instance.ctx, &mut instance.table);
                let patience = Duration::from_millis(u64::from(after_ms));
                let start = Instant::now();
                let out = self.rt.block_on(async {
                    tokio::time::timeout(patience, v.lock_descriptor(res, mode, None)).await
                });
                let elapsed = start.elapsed();
                let out = match out {
                    Ok(done) => Some(typed(done)?),
                    Err(_) => None,
                };
                self.log.push(format!("  -> {out:?} in {elapsed:?}"));
                match &out {
                    None => self.note("cancelled"),
                    Some(res) => self.note_result(res),
                }
                match (pre, out) {
                    (Some(want), Some(Err(got))) if same_error(&want, &got) => {}
                    (Some(want), got) => return Err(format!("{got:?}, expected {want:?}")),
                    (None, Some(Ok(()))) | (None, None) => {
                        let Handle::Desc(d) = handle else {
                            unreachable!()
                        };
                        let fd = self.instances[inst].descs[d].fd;
                        let (ofd, file) = (self.model.ofd(fd), self.model.file_of(fd));
                        let conflict = self.model.conflict(file, Some(ofd), mode);
                        let ok = out.is_some();
                        if ok {
                            ensure!(
                                !conflict,
                                "took a lock the model says is held in a conflicting mode"
                            );
                        } else {
                            ensure!(
                                conflict || self.tainted(file, &before),
                                "a wait for a free lock was still waiting after {elapsed:?}"
                            );
                        }
                        if ok {
                            self.model.attempted(ofd, mode, true);
                        } else {
                            // Cancelled: it may or may not have tried.
                            self.settle_unsure(fd)?;
                        }
                    }
                    (None, Some(Err(got))) => return Err(format!("unexpected error {got:?}")),
                }
            }
            Op::Acquire {
                inst,
                dir,
                path,
                opts,
            } => self.acquire(inst, dir, path, opts, &before)?,
            Op::Release { inst, lock } => {
                let inst = self.inst_with(inst, |i| !i.locks.is_empty());
                let instance = &mut self.instances[inst];
                let Some(l) = pick(instance.locks.len(), lock) else {
                    return self.skip();
                };
                let entry = &mut instance.locks[l];
                view(&instance.ctx, &mut instance.table)
                    .release_lock(&entry.res)
                    .map_err(|f| format!("release: {f:?}"))?;
                if entry.held {
                    entry.held = false;
                    let ofd = self.model.ofd(entry.fd);
                    self.model.unlock(ofd);
                }
            }
            Op::DropLock { inst, lock } => {
                let inst = self.inst_with(inst, |i| !i.locks.is_empty());
                let instance = &mut self.instances[inst];
                let Some(l) = pick(instance.locks.len(), lock) else {
                    return self.skip();
                };
                let entry = instance.locks.remove(l);
                view(&instance.ctx, &mut instance.table)
                    .drop_lock(entry.res)
                    .map_err(|e| format!("drop lock: {e:?}"))?;
                if entry.held {
                    let ofd = self.model.ofd(entry.fd);
                    self.model.unlock(ofd);
                }
                self.model.drop_ref(entry.fd);
            }
            Op::LockFile { inst, lock } => {
                let inst = self.inst_with(inst, |i| !i.locks.is_empty());
                let instance = &mut self.instances[inst];
                let Some(l) = pick(instance.locks.len(), lock) else {
                    return self.skip();
                };
                let res = view(&instance.ctx, &mut instance.table)
                    .lock_file(&instance.locks[l].res)
                    .map_err(|f| format!("file(): {f:?}"))?;
                let raw = match instance.table.get(&res) {
                    Ok(Descriptor::File(f)) => f.file.as_raw_fd(),
                    _ => return Err("file() gave no file descriptor".into()),
                };
                let (fd, write) = (instance.locks[l].fd, instance.locks[l].write);
                let fd = self.model.dup_fd(fd);
                self.model.fds[fd].raw = Some(raw);
                self.instances[inst].descs.push(DescEntry {
                    res,
                    fd,
                    read_only: !write,
                });
            }
            Op::Relock {
                inst,
                lock,
                mode,
                timeout,
            } => {
                let inst = self.inst_with(inst, |i| !i.locks.is_empty());
                let Some(l) = pick(self.instances[inst].locks.len(), lock) else {
                    return self.skip();
                };
                let entry = &self.instances[inst].locks[l];
                let (fd, no_op) = (entry.fd, entry.held && entry.mode == mode);
                let cfg = self.instances[inst].cfg;
                let pre = (!no_op
                    && mode == LockMode::Exclusive
                    && cfg.read_only
                    && !cfg.read_only_exclusive)
                    .then_some(LockError::Denied);
                let (ofd, file) = (self.model.ofd(fd), self.model.file_of(fd));
                let timeout = match timeout {
                    Timeout::Forever if !self.may_wait_forever(file, Some(ofd), mode) => {
                        Timeout::Zero
                    }
                    t => t,
                };
                let instance = &mut self.instances[inst];
                let mut v = view(&instance.ctx, &mut instance.table);
                let res = &instance.locks[l].res;
                let start = Instant::now();
                let out = self
                    .rt
                    .block_on(async {
                        tokio::time::timeout(HANG, v.relock(res, mode, timeout.ns())).await
                    })
                    .map_err(|_| format!("relock with timeout {timeout:?} hung for {HANG:?}"))?
                    .map_or_else(|f| guest_error(f).map(Err), |()| Ok(Ok(())))?;
                let elapsed = start.elapsed();
                if no_op {
                    self.log.push(format!("  -> {out:?} in {elapsed:?}"));
                    self.note_result(&out);
                    return match out {
                        Ok(()) => Ok(()),
                        Err(got) => Err(format!("{got:?}, expected a no-op")),
                    };
                }
                let Some(ok) =
                    self.attempt_result(fd, mode, timeout, pre, out, elapsed, &before)?
                else {
                    return Ok(());
                };
                let entry = &mut self.instances[inst].locks[l];
                entry.held = ok;
                if ok {
                    entry.mode = mode;
                }
            }
            Op::RequestDesc {
                inst,
                target,
                mode,
                timeout,
                poll,
            } => {
                let inst = self.inst_with(inst, |i| !i.descs.is_empty());
                let Some(handle) = self.handle(inst, target) else {
                    return self.skip();
                };
                let pre = self.handle_error(inst, handle, Some(mode));
                let instance = &mut self.instances[inst];
                let res = match handle {
                    Handle::Dir => &instance.preopen,
                    Handle::Desc(d) => &instance.descs[d].res,
                };
                let created = Instant::now();
                let req = view(&instance.ctx, &mut instance.table)
                    .request_descriptor_lock(res, mode, timeout.ns())
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
                    self.collect(inst, r, &before)?;
                }
            }
            Op::RequestPath {
                inst,
                dir,
                path,
                opts,
                poll,
            } => {
                let inst = self.inst(inst);
                let expect = self.path_expect(inst, dir, path, &opts);
                let instance = &mut self.instances[inst];
                let dir_res = match dir {
                    DirSel::Desc(i) if !instance.descs.is_empty() => {
                        &instance.descs[usize::from(i) % instance.descs.len()].res
                    }
                    _ => &instance.preopen,
                };
                let created = Instant::now();
                let req = view(&instance.ctx, &mut instance.table)
                    .request_path(dir_res, paths()[usize::from(path)].0, lock_options(&opts))
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
                    self.collect(inst, r, &before)?;
                }
            }
            Op::Collect { inst, req, after } => {
                let inst = self.inst_with(inst, |i| !i.reqs.is_empty());
                let Some(r) = pick(self.instances[inst].reqs.len(), req) else {
                    return self.skip();
                };
                let waiting = self.collect(inst, r, &before)?;
                if waiting {
                    match after {
                        After::Keep => {}
                        After::Drop => self.drop_request(inst, r)?,
                        After::Await => {
                            self.ready(inst, r, &before)?;
                            let waiting = self.collect(inst, r, &before)?;
                            ensure!(!waiting, "get: still waiting after the request was ready");
                        }
                    }
                }
            }
            Op::Ready { inst, req } => {
                let inst = self.inst_with(inst, |i| !i.reqs.is_empty());
                let Some(r) = pick(self.instances[inst].reqs.len(), req) else {
                    return self.skip();
                };
                self.ready(inst, r, &before)?;
            }
            Op::DropRequest { inst, req } => {
                let inst = self.inst_with(inst, |i| !i.reqs.is_empty());
                let Some(r) = pick(self.instances[inst].reqs.len(), req) else {
                    return self.skip();
                };
                self.drop_request(inst, r)?;
            }
            Op::DropInstance { inst } => {
                let inst = self.inst(inst);
                let cfg = self.instances[inst].cfg;
                let fresh = Instance::new(cfg, &self.dir);
                let old = std::mem::replace(&mut self.instances[inst], fresh);
                let Instance {
                    descs, locks, reqs, ..
                } = &old;
                for lock in locks {
                    if lock.held {
                        let ofd = self.model.ofd(lock.fd);
                        self.model.unlock(ofd);
                    }
                }
                for req in reqs {
                    self.model_drop_request(req);
                }
                // Descriptors last: a request may share one's open file.
                let fds: Vec<usize> = locks
                    .iter()
                    .map(|l| l.fd)
                    .chain(descs.iter().map(|d| d.fd))
                    .collect();
                drop(old);
                for fd in fds {
                    self.model.drop_ref(fd);
                }
            }
            Op::Scribble { file } => {
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
            }
        }
        Ok(())
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

    /// Checks and applies a handle-layer lock call's result.
    #[allow(clippy::too_many_arguments)]
    fn handle_result(
        &mut self,
        inst: usize,
        handle: Handle,
        mode: LockMode,
        timeout: Timeout,
        pre: Option<LockError>,
        out: Result<(), LockError>,
        elapsed: Duration,
        before: &[bool],
    ) -> Check {
        let fd = match (handle, pre) {
            (Handle::Desc(d), _) => self.instances[inst].descs[d].fd,
            // A directory descriptor has no lock state to model: the call
            // must fail with the expected error, whatever `fd` says.
            (Handle::Dir, Some(_)) => 0,
            (Handle::Dir, None) => unreachable!("the preopen always has an expected error"),
        };
        self.attempt_result(fd, mode, timeout, pre, out, elapsed, before)?;
        Ok(())
    }

    /// Checks a lock attempt on the open file of model descriptor `fd`
    /// against the model and applies it: `None` when the call failed with
    /// the expected error `pre` (nothing changes), else whether it took the
    /// lock.
    #[allow(clippy::too_many_arguments)]
    fn attempt_result(
        &mut self,
        fd: usize,
        mode: LockMode,
        timeout: Timeout,
        pre: Option<LockError>,
        out: Result<(), LockError>,
        elapsed: Duration,
        before: &[bool],
    ) -> Result<Option<bool>, String> {
        self.log.push(format!("  -> {out:?} in {elapsed:?}"));
        self.note_result(&out);
        if let Some(want) = pre {
            return match out {
                Err(got) if same_error(&want, &got) => Ok(None),
                got => Err(format!("{got:?}, expected {want:?}")),
            };
        }
        let (ofd, file) = (self.model.ofd(fd), self.model.file_of(fd));
        let conflict = self.model.conflict(file, Some(ofd), mode);
        let tainted = self.tainted(file, before);
        let ok = Self::check_attempt(&out, conflict, tainted, timeout, elapsed)?;
        self.model.attempted(ofd, mode, ok);
        Ok(Some(ok))
    }

    fn acquire(&mut self, inst: u8, dir: DirSel, path: u8, opts: Opts, before: &[bool]) -> Check {
        let inst = self.inst(inst);
        let expect = self.path_expect(inst, dir, path, &opts);
        let mut opts = opts;
        if let (Ok(file), Timeout::Forever) = (expect, opts.timeout)
            && !self.may_wait_forever(file, None, opts.mode)
        {
            opts.timeout = Timeout::Zero;
        }
        let instance = &mut self.instances[inst];
        let dir_res = match dir {
            DirSel::Desc(i) if !instance.descs.is_empty() => {
                &instance.descs[usize::from(i) % instance.descs.len()].res
            }
            _ => &instance.preopen,
        };
        let mut v = view(&instance.ctx, &mut instance.table);
        let start = Instant::now();
        let out = self
            .rt
            .block_on(async {
                tokio::time::timeout(
                    HANG,
                    v.acquire_path(dir_res, paths()[usize::from(path)].0, lock_options(&opts)),
                )
                .await
            })
            .map_err(|_| format!("acquire with timeout {:?} hung for {HANG:?}", opts.timeout))?;
        let elapsed = start.elapsed();
        let out = match out {
            Ok(res) => Ok(res),
            Err(f) => Err(guest_error(f)?),
        };
        self.log.push(format!(
            "  -> {:?} in {elapsed:?}",
            out.as_ref().map(|_| ()).map_err(lock_error_name)
        ));
        self.note_result(&out);
        match expect {
            Err(want) => match out {
                Err(got) if same_error(&want, &got) => Ok(()),
                Err(got) => Err(format!("acquire: {got:?}, expected {want:?}")),
                Ok(_) => Err(format!("acquire succeeded, expected {want:?}")),
            },
            Ok(file) => {
                let conflict = self.model.conflict(file, None, opts.mode);
                let tainted = self.tainted(file, before);
                let attempt = out.as_ref().map(|_| ()).map_err(|e| *e);
                let ok = Self::check_attempt(&attempt, conflict, tainted, opts.timeout, elapsed)?;
                self.model.opened(file, opts.create);
                if let (true, Ok(res)) = (ok, out) {
                    let fd = self.model.new_fd(file);
                    let ofd = self.model.ofd(fd);
                    self.model.attempted(ofd, opts.mode, true);
                    if opts.truncate {
                        self.model.files[file].len = 0;
                    }
                    self.instances[inst].locks.push(LockEntry {
                        res,
                        fd,
                        mode: opts.mode,
                        write: opts.write,
                        held: true,
                    });
                }
                Ok(())
            }
        }
    }

    /// The model's prediction for a poll of a waiting request: whether the
    /// lock conflicts, and whether the host may hold it for an instant.
    fn request_outlook(&self, inst: usize, r: usize, before: &[bool]) -> (bool, bool) {
        let req = &self.instances[inst].reqs[r];
        let fd = req.fd.expect("a waiting request has a file");
        let file = self.model.file_of(fd);
        let ofd = match req.res {
            ReqRes::Desc(_) => Some(self.model.ofd(fd)),
            ReqRes::Path(_) => None,
        };
        (
            self.model.conflict(file, ofd, req.mode),
            self.tainted(file, before),
        )
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

    /// `get` on a request; returns whether it is still waiting.
    fn collect(&mut self, inst: usize, r: usize, before: &[bool]) -> Result<bool, String> {
        let instance = &mut self.instances[inst];
        let req = &instance.reqs[r];
        let mut v = view(&instance.ctx, &mut instance.table);
        // None: waiting; Some(None): already collected; Some(Some(answer)).
        let polled: Option<Option<Result<Option<Resource<FileLock>>, LockError>>> = match &req.res {
            ReqRes::Desc(res) => v
                .collect_descriptor_request(res)
                .map_err(|e| format!("get trapped: {e:?}"))?
                .map(|c| c.ok().map(|a| a.map(|()| None))),
            ReqRes::Path(res) => v
                .collect_path_request(res)
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
                let (conflict, tainted) = self.request_outlook(inst, r, before);
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
                        let ok = Self::check_attempt(
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

    /// Awaits a request's pollable.
    fn ready(&mut self, inst: usize, r: usize, before: &[bool]) -> Check {
        let state = self.instances[inst].reqs[r].state;
        let outlook = matches!(state, ReqState::Waiting { .. })
            .then(|| self.request_outlook(inst, r, before));
        let instance = &mut self.instances[inst];
        let req = &instance.reqs[r];
        let start = Instant::now();
        let finished = self.rt.block_on(async {
            let pollable: &mut dyn Pollable = match &req.res {
                ReqRes::Desc(res) => instance.table.get_mut(res).map_err(|e| format!("{e:?}"))?,
                ReqRes::Path(res) => instance.table.get_mut(res).map_err(|e| format!("{e:?}"))?,
            };
            Ok::<bool, String>(tokio::time::timeout(HANG, pollable.ready()).await.is_ok())
        })?;
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
            let waiting = self.collect(inst, r, before)?;
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
    fn model_drop_request(&mut self, req: &ReqEntry) {
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

    fn drop_request(&mut self, inst: usize, r: usize) -> Check {
        let req = self.instances[inst].reqs.remove(r);
        self.model_drop_request(&req);
        let instance = &mut self.instances[inst];
        let mut v = view(&instance.ctx, &mut instance.table);
        match req.res {
            ReqRes::Desc(res) => v.drop_descriptor_request(res),
            ReqRes::Path(res) => v.drop_path_request(res),
        }
        .map_err(|e| format!("drop request: {e:?}"))
    }
}

fn lock_options(opts: &Opts) -> LockOptions {
    LockOptions {
        mode: opts.mode,
        timeout: opts.timeout.ns(),
        create: opts.create,
        write: opts.write,
        truncate: opts.truncate,
    }
}

// ---------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------

#[derive(Default)]
struct Stats {
    cases: u64,
    ops: u64,
    outcomes: BTreeMap<String, u64>,
}

fn op_name(op: &Op) -> &'static str {
    match op {
        Op::Open { .. } => "open",
        Op::DropDesc { .. } => "drop-descriptor",
        Op::TryLock { .. } => "try-lock",
        Op::Lock { .. } => "lock",
        Op::Unlock { .. } => "unlock",
        Op::LockCancel { .. } => "lock-cancel",
        Op::Acquire { .. } => "acquire",
        Op::Release { .. } => "release",
        Op::DropLock { .. } => "drop-lock",
        Op::LockFile { .. } => "file",
        Op::Relock { .. } => "relock",
        Op::RequestDesc { .. } => "request-lock",
        Op::RequestPath { .. } => "request",
        Op::Collect { .. } => "get",
        Op::Ready { .. } => "ready",
        Op::DropRequest { .. } => "drop-request",
        Op::DropInstance { .. } => "drop-instance",
        Op::Scribble { .. } => "scribble",
    }
}

fn run_case(case: &Case, stats: &Mutex<Stats>) -> Result<(), TestCaseError> {
    let mut world = World::new(case);
    let result = (|| {
        world.verify().map_err(|e| format!("initial state: {e}"))?;
        for (i, op) in case.ops.iter().enumerate() {
            world.log.push(format!("{i}: {op:?}"));
            world.current = op_name(op);
            world.run(op).map_err(|e| format!("op {i} {op:?}: {e}"))?;
            world
                .verify()
                .map_err(|e| format!("after op {i} {op:?}: {e}"))?;
        }
        // Dropping every instance releases everything.
        for i in 0..world.instances.len() {
            world.current = "final drop-instance";
            world.run(&Op::DropInstance { inst: i as u8 })?;
        }
        world
            .verify()
            .map_err(|e| format!("after dropping all instances: {e}"))?;
        for (file, name) in FILES.iter().enumerate() {
            ensure!(
                world.model.state(file).is_none(),
                "model: {name} still held after dropping all instances"
            );
        }
        Ok::<(), String>(())
    })();
    let mut s = stats.lock().unwrap_or_else(|e| e.into_inner());
    s.cases += 1;
    s.ops += case.ops.len() as u64;
    for (what, n) in &world.outcomes {
        *s.outcomes.entry(what.clone()).or_default() += n;
    }
    drop(s);
    result.map_err(|e| TestCaseError::fail(format!("{e}\ntrace:\n{}", world.log.join("\n"))))
}

#[test]
fn fuzz_locks_against_model() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let config = ProptestConfig {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    };
    let stats = Mutex::new(Stats::default());
    let start = Instant::now();
    let mut runner = TestRunner::new(config);
    let result = runner.run(&case(), |case| run_case(&case, &stats));
    let s = stats.lock().unwrap_or_else(|e| e.into_inner());
    eprintln!(
        "fuzz: {} cases run ({} operations) in {:?}; outcomes:",
        s.cases,
        s.ops,
        start.elapsed()
    );
    for (what, n) in &s.outcomes {
        eprintln!("  {what}: {n}");
    }
    drop(s);
    if let Err(err) = result {
        panic!("{err}");
    }
}

// ---------------------------------------------------------------------------
// Known findings, as reproductions (they fail until the host is fixed)
// ---------------------------------------------------------------------------

/// Two fair instances, each with a descriptor of `a.lock`; instance 0 holds
/// it in `held`.
fn two_instances(held: LockMode) -> World {
    let cfg = InstCfg {
        fair: true,
        read_only: false,
        read_only_exclusive: false,
    };
    let case = Case {
        instances: vec![cfg, cfg],
        exist: [true, true],
        ops: vec![
            Op::Open {
                inst: 0,
                file: 0,
                read_only: false,
            },
            Op::Open {
                inst: 1,
                file: 0,
                read_only: false,
            },
            Op::TryLock {
                inst: 0,
                target: Target::Desc(0),
                mode: held,
            },
        ],
    };
    let mut world = World::new(&case);
    for op in &case.ops {
        world.run(op).expect("set-up");
    }
    world
}

/// A request that was polled once while the lock was held, and is never
/// polled again, keeps its place at the front of the file's fair queue (even
/// after its own timeout passed): a fair `lock` without timeout on the then
/// free file never returns (with a timeout it returns only at its
/// deadline), and the file's sentinel keeps taking the free lock every
/// 200 µs.
#[test]
fn finding_unpolled_request_blocks_fair_waiters() {
    let mut world = two_instances(LockMode::Exclusive);
    let ops = [
        Op::RequestDesc {
            inst: 1,
            target: Target::Desc(0),
            mode: LockMode::Exclusive,
            timeout: Timeout::Ms(5),
            poll: true,
        },
        Op::Unlock {
            inst: 0,
            target: Target::Desc(0),
        },
    ];
    for op in &ops {
        world.run(op).expect("set-up");
    }
    std::thread::sleep(Duration::from_millis(20));
    let inst = &mut world.instances[0];
    let mut v = view(&inst.ctx, &mut inst.table);
    let res = &inst.descs[0].res;
    let done = world.rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(1),
            v.lock_descriptor(res, LockMode::Exclusive, None),
        )
        .await
    });
    assert!(
        done.is_ok(),
        "lock without timeout on a free file still waits after 1 s"
    );
}

/// A descriptor that holds a shared lock and calls `lock` again (the same
/// mode, or exclusive), with any timeout but zero, while another waiter is
/// queued for the file, lines up behind that waiter, which waits for the
/// very lock the first holds: a deadlock that lasts until a timeout ends one
/// of the waits (forever if neither has one). `flock(2)` returns at once.
#[test]
fn finding_relock_waits_behind_queue() {
    let mut world = two_instances(LockMode::Shared);
    let (a, b) = world.instances.split_at_mut(1);
    let (holder, waiter) = (&mut a[0], &mut b[0]);
    let mut hv = view(&holder.ctx, &mut holder.table);
    let mut wv = view(&waiter.ctx, &mut waiter.table);
    let (hres, wres) = (&holder.descs[0].res, &waiter.descs[0].res);
    let start = Instant::now();
    let relocked = world.rt.block_on(async {
        let wait = wv.lock_descriptor(wres, LockMode::Exclusive, Some(300_000_000));
        let relock = async {
            // Let the waiter line up first.
            tokio::task::yield_now().await;
            let res = hv.lock_descriptor(hres, LockMode::Shared, None).await;
            (res.is_ok(), start.elapsed())
        };
        tokio::join!(wait, relock).1
    });
    assert!(relocked.0, "re-lock failed");
    assert!(
        relocked.1 < Duration::from_millis(100),
        "re-locking a held shared lock took {:?} (until the other waiter timed out)",
        relocked.1
    );
}
