//! Integration tests: real guests in the real host against real files, other
//! guest instances and native processes.

mod append_only;
mod async_host;
mod atomic_names;
mod attacks;
mod counter;
mod cross_language;
mod embedder;
mod existing_code;
mod faults;
mod holders;
mod holding;
mod hygiene;
mod instances;
mod named_lock;
mod named_lock_interop;
mod named_lock_postgres;
mod named_lock_redis;
mod native_interop;
mod open_files;
mod policy;
mod python_portalocker;
mod range_lock;
mod requests;
mod scenarios;
mod sqlite;
mod temporary;
mod torture;
mod waiting;
