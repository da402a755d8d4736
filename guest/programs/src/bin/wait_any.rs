//! `wait_any PATH [TIMEOUT_MS]`
//!
//! Asks for an exclusive lock on `PATH` through the path layer (creating the
//! file) and waits, in one `wasi:io/poll` call, for whichever comes first:
//!
//! * the lock: prints `acquired`, releases it;
//! * the timer of `TIMEOUT_MS` milliseconds (default 2000): prints `timeout`;
//! * a line on stdin: prints `stdin: <line>` (without the line ending; a last
//!   line without one counts when stdin closes).
//!
//! When several are ready at once, the lock wins over stdin, and stdin over
//! the timer. Once stdin is closed (or fails), it is left out of the poll. The
//! request is dropped (cancelled) when it did not win. Exits 0 in all three
//! cases; a failed request prints `error: <kind>` and exits with 2 for
//! `already-locked`, 3 for `timed-out` and 1 otherwise.

use portalocker_guest::Lock;
use portalocker_programs::{args, fail, flush, usage};
use wasip2::cli::stdin::get_stdin;
use wasip2::clocks::monotonic_clock::subscribe_duration;
use wasip2::io::poll::{Pollable, poll};
use wasip2::io::streams::{InputStream, StreamError};

const USAGE: &str = "wait_any PATH [TIMEOUT_MS]";

/// Stdin, read a chunk at a time until a whole line is there.
struct Input {
    // Field order matters: the pollable is a child of the stream, so it is
    // dropped first.
    ready: Pollable,
    stream: InputStream,
    buffer: Vec<u8>,
}

impl Input {
    fn new() -> Self {
        let stream = get_stdin();
        Input {
            ready: stream.subscribe(),
            stream,
            buffer: Vec::new(),
        }
    }

    /// Reads what is there. `Ok(Some(line))` once a line is complete,
    /// `Ok(None)` while there is none yet, `Err(last)` once stdin is closed,
    /// with the unterminated last line if there is one.
    fn read(&mut self) -> Result<Option<String>, Option<String>> {
        match self.stream.read(64 * 1024) {
            Ok(chunk) => self.buffer.extend_from_slice(&chunk),
            Err(error) => {
                if let StreamError::LastOperationFailed(e) = error {
                    eprintln!("stdin failed: {}", e.to_debug_string());
                }
                return Err((!self.buffer.is_empty()).then(|| line(&self.buffer)));
            }
        }
        Ok(self.buffer.iter().position(|&b| b == b'\n').map(|end| {
            let line = line(&self.buffer[..end]);
            self.buffer.drain(..=end);
            line
        }))
    }
}

/// A line's text, without a trailing carriage return.
fn line(bytes: &[u8]) -> String {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    String::from_utf8_lossy(bytes).into_owned()
}

fn main() {
    let args = args();
    let (path, timeout_ms): (_, u64) = match args.as_slice() {
        [path] => (path, 2000),
        [path, ms] => match ms.parse() {
            Ok(ms) => (path, ms),
            Err(_) => usage(USAGE, "TIMEOUT_MS is a number of milliseconds"),
        },
        _ => usage(USAGE, "expected PATH [TIMEOUT_MS]"),
    };

    let request = match Lock::new(path.as_str()).exclusive().create(true).request() {
        Ok(request) => request,
        Err(error) => fail(&error),
    };
    let lock_ready = request.subscribe();
    let timer = subscribe_duration(timeout_ms.saturating_mul(1_000_000));
    let mut input = Some(Input::new());

    let outcome = loop {
        let mut pollables = vec![&lock_ready, &timer];
        pollables.extend(input.as_ref().map(|input| &input.ready));
        let ready = poll(&pollables);
        if ready.contains(&0) {
            break None;
        }
        if let Some(stdin) = input.as_mut().filter(|_| ready.contains(&2)) {
            match stdin.read() {
                Ok(None) => {}
                Ok(Some(line)) | Err(Some(line)) => break Some(format!("stdin: {line}")),
                // Closed and empty: poll the other two only, from now on.
                Err(None) => input = None,
            }
        }
        if ready.contains(&1) {
            break Some("timeout".to_owned());
        }
    };
    drop((lock_ready, timer, input));

    match outcome {
        Some(message) => {
            drop(request);
            println!("{message}");
        }
        None => match request.try_take().expect("the request is ready") {
            Ok(guard) => {
                println!("acquired");
                if let Err(error) = guard.release() {
                    fail(&error);
                }
            }
            Err(error) => fail(&error),
        },
    }
    flush();
}
