//! Checks the wasi-libc that `std::fs::File` support builds against.
//!
//! [`FileLockExt`](../src/std_file.rs) finds the `wasi:filesystem`
//! descriptor behind a `std::fs::File` through wasi-libc's private
//! descriptor table (`descriptor_table_get_ref`), whose layout is not a
//! stable ABI. It is the same in the wasi-libc of wasi-sdk 29 to 33 (the
//! Rust 1.95 `wasm32-wasip2` target bundles wasi-sdk 30); wasi-sdk 28 and
//! older had another entry layout under the same symbol, and after wasi-sdk
//! 33 the symbol is hidden (so linking fails). This script reads the version
//! out of the `libc.a` that rustc links for the target (`self-contained/libc.a`
//! in its sysroot, which names its wasi-sdk in its debug paths,
//! `wasisdk://vNN.M/`) and fails the build, with the reason, for any other
//! version, so that an unverified layout is never used.
//!
//! `PORTALOCKER_WASI_SDK_VERSION=NN` states the version instead, for builds
//! that link a wasi-libc of their own (`-C link-self-contained=no`, which
//! without it fails the build: the bundled `libc.a` says nothing of theirs).
//! Building without the `std-file` feature skips all of this.

use std::path::PathBuf;
use std::process::Command;

/// The wasi-sdk major versions whose descriptor table layout `std_file.rs`
/// was written for and checked against.
const SUPPORTED: std::ops::RangeInclusive<u32> = 29..=33;

/// The symbol `std_file.rs` calls.
const SYMBOL: &[u8] = b"descriptor_table_get_ref";

fn main() {
    println!("cargo::rustc-check-cfg=cfg(portalocker_std_file)");
    println!("cargo::rerun-if-env-changed=PORTALOCKER_WASI_SDK_VERSION");
    let wasip2 = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("wasi")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("p2");
    if !wasip2 || std::env::var_os("CARGO_FEATURE_STD_FILE").is_none() {
        return;
    }
    let version = match std::env::var("PORTALOCKER_WASI_SDK_VERSION") {
        Ok(stated) => stated.trim().parse().unwrap_or_else(|_| {
            fail(&format!(
                "PORTALOCKER_WASI_SDK_VERSION={stated:?} is not a wasi-sdk major version (such as 30)"
            ))
        }),
        Err(_) if links_own_libc() => fail(
            "the build links a wasi-libc of its own (`-C link-self-contained=no`), whose \
             version this script cannot see; set PORTALOCKER_WASI_SDK_VERSION to its wasi-sdk \
             major version",
        ),
        Err(_) => bundled_version(),
    };
    if !SUPPORTED.contains(&version) {
        fail(&format!(
            "the target's wasi-libc comes from wasi-sdk {version}; the descriptor table layout \
             that `FileLockExt` relies on is checked for wasi-sdk {}..={} only",
            SUPPORTED.start(),
            SUPPORTED.end()
        ));
    }
    println!("cargo::rustc-cfg=portalocker_std_file");
    println!("cargo::rustc-env=PORTALOCKER_WASI_SDK_MAJOR={version}");
}

/// The wasi-sdk major version of the `libc.a` rustc links for the target.
fn bundled_version() -> u32 {
    let target = std::env::var("TARGET").expect("set by cargo");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .unwrap_or_else(|err| fail(&format!("cannot run {rustc:?} --print sysroot: {err}")));
    let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let libc = sysroot
        .join("lib/rustlib")
        .join(&target)
        .join("lib/self-contained/libc.a");
    println!("cargo::rerun-if-changed={}", libc.display());
    let bytes = std::fs::read(&libc).unwrap_or_else(|err| {
        fail(&format!(
            "cannot read the target's wasi-libc at {}: {err}; set PORTALOCKER_WASI_SDK_VERSION \
             to the wasi-sdk version of the libc you link",
            libc.display()
        ))
    });
    if find(&bytes, SYMBOL).is_none() {
        fail(&format!(
            "{} does not define `descriptor_table_get_ref`",
            libc.display()
        ));
    }
    let marker = b"wasisdk://v";
    let at = find(&bytes, marker).unwrap_or_else(|| {
        fail(&format!(
            "{} does not name its wasi-sdk version; set PORTALOCKER_WASI_SDK_VERSION",
            libc.display()
        ))
    });
    let digits: String = bytes[at + marker.len()..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .map(|&b| char::from(b))
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| fail(&format!("{} names no wasi-sdk version", libc.display())))
}

/// Whether the build's rustc flags leave out the target's bundled libc
/// (`-C link-self-contained=no`), so that another one is linked.
fn links_own_libc() -> bool {
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let flags: Vec<&str> = flags.split('\x1f').collect();
    // `-Clink-self-contained=no`, or `-C` and `link-self-contained=no`.
    flags.iter().enumerate().any(|(i, flag)| {
        let option = match flag.strip_prefix("-C") {
            Some("") => flags.get(i + 1).copied().unwrap_or_default(),
            Some(option) => option,
            None => return false,
        };
        matches!(
            option.strip_prefix("link-self-contained="),
            Some("no" | "n" | "off" | "false")
        )
    })
}

/// The offset of the first `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Stops the build with `reason` and what to do about it.
fn fail(reason: &str) -> ! {
    println!(
        "cargo::error=`std::fs::File` locking (feature `std-file`) cannot be \
         built: {reason}. Build with `default-features = false` to leave it out."
    );
    // Cargo fails the build after an error line, and shows just that line.
    std::process::exit(0)
}
