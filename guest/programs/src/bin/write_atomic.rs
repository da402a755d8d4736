//! `write_atomic PATH TEXT`
//!
//! Replaces `PATH` with `TEXT` atomically (portalocker's `open_atomic`):
//! writes a temporary file next to it and moves it into place on commit.
//! Prints `written`. On failure it prints `error: <kind>` and exits 1.

use std::io::Write;

use portalocker_guest::open_atomic;
use portalocker_programs::{args, exit, fail, usage};

const USAGE: &str = "write_atomic PATH TEXT";

fn main() {
    let Ok([path, text]) = <[String; 2]>::try_from(args()) else {
        usage(USAGE, "expected PATH TEXT");
    };
    let mut file = open_atomic(path)
        .replace(true)
        .create()
        .unwrap_or_else(|error| fail(&error));
    if let Err(err) = file.write_all(text.as_bytes()) {
        println!("error: io");
        eprintln!("{err}");
        exit(1);
    }
    file.commit().unwrap_or_else(|error| fail(&error));
    println!("written");
}
