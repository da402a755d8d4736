//! Native programs some tests run beside the guests (`sqlite3`, `python3`):
//! each found sets the cfg `has_<name>`; a missing one makes its tests
//! ignored with the command that installs it, unless
//! `PORTALOCKER_REQUIRE_TOOLS` (a comma-separated list, or `all`) names it,
//! which fails the build instead (CI sets it, so there the tests run).

/// A native program the tests need.
pub struct Tool {
    /// Its command, and the name in `has_<name>` and the list.
    pub name: &'static str,
    /// The argument that makes it print its version and exit.
    pub version_arg: &'static str,
    /// How to install it on Debian.
    pub install: &'static str,
}

/// The native programs the tests use.
pub const TOOLS: [Tool; 2] = [
    Tool {
        name: "sqlite3",
        version_arg: "--version",
        install: "apt-get install sqlite3",
    },
    Tool {
        name: "python3",
        version_arg: "--version",
        install: "apt-get install python3",
    },
];

/// Looks for every tool; sets `has_<name>` for those found.
pub fn detect() {
    println!("cargo::rerun-if-env-changed=PORTALOCKER_REQUIRE_TOOLS");
    println!("cargo::rerun-if-env-changed=PATH");
    let required = std::env::var("PORTALOCKER_REQUIRE_TOOLS").unwrap_or_default();
    for tool in &TOOLS {
        let cfg = format!("has_{}", tool.name);
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        let found = std::process::Command::new(tool.name)
            .arg(tool.version_arg)
            .output()
            .is_ok_and(|output| output.status.success());
        if found {
            println!("cargo::rustc-cfg={cfg}");
            continue;
        }
        let is_required = required
            .split(',')
            .any(|name| name.trim() == "all" || name.trim() == tool.name);
        assert!(
            !is_required,
            "`{}` is required (PORTALOCKER_REQUIRE_TOOLS) but not installed: {}",
            tool.name, tool.install
        );
        println!(
            "cargo::warning=`{}` is not installed ({}): the tests that need it are ignored",
            tool.name, tool.install
        );
    }
}
