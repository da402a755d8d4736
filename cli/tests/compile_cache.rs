//! The compile cache of `portalocker run`, attacked from outside: damaged
//! and swapped entries, entries others could have planted, and cache
//! directories that are not private. Each one is refused with a message on
//! stderr, and the run still works, compiling afresh. The attacks use Unix
//! permissions, owners and symbolic links: on Windows the cache checks no
//! ACLs, and these tests do not run.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

/// `portalocker run --dir DIR::/ EXAMPLE ARGS` with the cache in `cache`.
fn run(cache: &Path, dir: &Path, example: &str, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_portalocker"))
        .env("PORTALOCKER_CACHE_DIR", cache)
        .arg("run")
        .arg("--dir")
        .arg(format!("{}::/", dir.display()))
        .arg(example)
        .args(args)
        .output()
        .expect("run portalocker")
}

/// Runs the `hold` example once and checks that it did its job.
fn run_hold(cache: &Path, dir: &Path) -> Output {
    let output = run(cache, dir, "hold", &["x.lock", "exclusive", "0"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "locked\nreleased\n",
        "{output:?}"
    );
    output
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The cache's entries.
fn entries(cache: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(cache)
        .map(|dir| dir.map(|entry| entry.unwrap().path()).collect())
        .unwrap_or_default();
    entries.sort();
    entries
}

/// The byte range of the `.text` section (the compiled machine code) of the
/// ELF image inside a cache entry.
fn text_section(entry: &[u8]) -> std::ops::Range<usize> {
    let start = entry
        .windows(4)
        .position(|window| window == b"\x7fELF")
        .expect("an ELF image in the entry");
    let elf = &entry[start..];
    let u16_at = |at: usize| usize::from(u16::from_le_bytes(elf[at..at + 2].try_into().unwrap()));
    let u32_at = |at: usize| u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) as usize;
    let u64_at = |at: usize| u64::from_le_bytes(elf[at..at + 8].try_into().unwrap()) as usize;
    let (headers, size, count, names) = (u64_at(0x28), u16_at(0x3a), u16_at(0x3c), u16_at(0x3e));
    let header = |index: usize| headers + index * size;
    let names_offset = u64_at(header(names) + 0x18);
    (0..count)
        .find_map(|index| {
            let at = header(index);
            let name = &elf[names_offset + u32_at(at)..];
            let name = &name[..name.iter().position(|&b| b == 0)?];
            (name == b".text").then(|| {
                let offset = start + u64_at(at + 0x18);
                offset..offset + u64_at(at + 0x20)
            })
        })
        .expect("a .text section")
}

#[test]
fn flipped_bytes_in_the_code_are_detected_and_compiled_again() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().join("c");
    let first = run_hold(&cache_dir, dir.path());
    assert_eq!(stderr(&first), "", "a fresh cache says nothing");
    let [entry] = entries(&cache_dir).try_into().expect("one entry");
    let mut bytes = std::fs::read(&entry).unwrap();
    let text = text_section(&bytes);
    assert!(text.len() > 64, "{text:?}");
    // Damaged machine code: a run that loaded it would crash (SIGSEGV or
    // SIGILL) instead of failing.
    for byte in &mut bytes[text] {
        *byte = !*byte;
    }
    std::fs::write(&entry, &bytes).unwrap();

    let second = run_hold(&cache_dir, dir.path());
    let message = stderr(&second);
    assert_eq!(message.lines().count(), 1, "one line: {message}");
    assert!(
        message.contains("compile cache") && message.contains("compiling afresh"),
        "{message}"
    );
    let third = run_hold(&cache_dir, dir.path());
    assert_eq!(stderr(&third), "", "the damaged entry was replaced");
}

#[test]
fn an_entry_of_another_component_is_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().join("c");
    run_hold(&cache_dir, dir.path());
    let [hold] = entries(&cache_dir).try_into().expect("one entry");
    let counted = run(&cache_dir, dir.path(), "counter", &["n.txt", "1"]);
    assert!(counted.status.success(), "{counted:?}");
    let counter = entries(&cache_dir)
        .into_iter()
        .find(|entry| *entry != hold)
        .expect("counter's entry");
    // A valid entry, but of another component, under hold's name.
    std::fs::copy(&counter, &hold).unwrap();

    let output = run_hold(&cache_dir, dir.path());
    let message = stderr(&output);
    assert!(
        message.contains("compile cache") && message.contains("compiling afresh"),
        "{message}"
    );
}

#[test]
fn entries_others_could_have_written_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().join("c");
    run_hold(&cache_dir, dir.path());
    let [entry] = entries(&cache_dir).try_into().expect("one entry");

    std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o644)).unwrap();
    let readable = run_hold(&cache_dir, dir.path());
    assert!(
        stderr(&readable).contains("compiling afresh"),
        "{readable:?}"
    );
    let mode = std::fs::metadata(&entry).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the entry was rewritten privately");

    let link = cache.path().join("second-name");
    std::fs::hard_link(&entry, &link).unwrap();
    let linked = run_hold(&cache_dir, dir.path());
    assert!(stderr(&linked).contains("compiling afresh"), "{linked:?}");
    assert_eq!(run_hold(&cache_dir, dir.path()).stderr, b"");
}

#[test]
fn a_symlinked_cache_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let real = cache.path().join("real");
    std::fs::create_dir(&real).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
    let link = cache.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();

    let output = run_hold(&link, dir.path());
    let message = stderr(&output);
    assert_eq!(message.lines().count(), 1, "one line: {message}");
    assert!(
        message.contains("not using the compile cache") && message.contains("link"),
        "{message}"
    );
    assert!(entries(&real).is_empty(), "nothing went through the link");
}

#[test]
fn a_cache_under_a_directory_others_may_write_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let open = cache.path().join("open");
    std::fs::create_dir(&open).unwrap();
    // Writable by everyone, without the sticky bit: anyone could move the
    // cache directory away and put their own in its place.
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let cache_dir = open.join("c");

    let output = run_hold(&cache_dir, dir.path());
    let message = stderr(&output);
    assert_eq!(message.lines().count(), 1, "one line: {message}");
    assert!(
        message.contains("not using the compile cache") && message.contains("open"),
        "{message}"
    );
    assert!(entries(&cache_dir).is_empty());
}

#[test]
fn a_truncated_entry_is_compiled_again() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().join("c");
    run_hold(&cache_dir, dir.path());
    let [entry] = entries(&cache_dir).try_into().expect("one entry");
    // A write cut short (a full disk, a crash of a copy): half the entry.
    let bytes = std::fs::read(&entry).unwrap();
    std::fs::write(&entry, &bytes[..bytes.len() / 2]).unwrap();

    let output = run_hold(&cache_dir, dir.path());
    let message = stderr(&output);
    assert_eq!(message.lines().count(), 1, "one line: {message}");
    assert!(
        message.contains("damaged") && message.contains("compiling afresh"),
        "{message}"
    );
    assert_eq!(std::fs::read(&entry).unwrap(), bytes, "rewritten whole");
}

#[test]
fn an_entry_that_is_a_fifo_is_refused_without_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().join("c");
    run_hold(&cache_dir, dir.path());
    let [entry] = entries(&cache_dir).try_into().expect("one entry");
    std::fs::remove_file(&entry).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&entry)
        .status()
        .expect("run mkfifo");
    assert!(made.success());

    // Opening a FIFO for reading waits for a writer: a run that did would
    // never end. It gets a bounded time here, then is stopped.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_portalocker"))
        .env("PORTALOCKER_CACHE_DIR", &cache_dir)
        .arg("run")
        .arg("--dir")
        .arg(format!("{}::/", dir.path().display()))
        .args(["hold", "x.lock", "exclusive", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run portalocker");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("the run waited on the FIFO in the cache");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "locked\nreleased\n"
    );
    let message = stderr(&output);
    assert!(
        message.contains("not a regular file") && message.contains("compiling afresh"),
        "{message}"
    );
}

#[test]
fn entries_and_directories_of_another_user_are_refused() {
    const NOBODY: u32 = 65534;
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().join("c");
    run_hold(&cache_dir, dir.path());
    let [entry] = entries(&cache_dir).try_into().expect("one entry");
    // Only root may give a file away.
    if let Err(err) = std::os::unix::fs::chown(&entry, Some(NOBODY), None) {
        assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied, "{err}");
        eprintln!("skipped: giving a file to another user needs root");
        return;
    }
    let output = run_hold(&cache_dir, dir.path());
    let message = stderr(&output);
    assert!(
        message.contains(&format!("owned by user {NOBODY}"))
            && message.contains("compiling afresh"),
        "{message}"
    );
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&entry).unwrap());
    assert_ne!(owner, NOBODY, "the entry was rewritten as this user's");

    std::os::unix::fs::chown(&cache_dir, Some(NOBODY), None).unwrap();
    let output = run_hold(&cache_dir, dir.path());
    let message = stderr(&output);
    assert_eq!(message.lines().count(), 1, "one line: {message}");
    assert!(
        message.contains("not using the compile cache") && message.contains("must belong to you"),
        "{message}"
    );
}
