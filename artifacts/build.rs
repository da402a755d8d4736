//! Builds the guest components of this repository, in the style of
//! wasmtime's `test-programs/artifacts`: every Rust guest in `guest/programs`
//! (for `wasm32-wasip2`, with a nested cargo), and the `hold` guest of every
//! other language whose toolchain is installed. It generates:
//!
//! - `guests.rs`: a path constant per guest, `foreach_scenario!`, and an
//!   `Option` per language guest;
//! - `examples.rs`: the example guests' bytes, which the CLI embeds.
//!
//! The languages that were built are passed on to dependents' build scripts
//! as `DEP_PORTALOCKER_ARTIFACTS_LANGUAGES` (this package `links` to nothing
//! but that name), so tests can be ignored with a reason when a toolchain is
//! missing.

#[path = "build/languages.rs"]
mod languages;
#[path = "build/rust.rs"]
mod rust;

use std::fmt::Write;
use std::path::PathBuf;

/// The guests `portalocker run` knows by name, with what they do.
const EXAMPLES: [(&str, &str); 4] = [
    (
        "hold",
        "`hold [--layer path|handle|reentrant|temporary|semaphore|pid] [--label L] [--try] \
         [--timeout MS] [--until GATE] PATH MODE MILLIS`: locks PATH (`shared` or \
         `exclusive`) with the chosen lock class, prints `locked`, keeps the lock MILLIS ms, \
         releases and prints `released`. Exit code 2 when the lock is held elsewhere (with \
         `--try`), 3 on timeout, 1 on any other error.",
    ),
    (
        "counter",
        "`counter [--no-lock] PATH N`: N times, locks PATH exclusively, reads the decimal \
         number in it (missing or empty is 0), writes the number plus one and releases. With \
         `--no-lock` it does the same without locking.",
    ),
    (
        "wait_any",
        "`wait_any PATH [TIMEOUT_MS]`: requests an exclusive lock on PATH and waits, in one \
         `wasi:io/poll` call, for whichever comes first: the lock (prints `acquired`), a timer \
         (prints `timeout`; 2000 ms by default) or a line on stdin (prints `stdin: LINE`).",
    ),
    (
        "named",
        "`named hold|count|write|request|tries|namespaces ...`: named locks in the namespaces \
         the host grants (`--lock-namespace NAME=URL`). `named count NS NAME PATH N` \
         increments the number in PATH N times under the named lock; `named hold [--shared] \
         [--try] [--timeout MS] [--write PATH] [--until GATE] NS NAME MILLIS` holds it, \
         printing its fencing token (`locked token=T`), and reports a lost lock (exit 4); \
         `named write PATH TOKEN DATA` is an example protected resource that refuses a write \
         stamped with an older fencing token than one it has seen (exit 5). Exit code 2 when \
         the lock is held elsewhere, 3 on timeout, 6 when the service is unavailable.",
    ),
];

fn main() {
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    let guests = rust::build_guests();

    let mut code = String::new();
    for (name, path) in &guests {
        writeln!(
            code,
            "/// The `{name}` guest component.\npub const {}: &str = {:?};",
            name.to_uppercase(),
            path.display().to_string()
        )
        .unwrap();
    }
    let scenarios: Vec<&str> = guests
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| name.starts_with("filelock_"))
        .collect();
    writeln!(
        code,
        "/// Calls `$mac!(name)` for every scenario guest.\n#[macro_export]\nmacro_rules! foreach_scenario {{\n    ($mac:ident) => {{\n{}    }};\n}}",
        scenarios.iter().map(|s| format!("        $mac!({s});\n")).collect::<String>()
    )
    .unwrap();
    let mut built_languages = Vec::new();
    for language in &languages::LANGUAGES {
        let built = languages::build_language_guest(language, &out_dir);
        if built.is_some() {
            built_languages.push(language.name);
        }
        writeln!(
            code,
            "/// The `hold` guest written in {}, when its toolchain was found.\npub const {}_HOLD: Option<&str> = {:?};",
            language.title,
            language.name.to_uppercase(),
            built.map(|path| path.display().to_string())
        )
        .unwrap();
    }
    std::fs::write(out_dir.join("guests.rs"), code).expect("write guests.rs");
    println!("cargo::metadata=languages={}", built_languages.join(","));

    let mut examples = String::new();
    for (name, doc) in EXAMPLES {
        let (_, path) = guests
            .iter()
            .find(|(guest, _)| guest == name)
            .unwrap_or_else(|| panic!("the example guest {name} was not built"));
        let embedded = out_dir.join(format!("{name}.wasm"));
        std::fs::copy(path, &embedded).expect("copy an example guest");
        writeln!(
            examples,
            "/// {doc}\npub const {}: &[u8] = include_bytes!({:?});",
            name.to_uppercase(),
            embedded.display().to_string()
        )
        .unwrap();
    }
    writeln!(
        examples,
        "/// Every example guest by the name `portalocker run` knows it by.\npub const ALL: &[(&str, &[u8])] = &[{}];",
        EXAMPLES
            .iter()
            .map(|(name, _)| format!("({name:?}, {})", name.to_uppercase()))
            .collect::<Vec<_>>()
            .join(", ")
    )
    .unwrap();
    std::fs::write(out_dir.join("examples.rs"), examples).expect("write examples.rs");
}
