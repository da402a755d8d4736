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
