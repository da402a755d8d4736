//! The host's per-store state, its builder, and the borrowed view the
//! generated `Host` traits are implemented on.

use std::time::Duration;

use wasmtime::component::{HasData, ResourceTable};

use crate::wait::WaitPolicy;

/// Per-store configuration of the file-lock host.
///
/// Put one in your store's data next to wasmtime-wasi's `WasiCtx`, and return
/// it from [`FileLockView::filelock`]. Build one with
/// [`FileLockCtx::builder`], or take the defaults with
/// [`FileLockCtx::default`].
#[derive(Debug, Clone, Default)]
pub struct FileLockCtx {
    pub(crate) wait: WaitPolicy,
    pub(crate) allow_blocking_current_thread: bool,
}

impl FileLockCtx {
    /// Starts a builder with the defaults.
    pub fn builder() -> FileLockCtxBuilder {
        FileLockCtxBuilder::default()
    }

    /// How waiters pace their lock attempts.
    pub fn wait_policy(&self) -> WaitPolicy {
        self.wait
    }
}

/// Builds a [`FileLockCtx`].
#[derive(Debug, Clone, Default)]
pub struct FileLockCtxBuilder {
    ctx: FileLockCtx,
}

impl FileLockCtxBuilder {
    /// Sets how a waiting guest paces its lock attempts: the first pause after
    /// a contended attempt is `min`, doubling up to `max` (see the
    /// [`wait`](crate::wait) module docs). A smaller `max` hands a released
    /// lock over sooner at the cost of more attempts. `max` is raised to `min`
    /// if smaller.
    pub fn wait_intervals(mut self, min: Duration, max: Duration) -> Self {
        self.ctx.wait.min_interval = min;
        self.ctx.wait.max_interval = max.max(min);
        self
    }

    /// Whether this store's waiters line up first-come-first-served with the
    /// host's other fair waiters on the same file (the default), instead of
    /// all racing for the lock when it is released.
    pub fn fair(mut self, fair: bool) -> Self {
        self.ctx.wait.fair = fair;
        self
    }

    /// Lets file I/O on descriptors handed out by `file-lock.file` run on the
    /// calling thread instead of a blocking-task pool, like wasmtime-wasi's
    /// `WasiCtxBuilder::allow_blocking_current_thread`. Set it to the same
    /// value as there.
    pub fn allow_blocking_current_thread(mut self, allow: bool) -> Self {
        self.ctx.allow_blocking_current_thread = allow;
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
