//! Sets `has_<language>` for each language whose `hold` guest the artifacts
//! crate built, so tests of a missing language are ignored with a reason.

fn main() {
    let built = std::env::var("DEP_PORTALOCKER_ARTIFACTS_LANGUAGES").unwrap_or_default();
    for language in ["python", "javascript", "c"] {
        println!("cargo::rustc-check-cfg=cfg(has_{language})");
        if built.split(',').any(|name| name == language) {
            println!("cargo::rustc-cfg=has_{language}");
        }
    }
}
