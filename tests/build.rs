//! Sets `has_<language>` for each language whose `hold` guest the artifacts
//! crate built, so tests of a missing language are ignored with a reason;
//! and `has_python_portalocker`, with `PORTALOCKER_PYTHON` naming its
//! interpreter, when Python's portalocker is installed
//! (`tests/python/install.sh`).

use std::path::PathBuf;

fn main() {
    let built = std::env::var("DEP_PORTALOCKER_ARTIFACTS_LANGUAGES").unwrap_or_default();
    for language in ["python", "javascript", "c"] {
        println!("cargo::rustc-check-cfg=cfg(has_{language})");
        if built.split(',').any(|name| name == language) {
            println!("cargo::rustc-cfg=has_{language}");
        }
    }
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
