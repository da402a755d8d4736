//! The guests written in other languages (Python, JavaScript, C), each built
//! by its own `guest/<folder>/build.sh` when its toolchain is installed.

/// A guest written in another language, built by its own script.
pub struct Language {
    /// The name in constants and `cfg`s, and in `PORTALOCKER_REQUIRE_LANGUAGES`.
    pub name: &'static str,
    /// The language's name in prose.
    pub title: &'static str,
    /// Its folder under `guest/`.
    folder: &'static str,
    /// A file its `install.sh` writes, in the toolchain directory: watched
    /// (instead of the whole toolchain, thousands of files) so that
    /// installing the toolchain rebuilds the guest.
    installed: &'static str,
}

/// The guests in other languages (see `guest/<folder>/build.sh`).
pub const LANGUAGES: [Language; 3] = [
    Language {
        name: "python",
        title: "Python",
        folder: "python",
        installed: "bin/componentize-py",
    },
    Language {
        name: "javascript",
        title: "JavaScript",
        folder: "js",
        installed: ".installed",
    },
    Language {
        name: "c",
        title: "C",
        folder: "c",
        installed: "adapter.version",
    },
];

/// What `build.sh` prints when the language's toolchain is not installed.
const NO_TOOLCHAIN: &str = "toolchain not found";

/// Builds `language`'s `hold` guest with `guest/<folder>/build.sh`, or
/// returns `None` when its toolchain is not installed, unless
/// `PORTALOCKER_REQUIRE_LANGUAGES` (a comma-separated list, or `all`) names
/// it: then a missing toolchain fails the build, loudly. A guest whose
/// toolchain is there but that fails to build always fails the build.
pub fn build_language_guest(
    language: &Language,
    out_dir: &std::path::Path,
) -> Option<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the artifacts crate is in the workspace")
        .to_path_buf();
    let folder = root.join("guest").join(language.folder);
    let toolchain = std::env::var_os("PORTALOCKER_TOOLCHAINS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target").join("toolchains"))
        .join(language.folder);
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
        .any(|name| name.trim() == "all" || name.trim() == language.name);
    let script = folder.join("build.sh");
    if !script.is_file() && !required {
        println!(
            "cargo::warning=the {} guest is not built: guest/{}/build.sh is missing",
            language.title, language.folder
        );
        return None;
    }
    let out = out_dir.join(format!("{}_hold.wasm", language.name));
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
             (run guest/{}/install.sh); its cross-language tests are ignored",
            language.title, language.folder
        );
        return None;
    }
    panic!(
        "building the {} guest failed (guest/{}/build.sh):\n{stderr}",
        language.title, language.folder
    );
}
