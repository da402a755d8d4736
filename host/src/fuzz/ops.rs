//! The operations a case runs, the paths and files they name, and their
//! proptest strategies.

use proptest::prelude::*;

use crate::bindings::portalocker::filelock::types::{LockError, LockMode, LockOptions};

/// Longest operation sequence.
const MAX_OPS: usize = 40;

/// The files the instances lock; `a.lock` always exists at the start.
pub(super) const FILES: [&str; 3] = ["a.lock", "b.lock", "c.lock"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timeout {
    Zero,
    Ms(u8),
    /// No timeout: used only when the model says the lock is free (else the
    /// operation runs with a zero timeout instead).
    Forever,
}

impl Timeout {
    /// The WIT `timeout` argument.
    pub(super) fn ns(self) -> Option<u64> {
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
pub(super) enum Target {
    Desc(u8),
    Preopen,
}

/// The `dir` of a path-layer call: the preopen or (wrongly) a file
/// descriptor.
#[derive(Debug, Clone, Copy)]
pub(super) enum DirSel {
    Preopen,
    Desc(u8),
}

/// What to do with a request whose `get` said it is still waiting.
#[derive(Debug, Clone, Copy)]
pub(super) enum After {
    Keep,
    Drop,
    Await,
}

/// The `lock-options` of a path-layer call.
#[derive(Debug, Clone, Copy)]
pub(super) struct Opts {
    pub(super) mode: LockMode,
    pub(super) timeout: Timeout,
    pub(super) create: bool,
    pub(super) write: bool,
    pub(super) truncate: bool,
    pub(super) append: bool,
}

impl Opts {
    /// The WIT record.
    pub(super) fn options(&self) -> LockOptions {
        LockOptions {
            mode: self.mode,
            timeout: self.timeout.ns(),
            create: self.create,
            write: self.write,
            truncate: self.truncate,
            append: self.append,
        }
    }
}

#[derive(Debug, Clone)]
pub(super) enum Op {
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
        /// When the descriptor holds a lock, ask for the other mode (a
        /// conversion) instead of `mode`.
        convert: bool,
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

impl Op {
    /// The name its outcomes are counted under.
    pub(super) fn name(&self) -> &'static str {
        match self {
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
}

/// What a path should give: a file of [`FILES`], or an error whatever the
/// options (after the option and permission checks).
#[derive(Debug, Clone, Copy)]
pub(super) enum PathKind {
    File(usize),
    Fails(LockError),
}

/// The paths the path layer is given. The first six name the files.
pub(super) fn paths() -> Vec<(&'static str, PathKind)> {
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

/// How an instance's waiters may wait in the kernel (the builder's
/// `max_kernel_waiters` and `interrupt_signal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Waiters {
    /// The defaults: a worker (or the sync caller's thread) blocks in
    /// `flock(2)`, interrupted by the default signal.
    Kernel,
    /// At most this many workers in the process for this instance's waits
    /// (beyond them its waiters poll).
    Cap(u8),
    /// `max_kernel_waiters(0)`: every waiter polls.
    NoWorkers,
    /// `interrupt_signal(None)`: every waiter polls.
    NoSignal,
}

impl Waiters {
    /// The most workers this instance's waits may run.
    pub(super) fn cap(self) -> usize {
        match self {
            Waiters::Kernel => crate::wait::WaitPolicy::default().max_kernel_waiters,
            Waiters::Cap(cap) => usize::from(cap),
            Waiters::NoWorkers | Waiters::NoSignal => 0,
        }
    }
}

/// An instance's configuration.
#[derive(Debug, Clone, Copy)]
pub(super) struct InstCfg {
    pub(super) fair: bool,
    /// The preopen is read-only.
    pub(super) read_only: bool,
    /// Read-only directories and descriptors may lock exclusively.
    pub(super) read_only_exclusive: bool,
    pub(super) waiters: Waiters,
    /// Blocking calls (`lock`, `acquire`, `file-lock.lock`) go through the
    /// sync linker's functions, whose front waiter blocks on the calling
    /// thread; otherwise through the async ones.
    pub(super) sync: bool,
}

impl InstCfg {
    /// Whether this instance's requests wait in the background: a fair
    /// instance's request at the front of its line has a worker block in
    /// the kernel for it, whether or not anyone polls it. Other requests
    /// only make progress when polled.
    pub(super) fn background(&self) -> bool {
        self.fair && matches!(self.waiters, Waiters::Kernel | Waiters::Cap(_))
    }
}

/// One generated case: the instances, the files at the start, the
/// operations.
#[derive(Debug, Clone)]
pub(super) struct Case {
    pub(super) instances: Vec<InstCfg>,
    /// Whether `b.lock` and `c.lock` exist at the start.
    pub(super) exist: [bool; 2],
    pub(super) ops: Vec<Op>,
}

fn mode() -> impl Strategy<Value = LockMode> {
    prop_oneof![Just(LockMode::Shared), Just(LockMode::Exclusive)]
}

/// Blocking calls: mostly zero or short timeouts, sometimes a long one (a
/// call the model says needs no waiting must return long before it), or
/// none (only when the model says the call must end).
fn timeout() -> impl Strategy<Value = Timeout> {
    prop_oneof![
        8 => Just(Timeout::Zero),
        4 => (1u8..=5).prop_map(Timeout::Ms),
        1 => Just(Timeout::Ms(LONG_MS)),
        2 => Just(Timeout::Forever),
    ]
}

/// A long timeout, of a blocking call or a request: long enough to outlive
/// several operations, and to tell a call that returned at once from one
/// that waited for something.
pub(super) const LONG_MS: u8 = 200;

/// Requests: mostly short timeouts, sometimes one long enough to outlive
/// several operations (so that its lock may be granted in the background).
fn request_timeout() -> impl Strategy<Value = Timeout> {
    prop_oneof![
        2 => Just(Timeout::Zero),
        3 => (1u8..=5).prop_map(Timeout::Ms),
        2 => Just(Timeout::Ms(LONG_MS)),
    ]
}

/// A file of [`FILES`], mostly the first: contention is what the engine is
/// about.
fn file() -> impl Strategy<Value = u8> {
    prop_oneof![
        6 => Just(0u8),
        2 => Just(1u8),
        1 => Just(2u8),
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
    let hostile = u8::try_from(paths().len()).expect("fewer than 256 paths");
    prop_oneof![
        // `a.lock` and `sub/../a.lock` name the first file.
        4 => prop_oneof![Just(0u8), Just(5u8)],
        3 => 0..FILE_PATHS,
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
        prop::bool::weighted(0.15),
    )
        .prop_map(|(mode, timeout, create, write, truncate, append)| Opts {
            mode,
            timeout,
            create,
            write,
            truncate,
            append,
        })
}

fn after() -> impl Strategy<Value = After> {
    prop_oneof![Just(After::Keep), Just(After::Drop), Just(After::Await)]
}

fn op() -> impl Strategy<Value = Op> {
    let inst = || prop_oneof![3 => 0u8..2, 1 => Just(2u8)];
    prop_oneof![
        8 => (inst(), file(), prop::bool::weighted(0.2))
            .prop_map(|(inst, file, read_only)| Op::Open { inst, file, read_only }),
        2 => (inst(), any::<u8>()).prop_map(|(inst, desc)| Op::DropDesc { inst, desc }),
        6 => (inst(), target(), mode())
            .prop_map(|(inst, target, mode)| Op::TryLock { inst, target, mode }),
        5 => (inst(), target(), mode(), timeout())
            .prop_map(|(inst, target, mode, timeout)| Op::Lock { inst, target, mode, timeout }),
        4 => (inst(), target()).prop_map(|(inst, target)| Op::Unlock { inst, target }),
        4 => (inst(), target(), mode(), 1u8..=3)
            .prop_map(|(inst, target, mode, after_ms)| Op::LockCancel { inst, target, mode, after_ms }),
        7 => (inst(), dir_sel(), path(), opts(timeout().boxed()))
            .prop_map(|(inst, dir, path, opts)| Op::Acquire { inst, dir, path, opts }),
        2 => (inst(), any::<u8>()).prop_map(|(inst, lock)| Op::Release { inst, lock }),
        2 => (inst(), any::<u8>()).prop_map(|(inst, lock)| Op::DropLock { inst, lock }),
        2 => (inst(), any::<u8>()).prop_map(|(inst, lock)| Op::LockFile { inst, lock }),
        3 => (inst(), any::<u8>(), mode(), timeout())
            .prop_map(|(inst, lock, mode, timeout)| Op::Relock { inst, lock, mode, timeout }),
        5 => (inst(), target(), mode(), request_timeout(), prop::bool::weighted(0.7), any::<bool>())
            .prop_map(|(inst, target, mode, timeout, poll, convert)| Op::RequestDesc { inst, target, mode, timeout, poll, convert }),
        4 => (inst(), dir_sel(), path(), opts(request_timeout().boxed()), prop::bool::weighted(0.7))
            .prop_map(|(inst, dir, path, opts, poll)| Op::RequestPath { inst, dir, path, opts, poll }),
        4 => (inst(), any::<u8>(), after())
            .prop_map(|(inst, req, after)| Op::Collect { inst, req, after }),
        3 => (inst(), any::<u8>()).prop_map(|(inst, req)| Op::Ready { inst, req }),
        3 => (inst(), any::<u8>()).prop_map(|(inst, req)| Op::DropRequest { inst, req }),
        1 => inst().prop_map(|inst| Op::DropInstance { inst }),
        1 => (0u8..3).prop_map(|file| Op::Scribble { file }),
    ]
}

/// Two or three instances of random policy and waiting, which files exist, a few
/// descriptors opened first (so that handle-layer operations have targets),
/// then random operations.
pub(super) fn case() -> impl Strategy<Value = Case> {
    let waiters = prop_oneof![
        4 => Just(Waiters::Kernel),
        1 => (1u8..=2).prop_map(Waiters::Cap),
        1 => Just(Waiters::NoWorkers),
        1 => Just(Waiters::NoSignal),
    ];
    let cfg = (
        prop::bool::weighted(0.75),
        prop::bool::weighted(0.15),
        any::<bool>(),
        waiters,
        prop::bool::weighted(0.3),
    )
        .prop_map(
            |(fair, read_only, read_only_exclusive, waiters, sync)| InstCfg {
                fair,
                read_only,
                read_only_exclusive,
                waiters,
                sync,
            },
        );
    let open = (0u8..3, file()).prop_map(|(inst, file)| Op::Open {
        inst,
        file,
        read_only: false,
    });
    // Sometimes every instance starts sharing `a.lock`, so that waits and
    // conversions meet contention from the start.
    let share = (0u8..3).prop_map(|inst| {
        [
            Op::Open {
                inst,
                file: 0,
                read_only: false,
            },
            Op::TryLock {
                inst,
                target: Target::Desc(0),
                mode: LockMode::Shared,
            },
        ]
    });
    (
        prop::collection::vec(cfg, 2..=3),
        any::<[bool; 2]>(),
        prop::collection::vec(share, 0..=3),
        prop::collection::vec(open, 0..=4),
        prop::collection::vec(op(), 4..=MAX_OPS - 10),
    )
        .prop_map(|(instances, exist, shared, opens, more)| {
            let mut ops: Vec<Op> = shared.into_iter().flatten().collect();
            ops.extend(opens);
            ops.extend(more);
            Case {
                instances,
                exist,
                ops,
            }
        })
}
