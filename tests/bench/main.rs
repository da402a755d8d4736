//! `cargo run -p portalocker-tests --bin bench [-- --quick] [--only F0|P1..P9|R1..R3|N1|N2] [--write DIR]`:
//! measures each performance figure side by side with its native baseline,
//! in the same run, and prints a table with the ratios. With `--write DIR`
//! it also writes `DIR/bench.md` (the table) and `DIR/bench.svg` (a plot).
//!
//! Figures:
//! - F0 host-call floor: two host calls that do no locking, through the same
//!   component-model path as P1's pair; what wasmtime's call itself costs.
//! - P1 lock cost: guest handle-layer lock+unlock ÷ native fs4 lock+unlock.
//! - P2 path lock cycle: guest path-layer acquire+release ÷ native
//!   open+lock+unlock+close.
//! - P3 hand-off: holder's unlock → waiter's return, with a timeout set on
//!   the waiter, native→guest and guest→guest ÷ native blocking `flock`.
//! - P4 many waiters: N guests in one async host wait on one lock.
//! - P5 cold path: instantiate a pre-compiled guest and take its first lock.
//! - P6 fairness: how evenly 8 contenders share one lock (most ÷ fewest
//!   turns), guests with and without the host's queue, beside native flock.
//! - P7 no phantom holds: a native prober between a native holder's
//!   releases while guests wait; failures not explained by a guest holding
//!   the lock.
//! - P8 thread hygiene: after many timed-out waits on distinct locked files,
//!   how long until the host's threads and descriptors are back.
//! - P9 cancelled-wait window: guests' deadlines racing a native holder's
//!   releases; how long a lock the kernel granted to a wait that was being
//!   cancelled stayed held before the engine gave it back.
//! - R1 range lock cost: guest `range-lock` lock+unlock ÷ native
//!   `F_OFD_SETLK` lock+unlock (`range_figures.rs`).
//! - R2 SQLite: write transactions in the SQLite guest ÷ the same SQLite
//!   built natively, on the same database (`range_figures.rs`).
//! - R3 range hand-off: a native holder's unlock → a waiting guest's
//!   `range-lock.lock` returning, sync and async linker ÷ native
//!   `F_OFD_SETLKW` (`range_figures.rs`).
//! - N1 named locks: a guest's acquire+release per backend (local, Redis,
//!   PostgreSQL) beside the raw round trips of the same client crate.
//! - N2 named hand-off: a holder's release in one host → the waiter's return
//!   in another, per backend (Redis with pub/sub notices and with polling).

mod engine;
mod figures;
#[cfg(unix)]
mod named;
// Their native baselines are open-file-description locks (Linux).
#[cfg(target_os = "linux")]
mod range_figures;
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
    /// Files the P4 waiters are spread over.
    pub files: usize,
    /// Native releases probed in P7, and raced by deadlines in P9.
    pub releases: usize,
    /// Timed-out waits in P8.
    pub timed_out: usize,
    /// SQLite write transactions per run in R2.
    pub transactions: u32,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut size = Size {
        cycles: 20_000,
        repeats: 7,
        handoffs: 100,
        waiters: 10_000,
        files: 100,
        releases: 10_000,
        timed_out: 1000,
        transactions: 100,
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
                    waiters: 500,
                    files: 10,
                    releases: 1000,
                    timed_out: 200,
                    transactions: 20,
                }
            }
            "--write" => write = Some(PathBuf::from(args.next().expect("--write DIR"))),
            "--only" => {
                only = Some(
                    args.next()
                        .expect("--only F0|P1..P9|R1..R3|N1|N2")
                        .to_uppercase(),
                )
            }
            other => {
                eprintln!(
                    "error: unknown argument `{other}` (expected --quick, --only FIGURE, --write DIR)"
                );
                std::process::exit(2);
            }
        }
    }
    #[cfg_attr(
        not(target_os = "linux"),
        expect(unused_mut, reason = "the range figures run on Linux")
    )]
    let mut rows = figures::all(size, only.as_deref());
    #[cfg(target_os = "linux")]
    rows.extend(range_figures::all(size, only.as_deref()));
    let table = report::table(&rows);
    println!("{table}");
    if let Some(dir) = write {
        std::fs::create_dir_all(&dir).expect("create the output directory");
        std::fs::write(dir.join("bench.md"), &table).expect("write bench.md");
        std::fs::write(dir.join("bench.svg"), report::svg(&rows)).expect("write bench.svg");
        println!("wrote {}/bench.md and bench.svg", dir.display());
    }
}
