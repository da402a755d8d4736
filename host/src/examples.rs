//! The example guest components, built from `guest/programs` and embedded in
//! the host at build time. `portalocker run` finds them by name, and
//! `portalocker demo` runs them.

/// `hold [--layer path|handle] [--try] [--timeout MS] PATH MODE MILLIS`: locks
/// PATH (`shared` or `exclusive`), prints `locked`, keeps the lock MILLIS ms,
/// releases and prints `released`. Exit code 2 when the lock is held elsewhere
/// (with `--try`), 3 on timeout, 1 on any other error.
pub const HOLD: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/hold.wasm"));

/// `counter [--no-lock] PATH N`: N times, locks PATH exclusively, reads the
/// decimal number in it (missing or empty is 0), writes the number plus one
/// and releases. With `--no-lock` it does the same without locking.
pub const COUNTER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/counter.wasm"));

/// `wait_any PATH [TIMEOUT_MS]`: requests an exclusive lock on PATH and waits,
/// in one `wasi:io/poll` call, for whichever comes first: the lock (prints
/// `acquired`), a timer (prints `timeout`; 2000 ms by default) or a line on
/// stdin (prints `stdin: LINE`).
pub const WAIT_ANY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/wait_any.wasm"));

/// Every example guest by the name `portalocker run` knows it by.
pub const ALL: &[(&str, &[u8])] = &[("hold", HOLD), ("counter", COUNTER), ("wait_any", WAIT_ANY)];

/// The embedded example guest called `name`, if there is one.
pub fn by_name(name: &str) -> Option<&'static [u8]> {
    ALL.iter()
        .find(|(n, _)| *n == name)
        .map(|(_, bytes)| *bytes)
}
