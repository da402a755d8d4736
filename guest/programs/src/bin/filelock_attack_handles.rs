//! `filelock_attack_handles CASE`
//!
//! Forges resource handles with wit-bindgen's unsafe `from_handle` and passes
//! them to the lock interfaces. The component model checks every handle
//! against the instance's own handle table, so each case must end in a trap
//! (never a host panic, never an effect on another instance's resources).
//! Prints `calling` just before the forged call; returning from it panics
//! (which traps too, but prints `not trapped` first).
//!
//! Cases: `bogus-descriptor` (handle 12345 as a descriptor),
//! `dropped-descriptor` (the handle of a descriptor already dropped),
//! `wrong-type` (a pollable's handle as a descriptor), `bogus-file-lock`,
//! `dropped-file-lock` (the handle of a released and dropped lock),
//! `double-drop` (two owners of one `file-lock`, both dropped),
//! `bogus-dir` (handle 777 as the directory of `file-lock.acquire`).

use portalocker_guest::wit::descriptor_lock;
use portalocker_guest::wit::path_lock::FileLock;
use portalocker_guest::wit::types::{LockMode, LockOptions};
use portalocker_guest::{Lock, preopens};
use portalocker_programs::{args, flush};
use wasip2::clocks::monotonic_clock::subscribe_duration;
use wasip2::filesystem::types::Descriptor;

fn calling() {
    println!("calling");
    flush();
}

fn returned(what: &str) -> ! {
    println!("not trapped");
    flush();
    panic!("{what} returned instead of trapping");
}

fn main() {
    let [case] = args()
        .try_into()
        .expect("usage: filelock_attack_handles CASE");
    match case.as_str() {
        "bogus-descriptor" => {
            // SAFETY: deliberately wrong; the host must trap, not trust it.
            let forged = unsafe { Descriptor::from_handle(12345) };
            calling();
            let _ = descriptor_lock::try_lock(&forged, LockMode::Exclusive);
            returned("try-lock on handle 12345");
        }
        "dropped-descriptor" => {
            let file = preopens::open_file("x.lock", true, true).expect("open");
            let handle = file.handle();
            // Nothing may get a handle between the drop and the forged call.
            calling();
            drop(file);
            // SAFETY: deliberately dangling.
            let forged = unsafe { Descriptor::from_handle(handle) };
            let _ = descriptor_lock::lock(&forged, LockMode::Exclusive, None);
            returned("lock on a dropped descriptor");
        }
        "wrong-type" => {
            let pollable = subscribe_duration(1_000_000_000);
            // SAFETY: deliberately of the wrong type.
            let forged = unsafe { Descriptor::from_handle(pollable.handle()) };
            calling();
            let _ = descriptor_lock::try_lock(&forged, LockMode::Shared);
            returned("try-lock on a pollable");
        }
        "bogus-file-lock" => {
            // SAFETY: deliberately wrong.
            let forged = unsafe { FileLock::from_handle(4242) };
            calling();
            let _ = forged.release();
            returned("release of handle 4242");
        }
        "dropped-file-lock" => {
            let guard = Lock::new("x.lock").acquire().expect("acquire");
            let handle = guard.as_file_lock().handle();
            calling();
            drop(guard);
            // SAFETY: deliberately dangling.
            let forged = unsafe { FileLock::from_handle(handle) };
            let _ = forged.is_held();
            returned("is-held of a dropped lock");
        }
        "double-drop" => {
            let (dir, relative) = preopens::resolve("x.lock").expect("resolve");
            let options = LockOptions {
                mode: LockMode::Exclusive,
                timeout: None,
                create: true,
                write: true,
                truncate: false,
                append: false,
            };
            let lock = FileLock::acquire(&dir, &relative, options).expect("acquire");
            // SAFETY: deliberately a second owner of the same handle.
            let alias = unsafe { FileLock::from_handle(lock.handle()) };
            // Nothing may get a handle between the two drops.
            calling();
            drop(lock);
            drop(alias);
            returned("the second drop of one lock");
        }
        "bogus-dir" => {
            // SAFETY: deliberately wrong.
            let forged = unsafe { Descriptor::from_handle(777) };
            let options = LockOptions {
                mode: LockMode::Exclusive,
                timeout: None,
                create: true,
                write: true,
                truncate: true,
                append: false,
            };
            calling();
            let _ = FileLock::acquire(&forged, "x.lock", options);
            returned("acquire in handle 777");
        }
        other => panic!("unknown case {other:?}"),
    }
}
