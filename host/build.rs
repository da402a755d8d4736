//! Builds the example guests (`hold`, `counter`, `wait_any`) and embeds them in
//! the host.

#[path = "build_guests.rs"]
mod build_guests;

fn main() {
    let out_dir = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    for (name, path) in build_guests::build_guests(&["hold", "counter", "wait_any"]) {
        std::fs::copy(&path, out_dir.join(format!("{name}.wasm"))).expect("copy guest component");
    }
}
