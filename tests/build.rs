//! Sets `has_<language>` for each language whose guest the artifacts crate
//! built (`python`, `javascript`, `c`, `sqlite`), and `has_<tool>` for each
//! native program the tests run beside the guests that is installed
//! (`sqlite3`, `python3`; see `build_tools.rs`), so tests of a missing one
//! are ignored with a reason.

#[path = "build_tools.rs"]
mod build_tools;

fn main() {
    let built = std::env::var("DEP_PORTALOCKER_ARTIFACTS_LANGUAGES").unwrap_or_default();
    for language in ["python", "javascript", "c", "sqlite"] {
        println!("cargo::rustc-check-cfg=cfg(has_{language})");
        if built.split(',').any(|name| name == language) {
            println!("cargo::rustc-cfg=has_{language}");
        }
    }
    build_tools::detect();
}
