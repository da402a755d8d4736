//! The lock services of the named-lock tests (Redis, PostgreSQL, and a
//! Python with portalocker for the `RedisLock` interop): each that can be
//! used sets the cfg `has_<name>` (a running instance named by its variable,
//! or a server the tests can start themselves). A missing one makes its
//! tests ignored with the command that provides it, unless
//! `PORTALOCKER_REQUIRE_SERVICES` (a comma-separated list, or `all`) names
//! it, which fails the build instead (CI sets it, so there the tests run).

/// A lock service the named-lock tests need.
pub struct Service {
    /// The name in `cfg(has_<name>)` and in `PORTALOCKER_REQUIRE_SERVICES`.
    pub name: &'static str,
    /// The variable that points the tests at a running instance.
    pub env: &'static str,
    /// Whether the tests can start one themselves.
    pub installed: fn() -> bool,
    /// How to get it.
    pub install: &'static str,
}

/// The services of the named-lock tests.
pub const SERVICES: [Service; 3] = [
    Service {
        name: "redis",
        env: "PORTALOCKER_REDIS_URL",
        installed: || on_path("redis-server"),
        install: "apt-get install redis-server, or eval \"$(bash .ci/services.sh start)\"",
    },
    Service {
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
    Service {
        name: "portalocker_py",
        env: "PORTALOCKER_REDIS_PYTHON",
        installed: || false,
        install: "eval \"$(bash .ci/services.sh start)\" (a venv with portalocker 4.4.2)",
    },
];

/// Whether `program` is on `PATH`.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Looks for every service; sets `has_<name>` for those that can be used.
pub fn detect() {
    println!("cargo::rerun-if-env-changed=PORTALOCKER_REQUIRE_SERVICES");
    println!("cargo::rerun-if-env-changed=PATH");
    let required = std::env::var("PORTALOCKER_REQUIRE_SERVICES").unwrap_or_default();
    for service in &SERVICES {
        println!("cargo::rerun-if-env-changed={}", service.env);
        println!("cargo::rustc-check-cfg=cfg(has_{})", service.name);
        if std::env::var_os(service.env).is_some() || (service.installed)() {
            println!("cargo::rustc-cfg=has_{}", service.name);
            continue;
        }
        let is_required = required
            .split(',')
            .any(|name| name.trim() == "all" || name.trim() == service.name);
        assert!(
            !is_required,
            "{} is required (PORTALOCKER_REQUIRE_SERVICES) but missing: {}",
            service.name, service.install
        );
        println!(
            "cargo::warning=the {} named-lock tests are ignored: {}",
            service.name, service.install
        );
    }
}
