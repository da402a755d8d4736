//! Integration tests: real guests in the real host against real files, other
//! guest instances and native processes.

mod async_host;
mod counter;
mod instances;
mod native_interop;
mod requests;
mod scenarios;
