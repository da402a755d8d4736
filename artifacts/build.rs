//! Builds the guest components of this repository, in the style of
//! wasmtime's `test-programs/artifacts`: every Rust guest in `guest/programs`
//! (for `wasm32-wasip2`, with a nested cargo), the `hold` guest of every
//! other language whose toolchain is installed (the SQLite guest among the C
//! ones). It generates:
//!
//! - `guests.rs`: a path constant per guest, `foreach_scenario!`, and an
//!   `Option` per guest in another language (`PYTHON_HOLD`, `PYTHON_EXISTING`,
//!   `C_SQLITE`, …);
//! - `examples.rs`: the example guests' bytes, which the CLI embeds (the
//!   `sqlite` example when it was built).
//!
//! The guests in other languages are passed on to dependents' build scripts
//! (this package `links` to nothing but that name): all of them as
//! `DEP_PORTALOCKER_ARTIFACTS_LANGUAGE_GUESTS`, those that were built as
//! `DEP_PORTALOCKER_ARTIFACTS_BUILT` (`python_hold,python_existing,…`), so
//! tests can be ignored with a reason when a toolchain is missing.

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
        "`hold [--layer path|handle|reentrant|temporary|semaphore|pid|std|fs4] [--label L] \
         [--try] [--timeout MS] [--until GATE] PATH MODE MILLIS`: locks PATH (`shared` or \
         `exclusive`) with the chosen lock class (`std` and `fs4`: a `std::fs::File` through \
         `FileLockExt` or the fs4-compatible `FileExt`), prints `locked`, keeps the lock MILLIS ms, \
         releases and prints `released`. Exit code 2 when the lock is held elsewhere (with \
         `--try`), 3 on timeout, 1 on any other error.",
    ),
    (
        "counter",
        "`counter [--no-lock] PATH N`: N times, locks PATH exclusively, reads the decimal \
         number in it (missing or empty is 0), writes the number plus one and releases. With \
         `--no-lock` it does the same without locking. A file that holds no number, or the \
         largest one, is an error (exit 1), left as it was.",
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

/// What the `sqlite` example guest does.
const SQLITE_EXAMPLE: &str = "`sqlite [--no-lock] [--timeout MS] [--repeat N] [--keep-going] \
    [--timing] DB SQL...`: SQLite (C, `guest/sqlite/`) with the `portalocker` VFS, whose locks \
    are byte-range locks on the bytes native SQLite locks: opens the database DB and runs each \
    SQL argument, printing the rows `|`-separated. Exit code 5 when the database stayed locked, \
    1 on any other error.";

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
    // Every guest in another language: a constant each, and the list of
    // those built for dependents' build scripts (`has_<id>` cfgs).
    let mut ids = Vec::new();
    let mut built = Vec::new();
    let mut sqlite = None;
    for language in &languages::LANGUAGES {
        for guest in language.guests {
            let id = guest.id(language);
            let path = languages::build_language_guest(language, guest, &out_dir);
            writeln!(
                code,
                "/// {}, when its toolchain was found.\npub const {}: Option<&str> = {:?};",
                guest.doc,
                id.to_uppercase(),
                path.as_ref().map(|path| path.display().to_string())
            )
            .unwrap();
            if path.is_some() {
                built.push(id.clone());
            }
            if id == "c_sqlite" {
                sqlite = path;
            }
            ids.push(id);
        }
    }
    std::fs::write(out_dir.join("guests.rs"), code).expect("write guests.rs");
    println!("cargo::metadata=language_guests={}", ids.join(","));
    println!("cargo::metadata=built={}", built.join(","));

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
    let mut all: Vec<String> = EXAMPLES
        .iter()
        .map(|(name, _)| format!("({name:?}, {})", name.to_uppercase()))
        .collect();
    if let Some(path) = &sqlite {
        writeln!(
            examples,
            "/// The `sqlite` example's bytes.\nconst SQLITE_BYTES: &[u8] = include_bytes!({:?});",
            path.display().to_string()
        )
        .unwrap();
        all.push("(\"sqlite\", SQLITE_BYTES)".to_owned());
    }
    writeln!(
        examples,
        "/// {SQLITE_EXAMPLE} Embedded when the C toolchain (`guest/c/install.sh`) was installed at \
         build time.\npub const SQLITE: Option<&[u8]> = {};",
        if sqlite.is_some() { "Some(SQLITE_BYTES)" } else { "None" }
    )
    .unwrap();
    writeln!(
        examples,
        "/// Every example guest by the name `portalocker run` knows it by.\npub const ALL: &[(&str, &[u8])] = &[{}];",
        all.join(", ")
    )
    .unwrap();
    std::fs::write(out_dir.join("examples.rs"), examples).expect("write examples.rs");
}
