//! Lock services for the named-lock tests: Redis and PostgreSQL servers on
//! loopback ports, each in a temporary directory of its own.
//!
//! [`redis_url`] and [`postgres_url`] give a server shared by the tests of
//! this process: the one `.ci/services.sh` started (`PORTALOCKER_REDIS_URL`,
//! `PORTALOCKER_POSTGRES_URL`), or else one started here on first use. Tests
//! that stop or kill a server start their own with [`RedisServer::start`] and
//! [`PostgresServer::start`]; it is stopped when dropped.
//!
//! Servers started here get `SIGKILL` when the thread that started them ends
//! (`PR_SET_PDEATHSIG`), so a failed test run leaves none behind: the shared
//! ones are started by a thread that lives as long as the process.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a server may take to start.
const START_LIMIT: Duration = Duration::from_secs(60);

/// A free loopback port (the kernel picks it; a race with another process
/// binding it before the server does is possible but unlikely).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

/// Makes the child die with the thread that spawns it.
fn die_with_parent(command: &mut Command) {
    // SAFETY: prctl is async-signal-safe and touches nothing but the child.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Spawns `command` from a thread that lives as long as the process, so the
/// child outlives the test that asked for it.
fn spawn_for_process(command: Command) -> std::io::Result<Child> {
    type Request = (Command, mpsc::Sender<std::io::Result<Child>>);
    static KEEPER: OnceLock<std::sync::Mutex<mpsc::Sender<Request>>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::spawn(move || {
            for (mut command, reply) in rx {
                let _ = reply.send(command.spawn());
            }
            // The channel never closes: the thread parks here for good.
            loop {
                std::thread::park();
            }
        });
        std::sync::Mutex::new(tx)
    });
    let (reply, answer) = mpsc::channel();
    keeper
        .lock()
        .unwrap()
        .send((command, reply))
        .expect("the keeper thread lives");
    answer.recv().expect("the keeper thread answers")
}

/// Waits until `ready` holds or the start limit passes.
fn wait_until(what: &str, log: &Path, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < START_LIMIT,
            "{what} did not start; its log ({}):\n{}",
            log.display(),
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether something accepts connections on the loopback `port`.
fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// A `redis-server` of this test process.
pub struct RedisServer {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server on a free loopback port, dying with this thread.
    pub fn start() -> RedisServer {
        let mut server = RedisServer {
            dir: tempfile::tempdir().expect("temp dir"),
            port: free_port(),
            child: None,
        };
        server.resume(false);
        server
    }

    fn command(&self) -> Command {
        let mut command = Command::new("redis-server");
        command
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(self.log())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        die_with_parent(&mut command);
        command
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    /// Starts the server again (after [`RedisServer::stop`]) on the same port.
    pub fn resume(&mut self, for_process: bool) {
        let command = self.command();
        let child = if for_process {
            spawn_for_process(command)
        } else {
            let mut command = command;
            command.spawn()
        }
        .expect("spawn redis-server (is it installed? `apt-get install redis-server`)");
        self.child = Some(child);
        wait_until("redis-server", &self.log(), || listening(self.port));
    }

    /// Stops the server (SIGKILL): its data is gone, as after a crash.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `bin` directory of the newest PostgreSQL installed.
fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// The uid and gid of the `postgres` user, when this process is root
/// (PostgreSQL refuses to run as root).
fn postgres_user() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("run id");
        assert!(
            out.status.success(),
            "running as root needs a `postgres` user"
        );
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("a number")
    };
    Some((id("-u"), id("-g")))
}

/// A PostgreSQL server of this test process, with its own data directory.
pub struct PostgresServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    user: Option<(u32, u32)>,
    child: Option<Child>,
}

impl PostgresServer {
    /// Initialises a data directory and starts a server on a free loopback
    /// port, dying with this thread.
    pub fn start() -> PostgresServer {
        Self::start_as(false)
    }

    fn start_as(for_process: bool) -> PostgresServer {
        let bin =
            postgres_bin().expect("PostgreSQL is not installed: `apt-get install postgresql`");
        let dir = tempfile::tempdir().expect("temp dir");
        let user = postgres_user();
        if let Some((uid, gid)) = user {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
                .expect("open the temp dir to the postgres user");
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown");
        }
        let mut server = PostgresServer {
            dir,
            bin,
            port: free_port(),
            user,
            child: None,
        };
        let mut initdb = server.as_postgres("initdb");
        initdb
            .arg("-D")
            .arg(server.data())
            .args(["-U", "postgres", "-A", "trust", "--no-sync"])
            .stdout(Stdio::null());
        let out = initdb.output().expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        server.resume(for_process);
        server
    }

    fn as_postgres(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        if let Some((uid, gid)) = self.user {
            command.uid(uid).gid(gid);
        }
        command
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// Starts the server again (after [`PostgresServer::stop`]).
    pub fn resume(&mut self, for_process: bool) {
        let log = std::fs::File::create(self.log()).expect("create the log");
        if let Some((uid, gid)) = self.user {
            std::os::unix::fs::chown(self.log(), Some(uid), Some(gid)).expect("chown");
        }
        let mut command = self.as_postgres("postgres");
        command
            .arg("-D")
            .arg(self.data())
            .args(["-p", &self.port.to_string()])
            .arg("-k")
            .arg(self.dir.path())
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .stdout(Stdio::null())
            .stderr(log);
        die_with_parent(&mut command);
        let child = if for_process {
            spawn_for_process(command)
        } else {
            command.spawn()
        }
        .expect("spawn postgres");
        self.child = Some(child);
        // Listening is not enough: a server that is still starting up
        // refuses sessions ("the database system is starting up").
        let (port, ready) = (self.port.to_string(), self.bin.join("pg_isready"));
        wait_until("postgres", &self.log(), || {
            Command::new(&ready)
                .args(["-q", "-h", "127.0.0.1", "-p", &port])
                .status()
                .is_ok_and(|status| status.success())
        });
    }

    /// Stops the server as `pg_ctl stop -m fast` does (SIGINT): it ends
    /// every session, which frees their locks, and shuts down.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill has no preconditions; the pid is our child's.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGINT);
            }
            let _ = child.wait();
        }
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The shared Redis server's URL: `PORTALOCKER_REDIS_URL`, or a server
/// started for this test process.
pub fn redis_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        std::env::var("PORTALOCKER_REDIS_URL").unwrap_or_else(|_| {
            let mut server = RedisServer {
                dir: tempfile::tempdir().expect("temp dir"),
                port: free_port(),
                child: None,
            };
            server.resume(true);
            let url = server.url();
            // Kept for the life of the process.
            std::mem::forget(server);
            url
        })
    })
    .clone()
}

/// The shared PostgreSQL server's URL: `PORTALOCKER_POSTGRES_URL`, or a
/// server started for this test process.
pub fn postgres_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        std::env::var("PORTALOCKER_POSTGRES_URL").unwrap_or_else(|_| {
            let server = PostgresServer::start_as(true);
            let url = server.url();
            std::mem::forget(server);
            url
        })
    })
    .clone()
}

/// The Python with portalocker 4.4.2 and redis that `.ci/services.sh`
/// prepared (`PORTALOCKER_REDIS_PYTHON`).
pub fn python() -> String {
    std::env::var("PORTALOCKER_REDIS_PYTHON").expect(
        "PORTALOCKER_REDIS_PYTHON is not set: run `eval \"$(bash .ci/services.sh start)\"` first",
    )
}

/// A prefix no other test (or earlier run) uses, for keys and channels.
pub fn unique(what: &str) -> String {
    format!("{what}-{}-{}", std::process::id(), uuid_like())
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{nanos:x}{}", NEXT.fetch_add(1, Ordering::Relaxed))
}
