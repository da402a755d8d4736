//! Sets `has_<language>_<guest>` (`has_python_hold`, `has_python_existing`,
//! …) for each guest in another language that the artifacts crate built, so
//! tests of a missing toolchain are ignored with a reason, and `has_<tool>`
//! for each native program the tests run beside the guests that is
//! installed (`sqlite3`, `python3`; see `build_tools.rs`), and the lock
//! services of the named-lock tests that can be used (`has_redis`,
//! `has_postgres`, `has_portalocker_py`; see `build_services.rs`).

#[path = "build_services.rs"]
mod build_services;
#[path = "build_tools.rs"]
mod build_tools;

fn main() {
    let metadata = |key: &str| std::env::var(format!("DEP_PORTALOCKER_ARTIFACTS_{key}"));
    let all = metadata("LANGUAGE_GUESTS").expect("portalocker-artifacts names its guests");
    let built = metadata("BUILT").unwrap_or_default();
    for guest in all.split(',').filter(|id| !id.is_empty()) {
        println!("cargo::rustc-check-cfg=cfg(has_{guest})");
        if built.split(',').any(|id| id == guest) {
            println!("cargo::rustc-cfg=has_{guest}");
        }
    }
    build_tools::detect();
    build_services::detect();
}
