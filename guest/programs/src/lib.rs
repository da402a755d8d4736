//! Helpers shared by the guest programs in `src/bin`: argument handling, exit
//! codes, and the self-checks of the scenario programs.
//!
//! Each program is a `wasi:cli` command that prints its results on stdout; a
//! failed check panics, which traps the instance and fails the host's test.

use std::io::Write;
use std::time::Instant;

use portalocker_guest::{Error, ErrorKind, LockGuard, LockRequest, Mode};
use wasip2::filesystem::types::Descriptor;
use wasip2::io::poll::{Pollable, poll};

/// The program's arguments, without the program name.
pub fn args() -> Vec<String> {
    std::env::args().skip(1).collect()
}

/// Flushes stdout and stderr and exits with `code`.
///
/// Uses `wasi:cli/exit.exit-with-code`, since `std::process::exit` reports
/// every non-zero code as 1 on `wasm32-wasip2`.
pub fn exit(code: u8) -> ! {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    wasip2::cli::exit::exit_with_code(code);
    // Not reached: the host ends the instance.
    std::process::exit(i32::from(code))
}

/// The exit code for a failure of `kind`: 2 for `already-locked`, 3 for
/// `timed-out`, 1 for anything else.
pub fn exit_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::AlreadyLocked => 2,
        ErrorKind::TimedOut => 3,
        _ => 1,
    }
}

/// Reports `error` (the line `error: <kind>` on stdout, the message on
/// stderr) and exits with [`exit_code`].
pub fn fail(error: &Error) -> ! {
    println!("error: {}", error.kind().name());
    eprintln!("{error}");
    exit(exit_code(error.kind()))
}

/// Prints `message` and the usage line on stderr and exits with code 1.
pub fn usage(usage: &str, message: &str) -> ! {
    eprintln!("error: {message}");
    eprintln!("usage: {usage}");
    exit(1)
}

/// Parses a lock mode: `shared` or `exclusive`.
pub fn parse_mode(mode: &str) -> Option<Mode> {
    match mode {
        "shared" => Some(Mode::Shared),
        "exclusive" => Some(Mode::Exclusive),
        _ => None,
    }
}

/// Prints stdout's pending output now (the host reads it while we run).
pub fn flush() {
    std::io::stdout().flush().expect("flush stdout");
}

/// Milliseconds since `start`.
pub fn elapsed_ms(start: Instant) -> u128 {
    start.elapsed().as_millis()
}

/// Checks that `result` failed with `expected`, after printing the line
/// `<case>: <kind>` (`<case>: ok` on success); returns the error.
#[track_caller]
pub fn expect_kind<T>(case: &str, result: Result<T, Error>, expected: ErrorKind) -> Error {
    match result {
        Ok(_) => {
            println!("{case}: ok");
            panic!("{case}: expected {}, but it succeeded", expected.name());
        }
        Err(error) => {
            println!("{case}: {}", error.kind().name());
            assert_eq!(error.kind(), expected, "{case}: {error}");
            error
        }
    }
}

/// Checks that `result` succeeded, after printing the line `<case>: ok`
/// (`<case>: <kind>` on failure); returns the value.
#[track_caller]
pub fn expect_ok<T>(case: &str, result: Result<T, Error>) -> T {
    match result {
        Ok(value) => {
            println!("{case}: ok");
            value
        }
        Err(error) => {
            println!("{case}: {}", error.kind().name());
            panic!("{case}: expected success: {error}");
        }
    }
}

/// Reads the whole file behind `file`, from its start.
pub fn read_all(file: &Descriptor) -> Vec<u8> {
    let mut contents = Vec::new();
    loop {
        let (chunk, end) = file
            .read(64 * 1024, contents.len() as u64)
            .expect("read the file");
        contents.extend_from_slice(&chunk);
        if end || chunk.is_empty() {
            return contents;
        }
    }
}

/// Replaces the whole content of the file behind `file` with `data`.
pub fn overwrite(file: &Descriptor, data: &[u8]) {
    let mut written = 0;
    while written < data.len() {
        let n = file
            .write(&data[written..], written as u64)
            .expect("write the file");
        assert!(n > 0, "the host wrote nothing");
        written += n as usize;
    }
    file.set_size(data.len() as u64)
        .expect("set the file's size");
}

/// The number a counter file holds under its lock: 0 when it is empty.
/// Anything else than a decimal number is a bug worth a trap (in the
/// scenarios; the `counter` example reports it with [`read_counter`]).
pub fn parse_counter(contents: &[u8]) -> u64 {
    read_counter(contents).unwrap_or_else(|error| panic!("{error}"))
}

/// Why a counter file cannot be incremented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CounterError {
    /// It holds something else than a decimal number.
    NotANumber(String),
    /// It holds `u64::MAX`, which has no successor.
    Overflow,
}

impl CounterError {
    /// The word `counter` prints after `error:`.
    pub fn kind(&self) -> &'static str {
        match self {
            CounterError::NotANumber(_) => "not-a-number",
            CounterError::Overflow => "overflow",
        }
    }
}

impl std::fmt::Display for CounterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CounterError::NotANumber(text) => {
                write!(f, "the counter file holds {text:?}, not a number")
            }
            CounterError::Overflow => write!(f, "the counter is at its maximum, {}", u64::MAX),
        }
    }
}

/// The number a counter file holds: 0 when it is empty (white space
/// around the number is allowed).
pub fn read_counter(contents: &[u8]) -> Result<u64, CounterError> {
    let text = String::from_utf8_lossy(contents);
    let text = text.trim();
    if text.is_empty() {
        return Ok(0);
    }
    text.parse().map_err(|_| {
        if text.bytes().all(|b| b.is_ascii_digit()) {
            CounterError::Overflow
        } else {
            CounterError::NotANumber(text.chars().take(64).collect())
        }
    })
}

/// Polls `pollable` alone until it is ready.
pub fn poll_ready(pollable: &Pollable) {
    assert_eq!(poll(&[pollable]), [0], "poll of one pollable");
}

/// Waits for `request`'s answer by polling its pollable (not
/// `LockRequest::wait`), then takes it.
pub fn poll_take(request: &LockRequest) -> Result<LockGuard, Error> {
    let ready = request.subscribe();
    poll_ready(&ready);
    drop(ready);
    request
        .try_take()
        .expect("the answer is there once the pollable is ready")
}

/// Lets the host look at the files while this instance is still alive: creates
/// the file `ready` in the preopen `/`, then waits (at most 30 s) until the
/// host creates `done` there.
pub fn checkpoint(ready: &str, done: &str) {
    std::fs::write(format!("/{ready}"), b"").expect("create the checkpoint file");
    let start = Instant::now();
    while std::fs::metadata(format!("/{done}")).is_err() {
        assert!(
            start.elapsed().as_secs() < 30,
            "the host never answered the checkpoint `{ready}`"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// The outcome of a lock call as one word: `ok`, or the WIT name of the
/// error, with the limit for `limit-reached` (`limit-reached(held-locks)`,
/// `limit-reached(pending-waits)`, `limit-reached(wait-time)`,
/// `limit-reached(open-files)`).
pub fn outcome_name<T>(result: &Result<T, Error>) -> String {
    match result {
        Ok(_) => "ok".to_owned(),
        Err(error) => match error.kind() {
            ErrorKind::LimitReached(limit) => {
                let limit = match limit {
                    portalocker_guest::Limit::HeldLocks => "held-locks",
                    portalocker_guest::Limit::PendingWaits => "pending-waits",
                    portalocker_guest::Limit::WaitTime => "wait-time",
                    portalocker_guest::Limit::OpenFiles => "open-files",
                };
                format!("limit-reached({limit})")
            }
            kind => kind.name().to_owned(),
        },
    }
}

pub mod named {
    //! The example *protected resource* of the named-lock programs: a file
    //! that refuses writes stamped with an old fencing token.

    use portalocker_guest::Lock;

    /// What a fenced write did.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum FencedWrite {
        /// The token was at least the newest seen: the data was written.
        Accepted,
        /// A write with a larger token came first: nothing was written.
        Rejected {
            /// The largest token the resource has seen.
            newest: u64,
        },
    }

    /// Writes `data` to the resource at `path` if `token` is at least the
    /// largest token that wrote to it before. The resource keeps that token
    /// on its first line and the data after it; the check and the write
    /// happen under the resource's own file lock, as a storage service
    /// would check a token in the same transaction as the write.
    pub fn fenced_write(path: &str, token: u64, data: &[u8]) -> FencedWrite {
        let mut guard = Lock::new(path)
            .exclusive()
            .acquire()
            .expect("lock the resource");
        let contents = guard.contents().expect("read the resource");
        let newest = contents
            .split(|&b| b == b'\n')
            .next()
            .and_then(|line| std::str::from_utf8(line).ok())
            .and_then(|line| line.trim().parse::<u64>().ok())
            .unwrap_or(0);
        if token < newest {
            return FencedWrite::Rejected { newest };
        }
        let mut record = format!("{token}\n").into_bytes();
        record.extend_from_slice(data);
        guard.set_contents(&record).expect("write the resource");
        FencedWrite::Accepted
    }
}
