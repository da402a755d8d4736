//! Sets `has_<language>_<guest>` (`has_python_hold`, `has_python_existing`,
//! …) for each guest in another language that the artifacts crate built, so
//! tests of a missing toolchain are ignored with a reason; `has_<tool>`
//! for each native program the tests run beside the guests that is
//! installed (`sqlite3`, `python3`; see `build_tools.rs`); the lock
//! services of the named-lock tests that can be used (`has_redis`,
//! `has_postgres`, `has_portalocker_py`; see `build_services.rs`); and
//! `has_python_portalocker`, with `PORTALOCKER_PYTHON` naming its
//! interpreter, when Python's portalocker is installed
//! (`tests/python/install.sh`).

use std::path::PathBuf;

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
    python_portalocker();
}

/// Looks for the venv `tests/python/install.sh` makes. Missing, its tests
/// are ignored, unless `PORTALOCKER_REQUIRE_LANGUAGES` is `all` or names
/// `python-portalocker` (as in CI): then the build fails.
fn python_portalocker() {
    println!("cargo::rustc-check-cfg=cfg(has_python_portalocker)");
    println!("cargo::rerun-if-env-changed=PORTALOCKER_TOOLCHAINS");
    println!("cargo::rerun-if-env-changed=PORTALOCKER_REQUIRE_LANGUAGES");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let venv = std::env::var_os("PORTALOCKER_TOOLCHAINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../target/toolchains"))
        .join("portalocker-py");
    let installed = venv.join("installed");
    println!("cargo::rerun-if-changed={}", installed.display());
    let python = venv.join("bin/python");
    if installed.is_file() && python.is_file() {
        println!("cargo::rustc-cfg=has_python_portalocker");
        println!("cargo::rustc-env=PORTALOCKER_PYTHON={}", python.display());
        return;
    }
    let required = std::env::var("PORTALOCKER_REQUIRE_LANGUAGES").unwrap_or_default();
    if required
        .split(',')
        .any(|name| matches!(name.trim(), "all" | "python-portalocker"))
    {
        panic!(
            "Python's portalocker is required but not installed in {}: run tests/python/install.sh",
            venv.display()
        );
    }
    println!(
        "cargo::warning=Python's portalocker is not installed (run tests/python/install.sh); \
         the tests against it are ignored"
    );
}
