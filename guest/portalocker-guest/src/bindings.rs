//! Bindings for the `portalocker:filelock/imports` world, generated from
//! the WIT package in `wit/` (inside the crate).
//!
//! Every WASI interface is mapped to the [`wasip2`] crate, so a
//! [`wasip2::filesystem::types::Descriptor`] is passed to the host's lock
//! functions as it is, and `io(error-code)` carries wasip2's
//! [`wasip2::filesystem::types::ErrorCode`].

// The generated items carry the WIT's own documentation; what they lack
// (generated plumbing) is not ours to document.
#![allow(missing_docs)]

wit_bindgen::generate!({
    world: "portalocker:filelock/imports",
    path: "wit",
    with: {
        "wasi:filesystem/types@0.2.12": wasip2::filesystem::types,
        "wasi:io/error@0.2.12": wasip2::io::error,
        "wasi:io/streams@0.2.12": wasip2::io::streams,
        "wasi:io/poll@0.2.12": wasip2::io::poll,
        "wasi:clocks/wall-clock@0.2.12": wasip2::clocks::wall_clock,
        "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
    },
});
