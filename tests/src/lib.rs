//! The integration-test harness: one shared engine, compiled guests cached
//! per process, a fresh temporary directory per test preopened as the guest's
//! `/`, and native probes that look at the same files from outside.

pub use portalocker_artifacts::{foreach_scenario, guests};
pub mod embed;
// The lock services and the hosts that use them run on Unix only.
pub mod named;
pub mod native;
pub mod ranges;
#[cfg(unix)]
pub mod services;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use portalocker_cli::CompileCache;
pub use portalocker_cli::command::Flavour;
use portalocker_cli::command::{CommandRunner, Exit, Invocation, Outcome, Preopen, Stdio};
use wasmtime::component::Component;
use wasmtime::{Config, Engine};

/// The engine every test shares (compiling guests is the slow part of a
/// test; doing it once per process keeps the suite fast).
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config.epoch_interruption(false);
        Engine::new(&config).expect("engine")
    })
}

/// The synchronous command runner every test shares.
pub fn runner() -> &'static CommandRunner {
    runner_for(Flavour::Sync)
}

/// The command runner of `flavour` (the sync or the async linker) every
/// test shares.
pub fn runner_for(flavour: Flavour) -> &'static CommandRunner {
    static SYNC: OnceLock<CommandRunner> = OnceLock::new();
    static ASYNC: OnceLock<CommandRunner> = OnceLock::new();
    let runner = match flavour {
        Flavour::Sync => &SYNC,
        Flavour::Async => &ASYNC,
    };
    runner.get_or_init(|| CommandRunner::with_flavour(engine(), flavour).expect("runner"))
}

/// The compiled component at `path`, compiled once per process, and kept
/// compiled on disk between runs (see [`compile_cached`]).
pub fn component(path: &str) -> Component {
    static CACHE: OnceLock<Mutex<HashMap<String, Component>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(component) = cache.lock().unwrap().get(path) {
        return component.clone();
    }
    let bytes = std::fs::read(path).unwrap_or_else(|err| panic!("read {path}: {err}"));
    let component = compile_cached(&bytes);
    cache
        .lock()
        .unwrap()
        .entry(path.to_owned())
        .or_insert(component)
        .clone()
}

/// Compiles `bytes` for [`engine`], or loads the result of an earlier run of
/// the suite from the host's [`CompileCache`] in `$OUT_DIR/compiled/`. The
/// components in other languages embed whole interpreters (CPython,
/// SpiderMonkey) and take seconds each to compile; the cache makes every run
/// after the first skip that.
pub fn compile_cached(bytes: &[u8]) -> Component {
    static CACHE: OnceLock<Option<CompileCache>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| {
        CompileCache::open(Path::new(env!("OUT_DIR")).join("compiled"))
            .inspect_err(|err| eprintln!("not using the compile cache: {err}"))
            .ok()
    });
    match cache {
        Some(cache) => runner().compile_cached(bytes, cache),
        None => runner().compile(bytes),
    }
    .expect("compile guest")
}

/// A fresh temporary directory, preopened as `/` for the guests a test runs,
/// and the flavour of the host (sync or async linker) they run in.
pub struct Sandbox {
    dir: tempfile::TempDir,
    root: PathBuf,
    flavour: Flavour,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    /// A new empty sandbox.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().to_path_buf();
        Sandbox {
            dir,
            root,
            flavour: Flavour::Sync,
        }
    }

    /// A new empty sandbox in `parent` instead of the system's temporary
    /// directory (for tests that need the file system `parent` is on).
    pub fn new_in(parent: impl AsRef<Path>) -> Self {
        std::fs::create_dir_all(parent.as_ref()).expect("create the sandbox's parent");
        let dir = tempfile::tempdir_in(parent).expect("temp dir");
        let root = dir.path().to_path_buf();
        Sandbox {
            dir,
            root,
            flavour: Flavour::Sync,
        }
    }

    /// A sandbox whose preopen is a subdirectory `jail` of a temporary
    /// directory, so that tests can check that nothing outside it (in
    /// [`Sandbox::outside`]) was touched.
    pub fn jailed() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("jail");
        std::fs::create_dir(&root).expect("create jail");
        Sandbox {
            dir,
            root,
            flavour: Flavour::Sync,
        }
    }

    /// The sandbox, its guests run by the host of `flavour` (the sync linker
    /// unless told).
    pub fn with_flavour(mut self, flavour: Flavour) -> Self {
        self.flavour = flavour;
        self
    }

    /// The flavour of the host this sandbox's guests run in.
    pub fn flavour(&self) -> Flavour {
        self.flavour
    }

    /// The runner of this sandbox's flavour.
    pub fn runner(&self) -> &'static CommandRunner {
        runner_for(self.flavour)
    }

    /// The directory around a [`Sandbox::jailed`] sandbox, which guests must
    /// not reach (the sandbox itself for an ordinary one).
    pub fn outside(&self) -> &Path {
        self.dir.path()
    }

    /// The sandbox directory on the host.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The host path of `name` inside the sandbox.
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The invocation of a guest with `args`, preopening the sandbox as `/`.
    pub fn invocation(&self, args: &[&str]) -> Invocation {
        Invocation {
            args: std::iter::once("guest")
                .chain(args.iter().copied())
                .map(str::to_owned)
                .collect(),
            preopens: vec![Preopen {
                host: self.root().to_path_buf(),
                guest: "/".to_owned(),
                read_only: false,
            }],
            stdio: Stdio::Capture,
            ..Invocation::default()
        }
    }

    /// Runs the guest at `guest` with `args` to its end.
    pub fn run(&self, guest: &str, args: &[&str]) -> GuestRun {
        let outcome = self
            .runner()
            .run(&component(guest), &self.invocation(args))
            .expect("run guest");
        GuestRun {
            guest: guest.to_owned(),
            outcome,
        }
    }

    /// Runs the guest on another thread; join the handle for its result.
    pub fn spawn(&self, guest: &str, args: &[&str]) -> std::thread::JoinHandle<GuestRun> {
        let component = component(guest);
        let invocation = self.invocation(args);
        let guest = guest.to_owned();
        let runner = self.runner();
        std::thread::spawn(move || GuestRun {
            outcome: runner.run(&component, &invocation).expect("run guest"),
            guest,
        })
    }
}

/// A finished guest run, with helpers that print the guest's output when an
/// assertion fails.
#[derive(Debug)]
pub struct GuestRun {
    guest: String,
    /// How it ended and what it printed.
    pub outcome: Outcome,
}

impl GuestRun {
    /// The run of `guest` that ended in `outcome`.
    pub fn new(guest: &str, outcome: Outcome) -> Self {
        GuestRun {
            guest: guest.to_owned(),
            outcome,
        }
    }

    /// The guest's stdout as text.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.outcome.stdout).into_owned()
    }

    /// The guest's stderr as text.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.outcome.stderr).into_owned()
    }

    /// The exit code (134 for a trap).
    pub fn code(&self) -> i32 {
        self.outcome.exit.code()
    }

    /// Whether the guest trapped.
    pub fn trapped(&self) -> bool {
        matches!(self.outcome.exit, Exit::Trap(_))
    }

    /// Asserts the guest exited with `code`; shows its output otherwise.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code(),
            code,
            "guest {} exited {:?}\n--- stdout\n{}--- stderr\n{}",
            self.guest,
            self.outcome.exit,
            self.stdout(),
            self.stderr()
        );
        self
    }

    /// Asserts the guest succeeded.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        self.assert_code(0)
    }

    /// Asserts the guest's stdout has the line `line`.
    #[track_caller]
    pub fn assert_line(&self, line: &str) -> &Self {
        assert!(
            self.stdout().lines().any(|l| l.trim() == line),
            "guest {} did not print `{line}`\n--- stdout\n{}--- stderr\n{}",
            self.guest,
            self.stdout(),
            self.stderr()
        );
        self
    }

    /// The number after `key=` in the guest's stdout.
    pub fn value(&self, key: &str) -> Option<u64> {
        let prefix = format!("{key}=");
        self.stdout()
            .split_whitespace()
            .find_map(|word| word.strip_prefix(&prefix)?.parse().ok())
    }
}

/// Polls `condition` until it holds or `limit` passes; returns whether it
/// held. Used to wait for another party to take or drop a lock, never to
/// assert on timing.
pub fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if condition() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A new engine with epoch interruption, for tests that stop guests with an
/// epoch deadline (the shared [`engine`] has none: checking epochs costs a
/// little in every loop). Each test takes its own, so that one test's
/// `increment_epoch` never reaches another's guests. Components for it come
/// from [`component_on`].
pub fn epoch_engine() -> Engine {
    let mut config = Config::new();
    config.epoch_interruption(true);
    Engine::new(&config).expect("engine")
}

/// The component at `path` compiled for `engine` (not cached).
pub fn component_on(engine: &Engine, path: &str) -> Component {
    Component::from_file(engine, path).unwrap_or_else(|err| panic!("compile {path}: {err:#}"))
}

/// The `portalocker` CLI binary of this build (`target/<profile>/portalocker`,
/// next to the `deps` directory the test binaries run from).
///
/// `cargo test --workspace` builds it (the host package has integration
/// tests); `cargo test -p portalocker-tests` alone does not, so run
/// `cargo build -p portalocker-cli` first in that case. Panics with that
/// advice when it is missing.
pub fn portalocker_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binaries run from target/<profile>/deps");
    let bin = profile_dir.join(format!("portalocker{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "this test runs the `portalocker` CLI, expected at {}: build it first with \
         `cargo build -p portalocker-cli` (`cargo test --workspace` builds it too)",
        bin.display()
    );
    bin
}

/// Reports that a test cannot run here because `what` (a command, then
/// maybe what about it) is missing or unsupported, with `how` to get it: a
/// panic when `PORTALOCKER_REQUIRE_TOOLS` (a comma-separated list, as for
/// the build's tools) is `all` (as in CI, where every tool is installed)
/// or names the command, otherwise a message on stderr, after which the
/// test returns without checking anything.
pub fn tool_missing(what: &str, how: &str) {
    let command = what.split_whitespace().next().unwrap_or(what);
    let required = std::env::var("PORTALOCKER_REQUIRE_TOOLS").unwrap_or_default();
    if required
        .split(',')
        .any(|name| name.trim() == "all" || name.trim() == command)
    {
        panic!("{what} is required (PORTALOCKER_REQUIRE_TOOLS={required}): {how}");
    }
    eprintln!("skipped: {what} ({how})");
}
