//! `portalocker run`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use portalocker_host::command::{CommandRunner, Exit, Invocation, Preopen, Stdio};
use portalocker_host::examples;
use wasmtime::Engine;

/// Runs `component` (a file or an example's name) with the given preopens,
/// environment and arguments; returns the guest's exit code.
pub fn run(
    component: &str,
    preopens: Vec<Preopen>,
    env: Vec<(String, String)>,
    args: Vec<String>,
) -> anyhow::Result<ExitCode> {
    let bytes = load(component)?;
    for preopen in &preopens {
        if !preopen.host.is_dir() {
            bail!("--dir: `{}` is not a directory", preopen.host.display());
        }
    }
    let runner = CommandRunner::new(&Engine::default())?;
    let compiled = runner
        .compile(&bytes)
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
        ..Invocation::default()
    };
    let outcome = runner.run(&compiled, &invocation)?;
    if let Exit::Trap(trap) = &outcome.exit {
        eprintln!("error: the guest trapped: {}", trap.root_cause());
    }
    Ok(ExitCode::from(outcome.exit.code().clamp(0, 255) as u8))
}

/// The component's bytes: a file when one exists at `component`, otherwise
/// the embedded example of that name.
fn load(component: &str) -> anyhow::Result<Vec<u8>> {
    let path = Path::new(component);
    if path.exists() {
        return std::fs::read(path).with_context(|| format!("cannot read `{component}`"));
    }
    match examples::by_name(component) {
        Some(bytes) => Ok(bytes.to_vec()),
        None => bail!(
            "no such component file or example guest: `{component}` (examples: {})",
            examples::ALL
                .iter()
                .map(|(name, _)| *name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
