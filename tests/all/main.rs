//! Integration tests: real guests in the real host against real files, other
//! guest instances and native processes.

mod async_host;
// Symbolic links, FIFOs, device files and sockets in the sandbox.
#[cfg(unix)]
mod attacks;
mod counter;
mod cross_language;
mod embedder;
mod faults;
// Counts descriptors and threads in /proc.
#[cfg(target_os = "linux")]
mod hygiene;
mod instances;
mod native_interop;
mod policy;
mod replaced;
mod requests;
mod scenarios;
mod torture;
mod waiting;
