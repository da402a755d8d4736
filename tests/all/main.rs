//! Integration tests: real guests in the real host against real files, other
//! guest instances and native processes.

// Native tools (chattr, strace, prlimit), Python and the lock services run
// beside the tests of these modules on Unix only.
#[cfg(unix)]
mod append_only;
mod async_host;
#[cfg(unix)]
mod atomic_names;
// Symbolic links, FIFOs, device files and sockets in the sandbox.
#[cfg(unix)]
mod attacks;
mod counter;
mod cross_language;
mod embedder;
mod existing_code;
mod faults;
mod holders;
mod holding;
// Counts descriptors and threads in /proc.
#[cfg(target_os = "linux")]
mod hygiene;
mod instances;
mod named_lock;
#[cfg(unix)]
mod named_lock_interop;
#[cfg(unix)]
mod named_lock_postgres;
#[cfg(unix)]
mod named_lock_redis;
mod native_interop;
#[cfg(unix)]
mod open_files;
mod policy;
#[cfg(unix)]
mod python_portalocker;
mod range_lock;
mod replaced;
mod requests;
mod scenarios;
// Native sqlite3 and POSIX record locks.
#[cfg(unix)]
mod sqlite;
#[cfg(unix)]
mod temporary;
mod torture;
mod waiting;
