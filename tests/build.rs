//! Builds every guest program and generates a constant per guest plus the
//! `foreach_guest!` macro, in the style of wasmtime's test-programs artifacts.

#[path = "../host/build_guests.rs"]
mod build_guests;

use std::fmt::Write;

fn main() {
    let out_dir = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    let guests = build_guests::build_guests(&[]);
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
    std::fs::write(out_dir.join("guests.rs"), code).expect("write guests.rs");
}
