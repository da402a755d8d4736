//! Integration tests: real guests in the real host against real files, other
//! guest instances and native processes.

mod async_host;
// Symbolic links, FIFOs, device files and sockets in the sandbox.
#[cfg(unix)]
mod attacks;
mod counter;
mod cross_language;
mod embedder;
mod existing_code;
mod faults;
mod holding;
// Counts descriptors and threads in /proc.
#[cfg(target_os = "linux")]
mod hygiene;
mod instances;
mod native_interop;
mod policy;
mod range_lock;
mod replaced;
mod requests;
mod scenarios;
// Native sqlite3 and POSIX record locks.
#[cfg(unix)]
mod sqlite;
mod torture;
mod waiting;
