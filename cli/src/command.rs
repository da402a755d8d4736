//! Running `wasi:cli` command components with WASI p2 plus the file-lock
//! interfaces: what `portalocker run` does, on the sync linker (as the CLI
//! runs guests) or on the async one (as an async embedder would).

use std::io;
use std::path::PathBuf;
use std::str::FromStr;

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::bindings::Command as AsyncCommand;
use wasmtime_wasi::p2::bindings::sync::Command;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtx, WasiCtxView, WasiView};

use portalocker_host::{FileLockCtx, FileLockCtxView, FileLockView};

/// Most output a captured guest may write to each of stdout and stderr.
const CAPTURE_CAPACITY: usize = 1 << 20;

/// The store data of a command run: WASI, file locks, and their shared
/// resource table.
pub struct CommandState {
    wasi: WasiCtx,
    locks: FileLockCtx,
    table: ResourceTable,
}

impl CommandState {
    /// Store data with `wasi` and `locks`, and a new resource table that both
    /// share.
    pub fn new(wasi: WasiCtx, locks: FileLockCtx) -> Self {
        CommandState {
            wasi,
            locks,
            table: ResourceTable::new(),
        }
    }
}

impl WasiView for CommandState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl FileLockView for CommandState {
    fn filelock(&mut self) -> FileLockCtxView<'_> {
        FileLockCtxView {
            ctx: &self.locks,
            table: &mut self.table,
        }
    }
}

/// A host directory made visible to the guest, written `HOST[::GUEST]` on the
/// command line (like `wasmtime run --dir`). Without `::GUEST` the guest sees
/// it under the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preopen {
    /// The directory on the host.
    pub host: PathBuf,
    /// Where the guest sees it.
    pub guest: String,
    /// Whether the guest may only read (no create, write or truncate).
    pub read_only: bool,
}

/// A `--dir` argument that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreopenParseError {
    /// The host part is empty.
    #[error("--dir `{0}`: the host directory is empty (expected HOST[::GUEST])")]
    EmptyHost(String),
    /// The guest part after `::` is empty.
    #[error("--dir `{0}`: the guest directory after `::` is empty (expected HOST[::GUEST])")]
    EmptyGuest(String),
}

impl FromStr for Preopen {
    type Err = PreopenParseError;

    fn from_str(arg: &str) -> Result<Self, Self::Err> {
        let (host, guest) = match arg.split_once("::") {
            Some((host, guest)) => (host, guest),
            None => (arg, arg),
        };
        if host.is_empty() {
            return Err(PreopenParseError::EmptyHost(arg.to_owned()));
        }
        if guest.is_empty() {
            return Err(PreopenParseError::EmptyGuest(arg.to_owned()));
        }
        Ok(Preopen {
            host: PathBuf::from(host),
            guest: guest.to_owned(),
            read_only: false,
        })
    }
}

/// What the guest's standard output and error are connected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stdio {
    /// The host process's own stdout and stderr.
    #[default]
    Inherit,
    /// Collected in memory and returned in the [`Outcome`]; stdin is
    /// [`Invocation::stdin`].
    Capture,
}

/// One run of a command component.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    /// The guest's arguments, starting with its program name.
    pub args: Vec<String>,
    /// The guest's environment variables.
    pub env: Vec<(String, String)>,
    /// The directories the guest can reach.
    pub preopens: Vec<Preopen>,
    /// Where the guest's output goes.
    pub stdio: Stdio,
    /// The guest's stdin with [`Stdio::Capture`] (with [`Stdio::Inherit`] it
    /// reads the host's stdin).
    pub stdin: Vec<u8>,
    /// The file-lock configuration of the run's store.
    pub locks: FileLockCtx,
}

/// How a guest run ended.
#[derive(Debug)]
pub enum Exit {
    /// The guest returned from `run` (0 for `ok`, 1 for `err`) or called
    /// `wasi:cli/exit` with this code.
    Code(i32),
    /// The guest trapped (for example a Rust panic).
    Trap(wasmtime::Error),
}

impl Exit {
    /// The process exit code this run corresponds to: the guest's own code,
    /// or 134 (like `wasmtime run` and an aborted native process) after a trap.
    pub fn code(&self) -> i32 {
        match self {
            Exit::Code(code) => *code,
            Exit::Trap(_) => 134,
        }
    }
}

/// The result of a run: how it ended, and the captured output (empty unless
/// [`Stdio::Capture`] was asked for).
#[derive(Debug)]
pub struct Outcome {
    /// How the run ended.
    pub exit: Exit,
    /// The guest's captured stdout.
    pub stdout: Vec<u8>,
    /// The guest's captured stderr.
    pub stderr: Vec<u8>,
}

/// Why a component could not be run at all.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The bytes are not a valid component for this engine.
    #[error("not a WebAssembly component: {0}")]
    NotAComponent(wasmtime::Error),
    /// A preopened directory could not be opened.
    #[error("cannot open directory `{}`: {source}", path.display())]
    Preopen {
        /// The host directory.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The component could not be instantiated (for example it imports
    /// something the host does not provide, or is not a `wasi:cli` command).
    #[error("cannot instantiate the component: {0:#}")]
    Instantiate(wasmtime::Error),
    /// The async flavour's Tokio runtime could not be started.
    #[error("cannot start a Tokio runtime: {0}")]
    Runtime(io::Error),
}

/// Which flavour of the host a runner links guests with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// `add_to_linker_sync`: a guest runs (and waits) on the calling thread.
    Sync,
    /// `add_to_linker_async`: a guest runs on a single-threaded Tokio
    /// runtime of its own, its waits yielding to the executor.
    Async,
}

/// Compiles and runs `wasi:cli` command components with WASI p2 and the
/// file-lock interfaces. One runner can run many components, each in its own
/// store, from many threads at once.
pub struct CommandRunner {
    engine: Engine,
    flavour: Flavour,
    linker: Linker<CommandState>,
}

impl CommandRunner {
    /// A runner on `engine` with the sync linker.
    ///
    /// # Errors
    ///
    /// Fails only if the WASI or file-lock interfaces cannot be added to a
    /// linker, which would be a bug.
    pub fn new(engine: &Engine) -> wasmtime::Result<Self> {
        Self::with_flavour(engine, Flavour::Sync)
    }

    /// A runner on `engine` with the linker of `flavour`.
    ///
    /// # Errors
    ///
    /// As [`CommandRunner::new`].
    pub fn with_flavour(engine: &Engine, flavour: Flavour) -> wasmtime::Result<Self> {
        let mut linker = Linker::new(engine);
        match flavour {
            Flavour::Sync => {
                wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
                portalocker_host::add_to_linker_sync(&mut linker)?;
            }
            Flavour::Async => {
                wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
                portalocker_host::add_to_linker_async(&mut linker)?;
            }
        }
        Ok(CommandRunner {
            engine: engine.clone(),
            flavour,
            linker,
        })
    }

    /// The flavour of the host this runner links guests with.
    pub fn flavour(&self) -> Flavour {
        self.flavour
    }

    /// The engine components are compiled with.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles a component from its bytes (binary or WAT).
    ///
    /// # Errors
    ///
    /// [`RunError::NotAComponent`] when the bytes are not a valid component.
    pub fn compile(&self, bytes: &[u8]) -> Result<Component, RunError> {
        Component::new(&self.engine, bytes).map_err(RunError::NotAComponent)
    }

    /// [`compile`](Self::compile), through `cache`: a component compiled
    /// before is loaded instead of compiled again.
    ///
    /// # Errors
    ///
    /// [`RunError::NotAComponent`] when the bytes are not a valid component.
    pub fn compile_cached(
        &self,
        bytes: &[u8],
        cache: &crate::CompileCache,
    ) -> Result<Component, RunError> {
        cache
            .component(&self.engine, bytes)
            .map_err(RunError::NotAComponent)
    }

    /// Runs `component` as `invocation` says, in a new store that is dropped
    /// (releasing every lock the guest still held) before this returns.
    ///
    /// # Errors
    ///
    /// A [`RunError`] when the run cannot start. A guest that fails or traps
    /// is not an error: see [`Outcome::exit`].
    pub fn run(&self, component: &Component, invocation: &Invocation) -> Result<Outcome, RunError> {
        let mut wasi = WasiCtx::builder();
        wasi.args(&invocation.args).envs(&invocation.env);
        // A sync run owns its thread: file I/O may block it (as wasmtime's
        // own CLI allows), instead of hopping to a blocking pool.
        let sync = self.flavour == Flavour::Sync;
        wasi.allow_blocking_current_thread(sync);
        for preopen in &invocation.preopens {
            let perms = if preopen.read_only {
                FsPerms::ReadOnly
            } else {
                FsPerms::ReadWrite
            };
            wasi.preopened_dir(&preopen.host, &preopen.guest, perms)
                .map_err(|err| RunError::Preopen {
                    path: preopen.host.clone(),
                    source: io::Error::other(format!("{err:#}")),
                })?;
        }
        let captured = match invocation.stdio {
            Stdio::Inherit => {
                wasi.inherit_stdio();
                None
            }
            Stdio::Capture => {
                let stdout = MemoryOutputPipe::new(CAPTURE_CAPACITY);
                let stderr = MemoryOutputPipe::new(CAPTURE_CAPACITY);
                wasi.stdin(MemoryInputPipe::new(invocation.stdin.clone()))
                    .stdout(stdout.clone())
                    .stderr(stderr.clone());
                Some((stdout, stderr))
            }
        };
        let locks = invocation
            .locks
            .to_builder()
            .allow_blocking_current_thread(sync)
            .build();
        let state = CommandState::new(wasi.build(), locks);
        let mut store = Store::new(&self.engine, state);
        let ran = match self.flavour {
            Flavour::Sync => {
                // wasmtime-wasi's sync bindings run on a Tokio runtime it
                // starts on first use; start it now, so a guest that uses
                // up the process's file descriptors cannot make that start
                // (and its first print) fail.
                wasmtime_wasi::runtime::in_tokio(async {});
                Command::instantiate(&mut store, component, &self.linker)
                    .map_err(RunError::Instantiate)?
                    .wasi_cli_run()
                    .call_run(&mut store)
            }
            Flavour::Async => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(RunError::Runtime)?;
                runtime.block_on(async {
                    let command =
                        AsyncCommand::instantiate_async(&mut store, component, &self.linker)
                            .await
                            .map_err(RunError::Instantiate)?;
                    Ok(command.wasi_cli_run().call_run(&mut store).await)
                })?
            }
        };
        let exit = match ran {
            Ok(Ok(())) => Exit::Code(0),
            Ok(Err(())) => Exit::Code(1),
            Err(err) => match err.downcast_ref::<I32Exit>() {
                Some(I32Exit(code)) => Exit::Code(*code),
                None => Exit::Trap(err),
            },
        };
        drop(store);
        let (stdout, stderr) = match captured {
            Some((stdout, stderr)) => (stdout.contents().to_vec(), stderr.contents().to_vec()),
            None => (Vec::new(), Vec::new()),
        };
        Ok(Outcome {
            exit,
            stdout,
            stderr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_arguments_parse_like_wasmtime() {
        let p: Preopen = "data::/".parse().unwrap();
        assert_eq!((p.host, p.guest.as_str()), (PathBuf::from("data"), "/"));
        let p: Preopen = "data".parse().unwrap();
        assert_eq!((p.host, p.guest.as_str()), (PathBuf::from("data"), "data"));
        assert!(matches!(
            "::/".parse::<Preopen>(),
            Err(PreopenParseError::EmptyHost(_))
        ));
        assert!(matches!(
            "data::".parse::<Preopen>(),
            Err(PreopenParseError::EmptyGuest(_))
        ));
    }
}
