//! `cargo run -p portalocker-tests --bin bench [-- --quick] [--only P1..P6|N1|N2] [--write DIR]`:
//! measures each performance figure side by side with its native baseline,
//! in the same run, and prints a table with the ratios. With `--write DIR`
//! it also writes `DIR/bench.md` (the table) and `DIR/bench.svg` (a plot).
//!
//! Figures:
//! - P1 lock cost: guest handle-layer lock+unlock ÷ native fs4 lock+unlock.
//! - P2 path lock cycle: guest path-layer acquire+release ÷ native
//!   open+lock+unlock+close.
//! - P3 hand-off: holder's unlock → waiter's return, with a timeout set on
//!   the waiter, native→guest and guest→guest ÷ native blocking `flock`.
//! - P4 many waiters: N guests in one async host wait on one lock.
//! - P5 cold path: instantiate a pre-compiled guest and take its first lock.
//! - P6 fairness: how evenly 8 contenders share one lock (most ÷ fewest
//!   turns), guests with and without the host's queue, beside native flock.
//! - N1 named locks: a guest's acquire+release per backend (local, Redis,
//!   PostgreSQL) beside the raw round trips of the same client crate.
//! - N2 named hand-off: a holder's release in one host → the waiter's return
//!   in another, per backend (Redis with pub/sub notices and with polling).

mod figures;
mod named;
mod report;
mod stats;

use std::path::PathBuf;

/// How big a run is.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    /// Lock cycles per timed loop (P1, P2).
    pub cycles: u32,
    /// Timed loops (P1, P2) and cold starts (P5).
    pub repeats: usize,
    /// Hand-offs per P3 series.
    pub handoffs: usize,
    /// Guests waiting at once in P4.
    pub waiters: usize,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut size = Size {
        cycles: 20_000,
        repeats: 7,
        handoffs: 100,
        waiters: 1000,
    };
    let mut write: Option<PathBuf> = None;
    let mut only: Option<String> = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => {
                size = Size {
                    cycles: 2_000,
                    repeats: 3,
                    handoffs: 15,
                    waiters: 50,
                }
            }
            "--write" => write = Some(PathBuf::from(args.next().expect("--write DIR"))),
            "--only" => only = Some(args.next().expect("--only P1..P6|N1|N2").to_uppercase()),
            other => {
                eprintln!(
                    "error: unknown argument `{other}` (expected --quick, --only FIGURE, --write DIR)"
                );
                std::process::exit(2);
            }
        }
    }
    let rows = figures::all(size, only.as_deref());
    let table = report::table(&rows);
    println!("{table}");
    if let Some(dir) = write {
        std::fs::create_dir_all(&dir).expect("create the output directory");
        std::fs::write(dir.join("bench.md"), &table).expect("write bench.md");
        std::fs::write(dir.join("bench.svg"), report::svg(&rows)).expect("write bench.svg");
        println!("wrote {}/bench.md and bench.svg", dir.display());
    }
}
