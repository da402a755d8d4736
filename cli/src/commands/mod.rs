//! The command line: argument definitions and dispatch.

mod demo;
mod native_counter;
mod run;
mod sqlite_demo;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use portalocker_cli::command::Preopen;

/// Run WebAssembly components with advisory file locks (portalocker for WASI).
#[derive(Debug, Parser)]
#[command(name = "portalocker", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a `wasi:cli` command component with WASI p2 and file locks, like
    /// `wasmtime run`. The guest's exit code becomes this process's exit code
    /// (134 when the guest traps).
    Run {
        /// Make a host directory visible to the guest: `HOST[::GUEST]`.
        #[arg(long = "dir", value_name = "HOST[::GUEST]")]
        dirs: Vec<Preopen>,
        /// Make a host directory visible to the guest read-only.
        #[arg(long = "dir-ro", value_name = "HOST[::GUEST]")]
        dirs_ro: Vec<Preopen>,
        /// What the guest may lock.
        #[command(flatten)]
        policy: Box<run::PolicyArgs>,
        /// Set an environment variable for the guest: NAME=VALUE.
        #[arg(long = "env", value_name = "NAME=VALUE", value_parser = parse_env)]
        env: Vec<(String, String)>,
        /// Compile the component afresh, without the compile cache
        /// (`$PORTALOCKER_CACHE_DIR`, else `$XDG_CACHE_HOME/portalocker`,
        /// else `~/.cache/portalocker`).
        #[arg(long)]
        no_cache: bool,
        /// A component file, or the name of an embedded example guest
        /// (`hold`, `counter`, `wait_any`, `named`, and `sqlite` when built in). A
        /// bare example name means the example even when a file of that
        /// name is in the current directory: write `./hold` for the file.
        component: String,
        /// Arguments passed to the guest.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Show lost updates without locks and exact counts with them: guest
    /// instances and a native process increment one counter file in a
    /// temporary directory. With `--sqlite`: SQLite guests and the native
    /// `sqlite3` program write to one database, without and with range
    /// locks.
    Demo {
        /// Guest instances running at once (default 4; 2 with `--sqlite`).
        #[arg(long)]
        instances: Option<usize>,
        /// Increments by each guest instance and by the native process.
        #[arg(long, default_value_t = 200)]
        increments: u64,
        /// Run the SQLite demo instead: guests of the embedded `sqlite`
        /// example and native `sqlite3` share one database.
        #[arg(long)]
        sqlite: bool,
        /// Write transactions by each SQLite guest and by `sqlite3`.
        #[arg(long, default_value_t = 100)]
        transactions: u64,
    },
    /// A native process incrementing a counter file under `flock` (used by
    /// the demo).
    #[command(hide = true)]
    NativeCounter {
        /// The counter file.
        path: PathBuf,
        /// How many increments.
        count: u64,
        /// Do not lock.
        #[arg(long)]
        no_lock: bool,
    },
}

/// Parses `NAME=VALUE`.
fn parse_env(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("`{arg}` is not NAME=VALUE")),
    }
}

/// Runs the parsed command line.
pub fn execute(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run {
            mut dirs,
            dirs_ro,
            policy,
            env,
            no_cache,
            component,
            args,
        } => {
            dirs.extend(dirs_ro.into_iter().map(|dir| Preopen {
                read_only: true,
                ..dir
            }));
            run::run(&component, dirs, &policy, env, args, !no_cache)
        }
        Command::Demo {
            instances,
            increments,
            sqlite: false,
            ..
        } => demo::demo(instances.unwrap_or(4), increments),
        Command::Demo {
            instances,
            transactions,
            sqlite: true,
            ..
        } => sqlite_demo::demo(instances.unwrap_or(2), transactions),
        Command::NativeCounter {
            path,
            count,
            no_lock,
        } => {
            native_counter::count(&path, count, !no_lock)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
