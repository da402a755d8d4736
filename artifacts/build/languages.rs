//! The guests written in other languages, each built by its own
//! `guest/<folder>/build.sh` when its toolchain is installed: the `hold`
//! guest in Python, JavaScript and C, and SQLite (C, with the
//! `portalocker` VFS over `range-lock`).

/// A guest written in another language, built by its own script.
pub struct Language {
    /// The name in constants and `cfg`s, and in `PORTALOCKER_REQUIRE_LANGUAGES`.
    pub name: &'static str,
    /// The guest's name in prose.
    pub title: &'static str,
    /// Its folder under `guest/`.
    folder: &'static str,
    /// The folder of the toolchain it is built with, under
    /// `$PORTALOCKER_TOOLCHAINS` (installed by `guest/<toolchain>/install.sh`).
    toolchain: &'static str,
    /// A file its `install.sh` writes, in the toolchain directory: watched
    /// (instead of the whole toolchain, thousands of files) so that
    /// installing the toolchain rebuilds the guest.
    installed: &'static str,
    /// Other names in `PORTALOCKER_REQUIRE_LANGUAGES` that require it (the
    /// language of its toolchain).
    required_by: &'static [&'static str],
    /// What is missing without it.
    without: &'static str,
}

/// The `hold` guests in other languages (see `guest/<folder>/build.sh`).
pub const LANGUAGES: [Language; 3] = [
    Language {
        name: "python",
        title: "Python",
        folder: "python",
        toolchain: "python",
        installed: "bin/componentize-py",
        required_by: &[],
        without: "its cross-language tests are ignored",
    },
    Language {
        name: "javascript",
        title: "JavaScript",
        folder: "js",
        toolchain: "js",
        installed: ".installed",
        required_by: &[],
        without: "its cross-language tests are ignored",
    },
    Language {
        name: "c",
        title: "C",
        folder: "c",
        toolchain: "c",
        installed: "adapter.version",
        required_by: &[],
        without: "its cross-language tests are ignored",
    },
];

/// SQLite with the `portalocker` VFS (`guest/sqlite/build.sh`), built with
/// the C toolchain, whose `install.sh` also fetches SQLite.
pub const SQLITE: Language = Language {
    name: "sqlite",
    title: "SQLite",
    folder: "sqlite",
    toolchain: "c",
    installed: "sqlite.version",
    required_by: &["c"],
    without: "its tests are ignored and the CLI has no `sqlite` example",
};

/// What `build.sh` prints when the language's toolchain is not installed.
const NO_TOOLCHAIN: &str = "toolchain not found";

/// Builds `language`'s guest with `guest/<folder>/build.sh` into `out`, or
/// returns `None` when its toolchain is not installed, unless
/// `PORTALOCKER_REQUIRE_LANGUAGES` (a comma-separated list, or `all`) names
/// it (or the language of its toolchain): then a missing toolchain fails the
/// build, loudly. A guest whose toolchain is there but that fails to build
/// always fails the build.
pub fn build_language_guest(
    language: &Language,
    out: std::path::PathBuf,
) -> Option<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the artifacts crate is in the workspace")
        .to_path_buf();
    let folder = root.join("guest").join(language.folder);
    let toolchain = std::env::var_os("PORTALOCKER_TOOLCHAINS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target").join("toolchains"))
        .join(language.toolchain);
    println!("cargo::rerun-if-changed={}", folder.display());
    println!(
        "cargo::rerun-if-changed={}",
        toolchain.join(language.installed).display()
    );
    println!("cargo::rerun-if-env-changed=PORTALOCKER_REQUIRE_LANGUAGES");
    println!("cargo::rerun-if-env-changed=PORTALOCKER_TOOLCHAINS");
    let required = std::env::var("PORTALOCKER_REQUIRE_LANGUAGES").unwrap_or_default();
    let required = required
        .split(',')
        .map(str::trim)
        .any(|name| name == "all" || name == language.name || language.required_by.contains(&name));
    let script = folder.join("build.sh");
    if !script.is_file() && !required {
        println!(
            "cargo::warning=the {} guest is not built: guest/{}/build.sh is missing",
            language.title, language.folder
        );
        return None;
    }
    let output = std::process::Command::new("bash")
        .arg(&script)
        .arg(&out)
        .output()
        .unwrap_or_else(|err| panic!("run guest/{}/build.sh: {err}", language.folder));
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.success() {
        return Some(out);
    }
    if stderr.contains(NO_TOOLCHAIN) && !required {
        println!(
            "cargo::warning=the {} guest is not built: its toolchain is not installed \
             (run guest/{}/install.sh); {}",
            language.title, language.toolchain, language.without
        );
        return None;
    }
    panic!(
        "building the {} guest failed (guest/{}/build.sh):\n{stderr}",
        language.title, language.folder
    );
}
