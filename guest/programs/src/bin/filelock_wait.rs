//! `filelock_wait PATH LAYER`
//!
//! The host holds a native exclusive lock on `PATH` and releases it after a
//! few hundred milliseconds. Waits as long as it takes for an exclusive lock
//! through `LAYER` (`path` or `handle`), prints `acquired elapsed_ms=<n>`,
//! replaces the file's content with `guest`, releases, and prints `ok`.

use std::time::Instant;

use portalocker_guest::{Lock, Mode, lock, preopens, unlock};
use portalocker_programs::{args, elapsed_ms, flush, overwrite, read_all};

fn main() {
    let [path, layer] = args()
        .try_into()
        .expect("usage: filelock_wait PATH path|handle");
    match layer.as_str() {
        "path" => {
            let start = Instant::now();
            let mut guard = Lock::new(path.as_str())
                .exclusive()
                .wait_forever()
                .acquire()
                .expect("acquire");
            println!("acquired elapsed_ms={}", elapsed_ms(start));
            flush();
            guard.set_contents(b"guest").expect("write guest");
            assert_eq!(guard.contents().expect("read back"), b"guest");
            guard.release().expect("release");
        }
        "handle" => {
            let file = preopens::open_file(&path, true, true).expect("open");
            let start = Instant::now();
            lock(&file, Mode::Exclusive).expect("lock");
            println!("acquired elapsed_ms={}", elapsed_ms(start));
            flush();
            overwrite(&file, b"guest");
            assert_eq!(read_all(&file), b"guest");
            unlock(&file).expect("unlock");
        }
        other => panic!("LAYER is `path` or `handle`, not {other:?}"),
    }
    println!("ok");
}
