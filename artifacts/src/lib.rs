//! The guest components of this repository, built by this crate's build
//! script from `guest/` (and from `guest/<language>/` for the languages whose
//! toolchains are installed).
//!
//! The `portalocker` CLI embeds the [`examples`]; the integration tests run
//! every guest in [`guests`]. The host library never builds a guest: an
//! embedder depends on `portalocker-host` alone.

#![deny(missing_docs)]

pub mod guests {
    //! Paths of every guest component, a `foreach_scenario!` macro over the
    //! scenario guests (`filelock_*`), and the guests in other languages.
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}

pub mod examples {
    //! The example guests' bytes, embedded at build time.
    include!(concat!(env!("OUT_DIR"), "/examples.rs"));

    /// The embedded example guest called `name`, if there is one.
    pub fn by_name(name: &str) -> Option<&'static [u8]> {
        ALL.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, bytes)| *bytes)
    }
}
