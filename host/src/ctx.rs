//! The host's per-store state, its builder, and the borrowed view the
//! generated `Host` traits are implemented on.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wasmtime::component::{HasData, ResourceTable};

use crate::named_lock::LockNamespace;
use crate::policy::{LockPolicy, Usage, WaitBudget, canonical_dir};
use crate::wait::WaitPolicy;

/// Per-store configuration of the file-lock host.
///
/// Put one in your store's data next to wasmtime-wasi's `WasiCtx`, and return
/// it from [`FileLockView::filelock`]. Build one with
/// [`FileLockCtx::builder`], or take the defaults with
/// [`FileLockCtx::default`].
///
/// Cloning a context copies its configuration, not its usage or its
/// identity: each clone starts with no locks held and no waits in progress,
/// and with an instance identity of its own, as a context for a new store
/// should.
#[derive(Debug)]
pub struct FileLockCtx {
    pub(crate) wait: WaitPolicy,
    pub(crate) allow_blocking_current_thread: bool,
    pub(crate) policy: Arc<LockPolicy>,
    pub(crate) usage: Arc<Usage>,
    pub(crate) instance: Arc<str>,
    /// Whether `instance` was named by the embedder (kept by clones).
    named: bool,
    /// The named-lock namespaces granted to the guest (shared by clones,
    /// with their connections).
    pub(crate) namespaces: Vec<LockNamespace>,
}

/// The next identity [`FileLockCtx`] hands out by default.
static NEXT_INSTANCE: AtomicU64 = AtomicU64::new(1);

/// A new default instance identity: unique in this host process.
fn next_instance() -> Arc<str> {
    NEXT_INSTANCE
        .fetch_add(1, Ordering::Relaxed)
        .to_string()
        .into()
}

impl Default for FileLockCtx {
    fn default() -> Self {
        FileLockCtx {
            wait: WaitPolicy::default(),
            allow_blocking_current_thread: false,
            policy: Arc::default(),
            usage: Arc::default(),
            instance: next_instance(),
            named: false,
            namespaces: Vec::new(),
        }
    }
}

impl Clone for FileLockCtx {
    fn clone(&self) -> Self {
        FileLockCtx {
            wait: self.wait,
            allow_blocking_current_thread: self.allow_blocking_current_thread,
            policy: Arc::clone(&self.policy),
            usage: Arc::default(),
            instance: if self.named {
                Arc::clone(&self.instance)
            } else {
                next_instance()
            },
            named: self.named,
            namespaces: self.namespaces.clone(),
        }
    }
}

impl FileLockCtx {
    /// Starts a builder with the defaults.
    pub fn builder() -> FileLockCtxBuilder {
        FileLockCtxBuilder::default()
    }

    /// Starts a builder with this context's configuration (copied as
    /// [`Clone`] copies it: no usage, and a new identity unless the
    /// identity was named), to change some of it for a new store.
    pub fn to_builder(&self) -> FileLockCtxBuilder {
        FileLockCtxBuilder { ctx: self.clone() }
    }

    /// How waiters pace their lock attempts.
    pub fn wait_policy(&self) -> WaitPolicy {
        self.wait
    }

    /// What the host allows this store's guest.
    pub fn policy(&self) -> &LockPolicy {
        &self.policy
    }

    /// The identity this store's guest publishes in PID-file locks (WIT
    /// `pid-lock.holder.instance`).
    pub fn instance_identity(&self) -> &str {
        &self.instance
    }

    /// The named-lock namespaces granted to the guest (WIT
    /// `named-lock.granted-namespaces`), in the order they were added.
    pub fn lock_namespaces(&self) -> &[LockNamespace] {
        &self.namespaces
    }

    /// Where the host's own file-system work that may block (an open, an
    /// unlink, an `fsync`) runs for this store.
    pub(crate) fn blocking(&self) -> Blocking {
        Blocking {
            inline: self.allow_blocking_current_thread,
        }
    }

    /// The budget of a wait that starts now.
    pub(crate) fn wait_budget(&self) -> WaitBudget {
        WaitBudget {
            usage: Arc::clone(&self.usage),
            max_pending: self.policy.max_pending_waits,
        }
    }
}

/// Where file-system work that may block runs: off the executor, on Tokio's
/// blocking pool, unless the embedder allows blocking the current thread
/// ([`FileLockCtxBuilder::allow_blocking_current_thread`]), as wasmtime-wasi
/// does for file I/O.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Blocking {
    inline: bool,
}

impl Blocking {
    /// Runs `f` where this store's blocking work runs.
    pub(crate) async fn run<T, F>(self, f: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if self.inline {
            f()
        } else {
            wasmtime_wasi::runtime::spawn_blocking(f).await
        }
    }
}

/// Builds a [`FileLockCtx`].
#[derive(Debug, Clone, Default)]
pub struct FileLockCtxBuilder {
    ctx: FileLockCtx,
}

impl FileLockCtxBuilder {
    /// Sets how a polling waiter paces its lock attempts (a waiter that
    /// cannot wait in the kernel: see the [`wait`](crate::wait) module docs):
    /// the first pause after a contended attempt is `min`, doubling up to
    /// `max`. A smaller `max` notices a release by another process sooner at
    /// the cost of more attempts. `max` is raised to `min` if smaller.
    pub fn wait_intervals(mut self, min: Duration, max: Duration) -> Self {
        self.ctx.wait.min_interval = min;
        self.ctx.wait.max_interval = max.max(min);
        self
    }

    /// Whether this store's waiters line up first-come-first-served with the
    /// host's other fair waiters on the same file (the default), the oldest
    /// waiting in the kernel, instead of all polling and racing for the lock
    /// when it is released.
    pub fn fair(mut self, fair: bool) -> Self {
        self.ctx.wait.fair = fair;
        self
    }

    /// The signal that interrupts a waiter blocked in the kernel (at its
    /// deadline, or when its wait is cancelled; see
    /// [`WaitPolicy::interrupt_signal`]); `None` makes every waiter of this
    /// store poll instead. The default is `SIGRTMIN + 6` on Linux and none
    /// elsewhere. The host installs an empty handler on the signal (without
    /// `SA_RESTART`) the first time it is needed, only if the signal has no
    /// handler yet (otherwise the waiters poll); do not install a handler of
    /// your own on it, and do not block it in threads that run sync guests
    /// (such a caller's wait is then done by a worker).
    pub fn interrupt_signal(mut self, signal: Option<i32>) -> Self {
        self.ctx.wait.interrupt_signal = signal;
        self
    }

    /// The most threads that may block in the kernel for this store's
    /// async waits and requests, counting those of every store in the
    /// process (see [`WaitPolicy::max_kernel_waiters`]; default 128). Each
    /// contended file has at most one such thread, whatever the number of
    /// waiters; beyond the cap, waiters poll (and still honour their
    /// timeouts). Zero makes every waiter of this store poll, a caller of
    /// the sync linker included.
    pub fn max_kernel_waiters(mut self, max: usize) -> Self {
        self.ctx.wait.max_kernel_waiters = max;
        self
    }

    /// Lets the host's own file-system work (opening lock files, truncating,
    /// removing temporary lock files, flushing atomic writes) and file I/O on
    /// descriptors it hands out (`file-lock.file`) run on the calling thread
    /// instead of Tokio's blocking pool, like wasmtime-wasi's
    /// `WasiCtxBuilder::allow_blocking_current_thread`. Set it to the same
    /// value as there (a sync embedding usually allows it).
    pub fn allow_blocking_current_thread(mut self, allow: bool) -> Self {
        self.ctx.allow_blocking_current_thread = allow;
        self
    }

    /// Allows locking only in `dir` and below (by the file's real path when
    /// it is locked); call it once per allowed directory. Without any call,
    /// every directory the guest can reach allows locking. Elsewhere a lock
    /// fails with `denied`. (Checking a path needs Linux's `/proc`: on other
    /// systems a restricted policy denies every lock.)
    ///
    /// # Errors
    ///
    /// Fails if `dir` cannot be canonicalized (it does not exist, say).
    pub fn allow_locking_under(mut self, dir: impl AsRef<Path>) -> std::io::Result<Self> {
        let dir = canonical_dir(dir.as_ref())?;
        Arc::make_mut(&mut self.ctx.policy)
            .lock_dirs
            .get_or_insert_with(Vec::new)
            .push(dir);
        Ok(self)
    }

    /// Whether read-only directories and descriptors may take exclusive
    /// locks. Off by default, so that a guest that may only read cannot starve
    /// writers; such a lock fails with `denied`.
    pub fn read_only_exclusive(mut self, allow: bool) -> Self {
        Arc::make_mut(&mut self.ctx.policy).read_only_exclusive = allow;
        self
    }

    /// The most locks the guest may hold at once (lock resources,
    /// descriptors locked through the handle layer, and byte ranges held
    /// through `range-lock`, each range counting once); more fail with
    /// `limit-reached(held-locks)`.
    pub fn max_held_locks(mut self, max: usize) -> Self {
        Arc::make_mut(&mut self.ctx.policy).max_held_locks = Some(max);
        self
    }

    /// The most waits the guest may have in progress at once (blocking calls
    /// and pending requests that have to wait); more fail with
    /// `limit-reached(pending-waits)`.
    pub fn max_pending_waits(mut self, max: usize) -> Self {
        Arc::make_mut(&mut self.ctx.policy).max_pending_waits = Some(max);
        self
    }

    /// The longest any wait may last, whatever timeout the guest asks for; a
    /// wait cut short by it fails with `limit-reached(wait-time)`.
    pub fn max_wait(mut self, max: Duration) -> Self {
        Arc::make_mut(&mut self.ctx.policy).max_wait = Some(max);
        self
    }

    /// Names the instance in the PID-file locks it takes (WIT
    /// `pid-lock.holder.instance`), instead of the default: a number unique
    /// in this host process. Clones of a named context keep the name.
    pub fn instance_identity(mut self, identity: impl Into<String>) -> Self {
        self.ctx.instance = identity.into().into();
        self.ctx.named = true;
        self
    }

    /// Grants the guest a namespace of named locks (WIT `named-lock`), as
    /// `--lock-namespace NAME=URL` does; a namespace of the same name given
    /// earlier is replaced. Clones of the context share the namespace and
    /// its connections.
    pub fn lock_namespace(mut self, namespace: LockNamespace) -> Self {
        self.ctx
            .namespaces
            .retain(|granted| granted.name() != namespace.name());
        self.ctx.namespaces.push(namespace);
        self
    }

    /// Finishes the context.
    pub fn build(self) -> FileLockCtx {
        self.ctx
    }
}

/// A borrowed view of the file-lock state of one store: its [`FileLockCtx`]
/// and the store's shared [`ResourceTable`] (the same table wasmtime-wasi uses,
/// so guest descriptors and lock resources live side by side).
pub struct FileLockCtxView<'a> {
    /// The store's file-lock context.
    pub ctx: &'a FileLockCtx,
    /// The store's resource table, shared with wasmtime-wasi.
    pub table: &'a mut ResourceTable,
}

/// Implemented by an embedder's store data to give the file-lock host its
/// view.
pub trait FileLockView: Send {
    /// Returns the view of this store's file-lock state.
    fn filelock(&mut self) -> FileLockCtxView<'_>;
}

/// The [`HasData`] marker the generated `add_to_linker` functions are
/// instantiated with.
pub(crate) struct HasFileLock;

impl HasData for HasFileLock {
    type Data<'a> = FileLockCtxView<'a>;
}
