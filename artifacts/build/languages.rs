//! The guests written in other languages (Python, JavaScript, C), each built
//! by its own `build.sh` when its language's toolchain is installed; SQLite
//! (with the `portalocker` VFS over `range-lock`) is one of the C guests.

use std::path::{Path, PathBuf};

/// A language other than Rust, with its toolchain and its guests.
pub struct Language {
    /// The name in constants and `cfg`s, and in `PORTALOCKER_REQUIRE_LANGUAGES`.
    pub name: &'static str,
    /// The language's name in prose.
    pub title: &'static str,
    /// Its folder under `guest/`, with its `install.sh`; also the name of
    /// its toolchain's folder under `$PORTALOCKER_TOOLCHAINS`.
    folder: &'static str,
    /// Its guests.
    pub guests: &'static [Guest],
}

/// One guest of a [`Language`], built by `guest/<folder>/build.sh OUT.wasm`.
pub struct Guest {
    /// Its name: `hold` (the Rust `hold` guest's command line) or another.
    pub name: &'static str,
    /// What it is, for the documentation of its generated constant.
    pub doc: &'static str,
    /// Its folder under `guest/`, with its `build.sh`.
    folder: &'static str,
    /// A file the language's `install.sh` writes in the toolchain directory,
    /// once everything this guest needs is there: watched (instead of the
    /// whole toolchain, thousands of files) so that installing the toolchain
    /// rebuilds the guest.
    installed: &'static str,
    /// What is missing without it.
    without: &'static str,
}

impl Guest {
    /// The guest's identifier, `<language>_<guest>`: its constant (in upper
    /// case), its component's file name and its `cfg` (`has_<id>`).
    pub fn id(&self, language: &Language) -> String {
        format!("{}_{}", language.name, self.name)
    }
}

/// The guests in other languages (see `guest/<folder>/build.sh`).
pub const LANGUAGES: [Language; 3] = [
    Language {
        name: "python",
        title: "Python",
        folder: "python",
        guests: &[
            Guest {
                name: "hold",
                doc: "The `hold` guest written in Python",
                folder: "python",
                installed: "bin/componentize-py",
                without: "its cross-language tests are ignored",
            },
            Guest {
                name: "existing",
                doc: "The Python guest running unmodified portalocker and filelock from PyPI \
                      (and portalocker's own test suite) over `portalocker-wasi-fcntl`",
                folder: "python/existing",
                installed: "installed",
                without: "the existing-code tests in Python are ignored",
            },
        ],
    },
    Language {
        name: "javascript",
        title: "JavaScript",
        folder: "js",
        guests: &[Guest {
            name: "hold",
            doc: "The `hold` guest written in JavaScript",
            folder: "js",
            installed: ".installed",
            without: "its cross-language tests are ignored",
        }],
    },
    Language {
        name: "c",
        title: "C",
        folder: "c",
        guests: &[
            Guest {
                name: "hold",
                doc: "The `hold` guest written in C",
                folder: "c",
                installed: "adapter.version",
                without: "its cross-language tests are ignored",
            },
            Guest {
                name: "existing",
                doc: "The C guest calling plain `flock(2)` on descriptors from `open` and \
                      `fopen`, with `guest/c/flock/portalocker_flock.c` linked in",
                folder: "c/existing",
                installed: "adapter.version",
                without: "the existing-code tests in C are ignored",
            },
            Guest {
                name: "sqlite",
                doc: "SQLite with the `portalocker` VFS over `range-lock` (`guest/sqlite/`)",
                folder: "sqlite",
                installed: "sqlite.version",
                without: "the SQLite tests are ignored and the CLI has no `sqlite` example",
            },
        ],
    },
];

/// What `build.sh` prints when the language's toolchain is not installed.
const NO_TOOLCHAIN: &str = "toolchain not found";

/// Builds `guest` of `language` with `guest/<folder>/build.sh`, or returns
/// `None` when the toolchain (or the part of it this guest needs) is not
/// installed, unless `PORTALOCKER_REQUIRE_LANGUAGES` (a comma-separated
/// list, or `all`) names the language: then a missing toolchain fails the
/// build, loudly. A guest whose toolchain is there but that fails to build
/// always fails the build.
pub fn build_language_guest(language: &Language, guest: &Guest, out_dir: &Path) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the artifacts crate is in the workspace");
    // The whole language folder: a guest may use what its siblings hold
    // (the Python `existing` guest vendors `guest/python/portalocker-wasi-fcntl`).
    let language_folder = root.join("guest").join(language.folder);
    let script = root.join("guest").join(guest.folder).join("build.sh");
    let toolchain = std::env::var_os("PORTALOCKER_TOOLCHAINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target").join("toolchains"))
        .join(language.folder);
    println!("cargo::rerun-if-changed={}", language_folder.display());
    println!(
        "cargo::rerun-if-changed={}",
        root.join("guest").join(guest.folder).display()
    );
    println!(
        "cargo::rerun-if-changed={}",
        toolchain.join(guest.installed).display()
    );
    println!("cargo::rerun-if-env-changed=PORTALOCKER_REQUIRE_LANGUAGES");
    println!("cargo::rerun-if-env-changed=PORTALOCKER_TOOLCHAINS");
    let required = std::env::var("PORTALOCKER_REQUIRE_LANGUAGES").unwrap_or_default();
    let required = required
        .split(',')
        .any(|name| name.trim() == "all" || name.trim() == language.name);
    let title = format!("{} `{}`", language.title, guest.name);
    if !script.is_file() && !required {
        println!(
            "cargo::warning=the {title} guest is not built: guest/{}/build.sh is missing",
            guest.folder
        );
        return None;
    }
    let out = out_dir.join(format!("{}.wasm", guest.id(language)));
    let output = std::process::Command::new("bash")
        .arg(&script)
        .arg(&out)
        .output()
        .unwrap_or_else(|err| panic!("run guest/{}/build.sh: {err}", guest.folder));
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.success() {
        return Some(out);
    }
    if stderr.contains(NO_TOOLCHAIN) && !required {
        println!(
            "cargo::warning=the {title} guest is not built: its toolchain is not installed \
             (run guest/{}/install.sh); {}",
            language.folder, guest.without
        );
        return None;
    }
    panic!(
        "building the {title} guest failed (guest/{}/build.sh):\n{stderr}",
        guest.folder
    );
}
