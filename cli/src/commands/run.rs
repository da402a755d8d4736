//! `portalocker run`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use portalocker_cli::command::{CommandRunner, Exit, Invocation, Preopen, Stdio};
use portalocker_cli::{CompileCache, examples};
use portalocker_host::{FileLockCtx, LockNamespace};
use wasmtime::Engine;

/// The host policy options of `portalocker run`.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Allow locking only under this host directory (repeatable); without it
    /// the guest may lock anywhere it can reach. Judged by the lock file's
    /// real path when it is opened: a file with other names (hard links) is
    /// one lock, whichever name it was locked through.
    #[arg(long = "lock-dir", value_name = "HOST_DIR")]
    lock_dirs: Vec<PathBuf>,
    /// Let read-only directories take exclusive locks (denied by default, so
    /// that a read-only guest cannot starve writers).
    #[arg(long)]
    allow_ro_exclusive: bool,
    /// The most locks the guest may hold at once.
    #[arg(long, value_name = "N")]
    max_locks: Option<usize>,
    /// The most waits the guest may have in progress at once.
    #[arg(long, value_name = "N")]
    max_waits: Option<usize>,
    /// The longest any wait may last, whatever timeout the guest asks for.
    #[arg(long, value_name = "MS")]
    max_wait_ms: Option<u64>,
    /// The most threads that may block in the kernel for waiting requests
    /// (0: they poll instead). A guest's own blocking calls wait on its
    /// thread.
    #[arg(long, value_name = "N")]
    max_kernel_waiters: Option<usize>,
    /// Grant the guest a namespace of named locks (repeatable): NAME=URL with
    /// URL `file:///DIR`, `redis://HOST:PORT[/DB][?ttl_ms=…&wait=notify|poll&compat=portalocker]`
    /// or `postgres://USER@HOST:PORT/DB[?check_ms=…]`. The service is
    /// reached before the guest runs.
    #[arg(long = "lock-namespace", value_name = "NAME=URL")]
    lock_namespaces: Vec<String>,
}

impl PolicyArgs {
    /// The file-lock context these options describe.
    fn ctx(&self) -> anyhow::Result<FileLockCtx> {
        let mut builder = FileLockCtx::builder().read_only_exclusive(self.allow_ro_exclusive);
        for dir in &self.lock_dirs {
            builder = builder
                .allow_locking_under(dir)
                .with_context(|| format!("--lock-dir `{}`", dir.display()))?;
        }
        if let Some(max) = self.max_locks {
            builder = builder.max_held_locks(max);
        }
        if let Some(max) = self.max_waits {
            builder = builder.max_pending_waits(max);
        }
        if let Some(ms) = self.max_wait_ms {
            builder = builder.max_wait(Duration::from_millis(ms));
        }
        if let Some(max) = self.max_kernel_waiters {
            builder = builder.max_kernel_waiters(max);
        }
        for arg in &self.lock_namespaces {
            let namespace: LockNamespace = arg
                .parse()
                .with_context(|| format!("--lock-namespace `{arg}`"))?;
            // Connect now, so that a service that cannot be reached is one
            // clear error before the guest runs.
            wasmtime_wasi::runtime::in_tokio(namespace.check())
                .with_context(|| format!("--lock-namespace `{arg}`"))?;
            builder = builder.lock_namespace(namespace);
        }
        Ok(builder.build())
    }
}

/// Runs `component` (a file or an example's name) with the given preopens,
/// policy, environment and arguments; returns the guest's exit code.
pub fn run(
    component: &str,
    preopens: Vec<Preopen>,
    policy: &PolicyArgs,
    env: Vec<(String, String)>,
    args: Vec<String>,
    use_cache: bool,
) -> anyhow::Result<ExitCode> {
    let bytes = load(component)?;
    for preopen in &preopens {
        if !preopen.host.is_dir() {
            bail!("--dir: `{}` is not a directory", preopen.host.display());
        }
    }
    let runner = CommandRunner::new(&Engine::default())?;
    let cache = use_cache.then(cache).flatten();
    let compiled = match &cache {
        Some(cache) => runner.compile_cached(&bytes, cache),
        None => runner.compile(&bytes),
    }
    .with_context(|| format!("`{component}`"))?;
    let program = Path::new(component).file_stem().map_or_else(
        || component.to_owned(),
        |s| s.to_string_lossy().into_owned(),
    );
    let invocation = Invocation {
        args: std::iter::once(program).chain(args).collect(),
        env,
        preopens,
        stdio: Stdio::Inherit,
        locks: policy.ctx()?,
        ..Invocation::default()
    };
    let outcome = runner.run(&compiled, &invocation)?;
    if let Exit::Trap(trap) = &outcome.exit {
        eprintln!("error: the guest trapped: {}", trap.root_cause());
    }
    Ok(ExitCode::from(outcome.exit.code().clamp(0, 255) as u8))
}

/// The compile cache in its default directory, if there is one and it can
/// be used. A directory that cannot is reported (one line on stderr) and
/// skipped: the run compiles afresh.
fn cache() -> Option<CompileCache> {
    let dir = CompileCache::default_dir()?;
    CompileCache::open(dir)
        .inspect_err(|err| eprintln!("warning: not using the compile cache: {err}"))
        .ok()
}

/// The component's bytes. A bare name (no path separator) that names an
/// embedded example is that example, even when a file of that name is in
/// the current directory (a note says how to run the file instead:
/// `./NAME`); anything else is a file.
fn load(component: &str) -> anyhow::Result<Vec<u8>> {
    let path = Path::new(component);
    let bare = path.components().count() == 1 && !component.ends_with(std::path::MAIN_SEPARATOR);
    if bare && let Some(bytes) = examples::by_name(component) {
        if path.exists() {
            eprintln!(
                "note: running the embedded example `{component}`; to run the file of \
                 that name, write `./{component}`"
            );
        }
        return Ok(bytes.to_vec());
    }
    if path.exists() {
        return std::fs::read(path).with_context(|| format!("cannot read `{component}`"));
    }
    if component == "sqlite" {
        bail!(
            "the `sqlite` example guest is not built into this binary: install the C toolchain \
             (guest/c/install.sh), then build again"
        );
    }
    bail!(
        "no such component file or example guest: `{component}` (examples: {})",
        examples::ALL
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(", ")
    )
}
