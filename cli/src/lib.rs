//! The `portalocker` command's library: what `portalocker run` is made of,
//! for the tests and the benchmark.
//!
//! - [`command`]: runs `wasi:cli` command components with WASI p2 and the
//!   file-lock interfaces of [`portalocker_host`], on a sync or an async
//!   linker;
//! - [`CompileCache`]: compiled components kept on disk, checked before they
//!   are loaded;
//! - [`examples`]: the example guests embedded in the binary.

#![deny(missing_docs)]

pub mod command;
mod compile_cache;

pub use crate::compile_cache::CompileCache;
pub use portalocker_artifacts::examples;
