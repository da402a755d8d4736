//! SQLite in a guest (`guest/sqlite/`, the `portalocker` VFS over WIT
//! `range-lock`) sharing one database with the native `sqlite3` program: a
//! write transaction on either side makes the other report "database is
//! locked", and guests and `sqlite3` writing at once lose no commit.
//!
//! The guest needs the C toolchain (`guest/c/install.sh`), the tests the
//! native `sqlite3` (`apt-get install sqlite3`); without either the tests
//! are ignored. CI installs both and makes them required
//! (`PORTALOCKER_REQUIRE_LANGUAGES=all`, `PORTALOCKER_REQUIRE_TOOLS`).

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use portalocker_tests::native::{Holder, Mode};
use portalocker_tests::{GuestRun, Sandbox, eventually, guests, ranges};

const LONG: Duration = Duration::from_secs(60);

/// SQLite's lock bytes (os_unix.c): pending, reserved, the shared range.
const PENDING_BYTE: u64 = 0x4000_0000;
const RESERVED_BYTE: u64 = PENDING_BYTE + 1;
const SHARED_FIRST: u64 = PENDING_BYTE + 2;
const SHARED_SIZE: u64 = 510;

/// Transactions per writer in the torture test; `PORTALOCKER_SQLITE_TORTURE`
/// sets more.
const TORTURE_TRANSACTIONS: u64 = 40;

fn guest() -> &'static str {
    guests::C_SQLITE.expect("the SQLite guest is built")
}

/// Runs `sqlite3 DB SQL` with a short busy timeout.
fn native(db: &Path, sql: &str) -> Output {
    Command::new("sqlite3")
        .arg("-cmd")
        .arg(".timeout 100")
        .arg(db)
        .arg(sql)
        .output()
        .expect("run sqlite3")
}

/// The first line `sqlite3` prints for `sql`, asserting it succeeded.
fn native_value(db: &Path, sql: &str) -> String {
    let output = native(db, sql);
    assert!(output.status.success(), "sqlite3 {sql:?}: {output:?}");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

/// A native `sqlite3` session fed statement by statement.
struct NativeSession {
    child: Child,
}

impl NativeSession {
    fn open(db: &Path) -> NativeSession {
        let child = Command::new("sqlite3")
            .arg(db)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run sqlite3");
        NativeSession { child }
    }

    fn send(&mut self, sql: &str) {
        let stdin = self.child.stdin.as_mut().expect("piped");
        writeln!(stdin, "{sql}").expect("feed sqlite3");
        stdin.flush().expect("feed sqlite3");
    }

    /// Ends the session; its stderr.
    fn finish(mut self) -> String {
        drop(self.child.stdin.take());
        let output = self.child.wait_with_output().expect("sqlite3 ends");
        String::from_utf8_lossy(&output.stderr).into_owned()
    }
}

/// Whether another open file holds `len` bytes at `start` of `db` so that
/// a lock in `mode` could not be taken.
fn held(db: &Path, start: u64, len: u64, mode: Mode) -> bool {
    !ranges::can_lock_range(db, start, len, mode)
}

fn create(db: &Path) {
    native_value(
        db,
        "CREATE TABLE log(writer TEXT, round INTEGER); CREATE TABLE counter(n INTEGER); \
         INSERT INTO counter VALUES (0);",
    );
}

#[test]
#[cfg_attr(
    not(has_c_sqlite),
    ignore = "the SQLite guest needs the C toolchain: run guest/c/install.sh"
)]
fn the_sqlite_guest_runs_statements_and_reports_errors() {
    let sandbox = Sandbox::new();
    sandbox
        .run(
            guest(),
            &[
                "t.db",
                "CREATE TABLE t(x, y); INSERT INTO t VALUES (1, 'one'), (2, NULL);",
                "SELECT x, y FROM t ORDER BY x; SELECT count(*) FROM t",
            ],
        )
        .assert_success()
        .assert_line("1|one")
        .assert_line("2|")
        .assert_line("2");
    let repeated = sandbox.run(
        guest(),
        &[
            "--repeat",
            "3",
            "t.db",
            "INSERT INTO t VALUES (:i, 'r') RETURNING x",
        ],
    );
    repeated.assert_success();
    assert_eq!(repeated.stdout(), "0\n1\n2\n");
    let bad = sandbox.run(guest(), &["t.db", "SELECT missing FROM nowhere"]);
    bad.assert_code(1);
    assert!(bad.stderr().contains("error: no such table"), "{bad:?}");
    sandbox.run(guest(), &["t.db"]).assert_code(1);
    // Nothing is left locked after the guest.
    assert!(!held(
        &sandbox.path("t.db"),
        PENDING_BYTE,
        512,
        Mode::Exclusive
    ));
}

#[test]
#[cfg_attr(
    not(all(has_c_sqlite, has_sqlite3)),
    ignore = "needs the SQLite guest (guest/c/install.sh) and native sqlite3 (apt-get install sqlite3)"
)]
fn a_guest_write_transaction_makes_native_sqlite3_report_database_is_locked() {
    let sandbox = Sandbox::new();
    let db = sandbox.path("t.db");
    create(&db);
    let mut gate = Holder::lock(&sandbox.path("gate"), Mode::Exclusive);
    let writing = sandbox.spawn(
        guest(),
        &[
            "t.db",
            "BEGIN IMMEDIATE; INSERT INTO log VALUES ('guest', 1); SELECT gate('gate'); COMMIT;",
        ],
    );
    assert!(
        eventually(LONG, || held(&db, RESERVED_BYTE, 1, Mode::Exclusive)),
        "the guest never took the RESERVED lock"
    );
    // SQLite's own lock bytes, as native SQLite takes them: RESERVED
    // exclusive, the shared range shared.
    assert!(held(&db, SHARED_FIRST, SHARED_SIZE, Mode::Exclusive));
    assert!(!held(&db, SHARED_FIRST, SHARED_SIZE, Mode::Shared));
    let write = native(&db, "INSERT INTO log VALUES ('native', 1);");
    assert!(!write.status.success(), "{write:?}");
    assert!(
        String::from_utf8_lossy(&write.stderr).contains("database is locked"),
        "{write:?}"
    );
    // Readers still read (RESERVED lets them), without the uncommitted row.
    assert_eq!(native_value(&db, "SELECT count(*) FROM log;"), "0");
    // Another guest is locked out the same way.
    let other = sandbox.run(
        guest(),
        &[
            "--timeout",
            "100",
            "t.db",
            "INSERT INTO log VALUES ('other', 1)",
        ],
    );
    other.assert_code(5);
    assert!(other.stderr().contains("database is locked"), "{other:?}");
    gate.release();
    writing.join().unwrap().assert_success();
    assert_eq!(native_value(&db, "SELECT writer FROM log;"), "guest");
    assert!(!held(&db, PENDING_BYTE, 512, Mode::Exclusive));
}

#[test]
#[cfg_attr(
    not(all(has_c_sqlite, has_sqlite3)),
    ignore = "needs the SQLite guest (guest/c/install.sh) and native sqlite3 (apt-get install sqlite3)"
)]
fn a_native_write_transaction_makes_the_guest_report_database_is_locked() {
    let sandbox = Sandbox::new();
    let db = sandbox.path("t.db");
    create(&db);
    let mut session = NativeSession::open(&db);
    session.send("BEGIN IMMEDIATE; INSERT INTO log VALUES ('native', 1);");
    assert!(
        eventually(LONG, || held(&db, RESERVED_BYTE, 1, Mode::Exclusive)),
        "sqlite3 never took the RESERVED lock"
    );
    let write = sandbox.run(
        guest(),
        &[
            "--timeout",
            "100",
            "t.db",
            "INSERT INTO log VALUES ('guest', 1)",
        ],
    );
    write.assert_code(5);
    assert!(write.stderr().contains("database is locked"), "{write:?}");
    sandbox
        .run(guest(), &["t.db", "SELECT count(*) FROM log"])
        .assert_success()
        .assert_line("0");
    // EXCLUSIVE keeps readers out too.
    session.send("COMMIT; BEGIN EXCLUSIVE;");
    assert!(
        eventually(LONG, || held(&db, SHARED_FIRST, SHARED_SIZE, Mode::Shared)),
        "sqlite3 never took the EXCLUSIVE lock"
    );
    let read = sandbox.run(
        guest(),
        &["--timeout", "100", "t.db", "SELECT count(*) FROM log"],
    );
    read.assert_code(5);
    assert!(read.stderr().contains("database is locked"), "{read:?}");
    session.send("COMMIT;");
    let stderr = session.finish();
    assert!(stderr.is_empty(), "sqlite3: {stderr}");
    sandbox
        .run(
            guest(),
            &["--timeout", "100", "t.db", "SELECT count(*) FROM log"],
        )
        .assert_success()
        .assert_line("1");
}

#[test]
#[cfg_attr(
    not(all(has_c_sqlite, has_sqlite3)),
    ignore = "needs the SQLite guest (guest/c/install.sh) and native sqlite3 (apt-get install sqlite3)"
)]
fn a_wal_database_is_refused_not_used_without_shared_memory() {
    let sandbox = Sandbox::new();
    let db = sandbox.path("wal.db");
    assert_eq!(
        native_value(&db, "PRAGMA journal_mode=WAL; CREATE TABLE t(x);"),
        "wal"
    );
    let run = sandbox.run(guest(), &["wal.db", "SELECT count(*) FROM t"]);
    run.assert_code(1);
    assert!(run.stderr().contains("file is not a database"), "{run:?}");
    // A rollback-journal database cannot be switched to WAL from the guest.
    sandbox
        .run(guest(), &["j.db", "PRAGMA journal_mode=WAL"])
        .assert_success()
        .assert_line("delete");
}

/// Two guest instances and native `sqlite3`, `transactions` write
/// transactions each, on one database: every commit is there and the
/// database is intact.
fn torture(transactions: u64) {
    let sandbox = Sandbox::new();
    let db = sandbox.path("t.db");
    create(&db);
    let timeout = "60000";
    let sql = |writer: &str| {
        format!(
            "BEGIN IMMEDIATE; INSERT INTO log VALUES ('{writer}', :i); \
             UPDATE counter SET n = n + 1; COMMIT;"
        )
    };
    let rounds = transactions.to_string();
    let spawn = |writer: &str| {
        sandbox.spawn(
            guest(),
            &[
                "--timeout",
                timeout,
                "--repeat",
                &rounds,
                "t.db",
                &sql(writer),
            ],
        )
    };
    let first = spawn("guest-1");
    let second = spawn("guest-2");
    let mut session = NativeSession::open(&db);
    session.send(&format!(".timeout {timeout}"));
    for round in 0..transactions {
        session.send(&sql("native").replace(":i", &round.to_string()));
    }
    let stderr = session.finish();
    let runs: Vec<GuestRun> = [first, second].map(|run| run.join().unwrap()).into();
    for run in &runs {
        run.assert_success();
    }
    assert!(stderr.is_empty(), "sqlite3: {stderr}");
    let total = 3 * transactions;
    assert_eq!(
        native_value(&db, "SELECT count(*) FROM log;"),
        total.to_string()
    );
    assert_eq!(
        native_value(&db, "SELECT n FROM counter;"),
        total.to_string()
    );
    assert_eq!(
        native_value(
            &db,
            "SELECT group_concat(writer || ':' || n) FROM \
             (SELECT writer, count(DISTINCT round) AS n FROM log GROUP BY writer ORDER BY writer);"
        ),
        format!("guest-1:{transactions},guest-2:{transactions},native:{transactions}")
    );
    assert_eq!(native_value(&db, "PRAGMA integrity_check;"), "ok");
    sandbox
        .run(
            guest(),
            &["t.db", "PRAGMA integrity_check; SELECT count(*) FROM log"],
        )
        .assert_success()
        .assert_line("ok")
        .assert_line(&total.to_string());
}

#[test]
#[cfg_attr(
    not(all(has_c_sqlite, has_sqlite3)),
    ignore = "needs the SQLite guest (guest/c/install.sh) and native sqlite3 (apt-get install sqlite3)"
)]
fn two_guests_and_native_sqlite3_lose_no_commit() {
    let transactions = std::env::var("PORTALOCKER_SQLITE_TORTURE")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(TORTURE_TRANSACTIONS);
    torture(transactions);
}

#[test]
#[cfg_attr(
    not(all(has_c_sqlite, has_sqlite3)),
    ignore = "needs the SQLite guest (guest/c/install.sh) and native sqlite3 (apt-get install sqlite3)"
)]
fn the_cli_runs_the_sqlite_example_and_its_demo() {
    let bin = portalocker_tests::portalocker_bin();
    let dir = tempfile::tempdir().unwrap();
    let run = Command::new(&bin)
        .arg("run")
        .arg("--dir")
        .arg(format!("{}::/", dir.path().display()))
        .args([
            "sqlite",
            "x.db",
            "CREATE TABLE t(x); INSERT INTO t VALUES (42); SELECT x FROM t",
        ])
        .output()
        .unwrap();
    assert!(run.status.success(), "{run:?}");
    assert_eq!(String::from_utf8_lossy(&run.stdout), "42\n");
    assert_eq!(
        native_value(&dir.path().join("x.db"), "SELECT x FROM t;"),
        "42"
    );

    let demo = Command::new(&bin)
        .args(["demo", "--sqlite", "--transactions", "30"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&demo.stdout);
    assert!(
        demo.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    let locked = stdout
        .lines()
        .find(|line| line.starts_with("with range locks"))
        .unwrap_or_else(|| panic!("no `with range locks` row:\n{stdout}"));
    // with range locks | expected | commits | counter | errors | integrity | time
    let cells: Vec<&str> = locked.split_whitespace().collect();
    assert_eq!(cells[3..8], ["90", "90", "90", "0", "ok"], "{stdout}");
    assert!(
        stdout.lines().any(|line| line.starts_with("without locks")),
        "{stdout}"
    );
}
