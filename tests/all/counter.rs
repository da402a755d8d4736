//! No lost updates: guest instances and a native locker increment one file.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};

use portalocker_tests::{Sandbox, guests};

const INSTANCES: usize = 4;
const INCREMENTS: u64 = 50;

#[test]
fn counters_under_the_lock_end_exact() {
    let sandbox = Sandbox::new();
    let path = sandbox.path("count.txt");
    let n = INCREMENTS.to_string();
    let guests: Vec<_> = (0..INSTANCES)
        .map(|_| sandbox.spawn(guests::COUNTER, &["count.txt", &n]))
        .collect();
    // This process increments too, under a native flock on its own open file.
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .unwrap();
    for _ in 0..INCREMENTS {
        fs4::FileExt::lock(&file).unwrap();
        let mut text = String::new();
        file.seek(SeekFrom::Start(0)).unwrap();
        file.read_to_string(&mut text).unwrap();
        let value: u64 = text.trim().parse().unwrap_or(0);
        file.seek(SeekFrom::Start(0)).unwrap();
        file.set_len(0).unwrap();
        write!(file, "{}", value + 1).unwrap();
        fs4::FileExt::unlock(&file).unwrap();
    }
    for guest in guests {
        guest.join().unwrap().assert_success();
    }
    let total: u64 = std::fs::read_to_string(&path)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(total, (INSTANCES as u64 + 1) * INCREMENTS);
}

#[test]
fn a_counter_file_that_holds_no_number_is_a_clear_error() {
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.path("count.txt"), "abc").unwrap();
    let run = sandbox.run(guests::COUNTER, &["count.txt", "1"]);
    assert!(!run.trapped(), "the counter trapped: {run:?}");
    run.assert_code(1).assert_line("error: not-a-number");
    assert!(run.stderr().contains("\"abc\""), "{}", run.stderr());
    assert_eq!(
        std::fs::read_to_string(sandbox.path("count.txt")).unwrap(),
        "abc"
    );
}

#[test]
fn a_counter_at_its_maximum_does_not_wrap() {
    let sandbox = Sandbox::new();
    let max = u64::MAX.to_string();
    std::fs::write(sandbox.path("count.txt"), &max).unwrap();
    let run = sandbox.run(guests::COUNTER, &["count.txt", "1"]);
    run.assert_code(1).assert_line("error: overflow");
    assert_eq!(
        std::fs::read_to_string(sandbox.path("count.txt")).unwrap(),
        max
    );
}
