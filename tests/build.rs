//! Sets `has_<language>` for each language whose `hold` guest the artifacts
//! crate built, and `has_<service>` for each lock service the named-lock
//! tests can use, so tests of a missing language or service are ignored with
//! a reason (or, where `PORTALOCKER_REQUIRE_SERVICES` asks for a service,
//! the build fails).

fn main() {
    println!("cargo::rerun-if-env-changed=DEP_PORTALOCKER_ARTIFACTS_LANGUAGES");
    let built = std::env::var("DEP_PORTALOCKER_ARTIFACTS_LANGUAGES").unwrap_or_default();
    for language in ["python", "javascript", "c"] {
        println!("cargo::rustc-check-cfg=cfg(has_{language})");
        if built.split(',').any(|name| name == language) {
            println!("cargo::rustc-cfg=has_{language}");
        }
    }
    for service in &SERVICES {
        detect_service(service);
    }
}

/// A lock service the named-lock tests need.
struct ServiceCheck {
    /// The name in `cfg(has_<name>)` and in `PORTALOCKER_REQUIRE_SERVICES`.
    name: &'static str,
    /// The variable that points the tests at a running instance.
    env: &'static str,
    /// Whether the tests can start one themselves.
    installed: fn() -> bool,
    /// How to get it.
    install: &'static str,
}

/// The services of the named-lock tests.
const SERVICES: [ServiceCheck; 3] = [
    ServiceCheck {
        name: "redis",
        env: "PORTALOCKER_REDIS_URL",
        installed: || on_path("redis-server"),
        install: "apt-get install redis-server, or eval \"$(bash .ci/services.sh start)\"",
    },
    ServiceCheck {
        name: "postgres",
        env: "PORTALOCKER_POSTGRES_URL",
        installed: || {
            std::fs::read_dir("/usr/lib/postgresql").is_ok_and(|versions| {
                versions
                    .filter_map(Result::ok)
                    .any(|version| version.path().join("bin/postgres").is_file())
            })
        },
        install: "apt-get install postgresql, or eval \"$(bash .ci/services.sh start)\"",
    },
    ServiceCheck {
        name: "portalocker_py",
        env: "PORTALOCKER_PYTHON",
        installed: || false,
        install: "eval \"$(bash .ci/services.sh start)\" (a venv with portalocker 4.4.2)",
    },
];

/// Whether `program` is on `PATH`.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Sets `cfg(has_<name>)` when the service's tests can run. When
/// `PORTALOCKER_REQUIRE_SERVICES` (a comma-separated list, or `all`) names a
/// service that is missing, the build fails instead of ignoring its tests.
fn detect_service(service: &ServiceCheck) {
    println!("cargo::rerun-if-env-changed={}", service.env);
    println!("cargo::rerun-if-env-changed=PORTALOCKER_REQUIRE_SERVICES");
    println!("cargo::rustc-check-cfg=cfg(has_{})", service.name);
    let present = std::env::var_os(service.env).is_some() || (service.installed)();
    let required = std::env::var("PORTALOCKER_REQUIRE_SERVICES").unwrap_or_default();
    let required = required
        .split(',')
        .any(|name| name.trim() == "all" || name.trim() == service.name);
    if present {
        println!("cargo::rustc-cfg=has_{}", service.name);
    } else if required {
        panic!(
            "PORTALOCKER_REQUIRE_SERVICES requires {} but it is missing: {}",
            service.name, service.install
        );
    } else {
        println!(
            "cargo::warning=the {} named-lock tests are ignored: {}",
            service.name, service.install
        );
    }
}
