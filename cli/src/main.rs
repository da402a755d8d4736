//! `portalocker`: run WebAssembly components that lock files, and a demo of
//! why they should.

mod commands;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = commands::Cli::parse();
    match commands::execute(args) {
        Ok(code) => code,
        Err(err) => {
            // The whole cause chain, on one line.
            let message = format!("{err:#}");
            eprintln!(
                "error: {}",
                message.split_whitespace().collect::<Vec<_>>().join(" ")
            );
            ExitCode::FAILURE
        }
    }
}
