//! `filelock_queue_order PATH NAME`: waits for an exclusive handle-layer lock
//! on PATH, then appends the line NAME to `order.txt` while holding it, keeps
//! it 20 ms and releases. Several started one after another show the order in
//! which the host served them.

use std::time::Duration;

use portalocker_guest::{Mode, lock, preopens, unlock};
use portalocker_programs::{args, fail, overwrite, read_all, usage};

fn main() {
    let [path, name] = args()
        .try_into()
        .unwrap_or_else(|_| usage("filelock_queue_order PATH NAME", "two arguments"));
    let file = preopens::open_file(&path, true, true).unwrap_or_else(|err| fail(&err));
    lock(&file, Mode::Exclusive).unwrap_or_else(|err| fail(&err));
    let order = preopens::open_file("order.txt", true, true).unwrap_or_else(|err| fail(&err));
    let mut lines = read_all(&order);
    lines.extend_from_slice(format!("{name}\n").as_bytes());
    overwrite(&order, &lines);
    std::thread::sleep(Duration::from_millis(20));
    unlock(&file).unwrap_or_else(|err| fail(&err));
    println!("ok");
}
