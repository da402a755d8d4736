//! Running the `named` guest against named-lock namespaces: in this test
//! process (a host of its own per [`Host`], on the sync or the async linker)
//! or in `portalocker run` processes.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use portalocker_cli::command::Invocation;
use portalocker_host::{FileLockCtx, LockNamespace};

use crate::{Flavour, GuestRun, Sandbox, component, guests, portalocker_bin, runner_for};

/// A host in this process: its namespaces (and with them, its connections
/// to the services) and the linker it runs guests with. Guests run by one
/// `Host` share them, as the guests of one host process do; two `Host`s
/// are two hosts.
#[derive(Clone)]
pub struct Host {
    ctx: FileLockCtx,
    flavour: Flavour,
}

impl Host {
    /// A host on the sync linker that grants `namespaces` (NAME, URL),
    /// connected and checked.
    pub fn new(namespaces: &[(&str, &str)]) -> Host {
        Host::with_ctx(namespaces, FileLockCtx::builder().build())
    }

    /// A host like [`Host::new`] whose stores start from `ctx` (its policy).
    pub fn with_ctx(namespaces: &[(&str, &str)], ctx: FileLockCtx) -> Host {
        let mut builder = ctx.to_builder();
        for (name, url) in namespaces {
            let namespace = LockNamespace::new(name, url)
                .unwrap_or_else(|err| panic!("namespace {name}={url}: {err}"));
            wasmtime_wasi::runtime::in_tokio(namespace.check())
                .unwrap_or_else(|err| panic!("namespace {name}={url}: {err}"));
            builder = builder.lock_namespace(namespace);
        }
        Host {
            ctx: builder.build(),
            flavour: Flavour::Sync,
        }
    }

    /// This host, its guests run by the linker of `flavour`.
    pub fn on(mut self, flavour: Flavour) -> Host {
        self.flavour = flavour;
        self
    }

    /// Two hosts granting the same `namespaces`, one on each linker: what
    /// the cross-host tests run, so that both flavours take part in each.
    pub fn pair(namespaces: &[(&str, &str)]) -> (Host, Host) {
        (
            Host::new(namespaces),
            Host::new(namespaces).on(Flavour::Async),
        )
    }

    fn invocation(&self, sandbox: &Sandbox, args: &[&str]) -> Invocation {
        let mut invocation = sandbox.invocation(args);
        invocation.locks = self.ctx.clone();
        invocation
    }

    /// Runs `named ARGS` to its end in this host.
    pub fn run(&self, sandbox: &Sandbox, args: &[&str]) -> GuestRun {
        self.run_program(sandbox, guests::NAMED, args)
    }

    /// Runs the guest at `guest` with `args` to its end in this host.
    pub fn run_program(&self, sandbox: &Sandbox, guest: &str, args: &[&str]) -> GuestRun {
        let outcome = runner_for(self.flavour)
            .run(&component(guest), &self.invocation(sandbox, args))
            .expect("run the guest");
        GuestRun::new(guest, outcome)
    }

    /// Runs `named ARGS` in this host on another thread.
    pub fn spawn(&self, sandbox: &Sandbox, args: &[&str]) -> std::thread::JoinHandle<GuestRun> {
        self.spawn_program(sandbox, guests::NAMED, args)
    }

    /// Runs the guest at `guest` with `args` in this host on another thread.
    pub fn spawn_program(
        &self,
        sandbox: &Sandbox,
        guest: &str,
        args: &[&str],
    ) -> std::thread::JoinHandle<GuestRun> {
        let component = component(guest);
        let invocation = self.invocation(sandbox, args);
        let guest = guest.to_owned();
        let runner = runner_for(self.flavour);
        std::thread::spawn(move || {
            let outcome = runner.run(&component, &invocation).expect("run the guest");
            GuestRun::new(&guest, outcome)
        })
    }
}

/// `portalocker run --lock-namespace NAME=URL... --dir SANDBOX::/ named ARGS`.
pub fn cli(sandbox: &Path, namespaces: &[(&str, &str)], args: &[&str]) -> Command {
    let mut command = Command::new(portalocker_bin());
    command.arg("run");
    for (name, url) in namespaces {
        command.arg("--lock-namespace").arg(format!("{name}={url}"));
    }
    command
        .arg("--dir")
        .arg(format!("{}::/", sandbox.display()))
        .arg("named")
        .args(args);
    command
}

/// A `portalocker run` process whose stdout is read line by line.
pub struct HostProcess {
    /// The process.
    pub child: Child,
    lines: std::io::Lines<BufReader<ChildStdout>>,
}

impl HostProcess {
    /// Starts `command` with its stdout piped.
    pub fn spawn(mut command: Command) -> HostProcess {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn portalocker");
        let stdout = child.stdout.take().expect("piped stdout");
        HostProcess {
            child,
            lines: BufReader::new(stdout).lines(),
        }
    }

    /// The next line the guest prints (panics at the end of its output).
    pub fn line(&mut self) -> String {
        match self.lines.next() {
            Some(Ok(line)) => line,
            _ => {
                let status = self.child.wait();
                let mut stderr = String::new();
                if let Some(mut err) = self.child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut err, &mut stderr);
                }
                panic!("the host process printed nothing more ({status:?}); stderr:\n{stderr}");
            }
        }
    }

    /// Kills the process with SIGKILL, as a crash would end it.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL the host");
        let _ = self.child.wait();
    }
}

/// The fencing token in a `locked token=T` line.
pub fn token_of(line: &str) -> u64 {
    line.strip_prefix("locked token=")
        .and_then(|token| token.parse().ok())
        .unwrap_or_else(|| panic!("not a `locked token=T` line: {line:?}"))
}

/// Waits (bounded) until the file `path` exists.
pub fn wait_for_file(path: &Path, limit: Duration) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < limit,
            "{} did not appear within {limit:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The `file://` URL of the local namespace on the host directory `dir`
/// (`file:///tmp/…`, or `file:///C:/…` on Windows).
pub fn file_url(dir: &Path) -> String {
    url::Url::from_directory_path(dir)
        .expect("an absolute directory")
        .to_string()
}
