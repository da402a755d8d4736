//! Locking a `std::fs::File` (or anything with a file descriptor) through
//! the handle layer: [`FileLockExt`] and [`with_descriptor`].
//!
//! On `wasm32-wasip2`, std's `File::lock` returns `Unsupported` without
//! asking anyone, and fs4's `FileExt` does not exist for WASI. Yet a
//! `std::fs::File` *is* a `wasi:filesystem` descriptor underneath: its file
//! descriptor is an entry of wasi-libc's descriptor table, and the entry
//! holds the descriptor handle. [`with_descriptor`] borrows that handle for
//! the length of one call (wasi-libc owns it and closes it with the file) and
//! [`FileLockExt`] passes it to the handle layer (`descriptor-lock`), so the
//! lock is the host's real lock on the very open file std reads and writes.
//!
//! # The wasi-libc this relies on
//!
//! The descriptor table is private to wasi-libc: `descriptor_table_get_ref`
//! is a plain symbol of the target's `libc.a`, and an entry is a `{ data,
//! vtable }` pair whose vtable's sixth slot is `get_file`. That holds for the
//! wasi-libc of wasi-sdk 29 to 33; Rust 1.95's `wasm32-wasip2` target bundles
//! wasi-sdk 30. The build script reads the version out of the `libc.a` rustc
//! links and refuses any other (`PORTALOCKER_WASI_SDK_VERSION` states it for
//! a libc of your own). Older wasi-libc had another entry layout under the
//! same symbol (the link then warns of a signature mismatch and the call
//! traps); newer wasi-libc hides the symbol, so linking fails. Neither can
//! misbehave quietly.

use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::Duration;

use wasip2::filesystem::types::Descriptor;

use crate::{Error, ErrorKind, Mode};

/// wasi-libc's descriptor table, as declared in its private
/// `headers/private/wasi/descriptor_table.h` (wasi-sdk 29 to 33).
mod wasi_libc {
    use std::ffi::{c_int, c_void};

    /// `descriptor_table_entry_t`: a "fat pointer" to the descriptor's state
    /// and its operations.
    #[repr(C)]
    pub struct Entry {
        /// The descriptor-specific state passed to every vtable function.
        pub data: *mut c_void,
        /// The descriptor's operations.
        pub vtable: *const Vtable,
    }

    /// The leading slots of `descriptor_vtable_t`, up to `get_file`; the
    /// slots after it are never read.
    #[repr(C)]
    pub struct Vtable {
        /// `free`.
        pub free: *const c_void,
        /// `get_read_stream`.
        pub get_read_stream: *const c_void,
        /// `get_write_stream`.
        pub get_write_stream: *const c_void,
        /// `set_blocking`.
        pub set_blocking: *const c_void,
        /// `fstat`.
        pub fstat: *const c_void,
        /// `get_file`: stores a borrow of the `wasi:filesystem` descriptor
        /// in its second argument; 0 on success, -1 with `errno` otherwise.
        /// `NULL` for objects that are not files (sockets, stdio).
        pub get_file: Option<unsafe extern "C" fn(*mut c_void, *mut u32) -> c_int>,
    }

    unsafe extern "C" {
        /// The entry of `fd`, or `NULL` (with `errno` set) when `fd` is not
        /// open.
        pub fn descriptor_table_get_ref(fd: c_int) -> *mut Entry;
    }
}

/// Calls `f` with the `wasi:filesystem` descriptor behind the file
/// descriptor `fd` (a `std::fs::File`, or anything else that has one),
/// borrowed for the call only.
///
/// wasi-libc owns the descriptor and closes it when `fd` is closed; `f`
/// sees it as a plain [`Descriptor`] reference, and nothing `f` does can
/// close it. Use it to pass a std file to any function that takes a
/// descriptor, such as [`lock`](crate::lock) or the raw WIT bindings.
///
/// # Errors
///
/// [`ErrorKind::BadDescriptor`] when `fd` is no file or directory of
/// wasi-libc's (stdin, stdout and stderr, sockets).
///
/// # Examples
///
/// ```no_run
/// use portalocker_guest::{Mode, std_file::with_descriptor};
///
/// # fn main() -> Result<(), portalocker_guest::Error> {
/// let file = std::fs::File::create("app.lock").expect("create app.lock");
/// // The handle layer's own functions, on the descriptor behind `file`.
/// with_descriptor(&file, |descriptor| portalocker_guest::try_lock(descriptor, Mode::Exclusive))??;
/// # Ok(())
/// # }
/// ```
pub fn with_descriptor<R>(fd: &impl AsFd, f: impl FnOnce(&Descriptor) -> R) -> Result<R, Error> {
    let fd: BorrowedFd<'_> = fd.as_fd();
    let handle = descriptor_handle(fd.as_raw_fd())?;
    // SAFETY: `handle` is wasi-libc's own handle of the descriptor behind
    // `fd`, which stays open while `fd` is borrowed (this function's whole
    // run: guests on wasip2 have one thread). `ManuallyDrop` keeps the
    // handle from being dropped here: wasi-libc drops it when it closes `fd`.
    let descriptor = ManuallyDrop::new(unsafe { Descriptor::from_handle(handle) });
    Ok(f(&descriptor))
}

/// wasi-libc's handle of the `wasi:filesystem` descriptor behind `fd`.
fn descriptor_handle(fd: std::ffi::c_int) -> Result<u32, Error> {
    let not_a_file = || Error::new(ErrorKind::BadDescriptor, "find the descriptor of", None);
    // SAFETY: a lookup in wasi-libc's table; a closed `fd` gives NULL.
    let entry = unsafe { wasi_libc::descriptor_table_get_ref(fd) };
    // SAFETY: a non-null entry points into the table, whose vtables are
    // static; the layout is the one the build script checked the libc for.
    let get_file = unsafe { entry.as_ref() }
        .and_then(|entry| unsafe { entry.vtable.as_ref() }.map(|vtable| (entry, vtable)))
        .and_then(|(entry, vtable)| vtable.get_file.map(|get_file| (entry.data, get_file)));
    let Some((data, get_file)) = get_file else {
        return Err(not_a_file());
    };
    let mut handle = 0u32;
    // SAFETY: `get_file(data, &out)` as wasi-libc calls it: it stores a
    // borrow handle in `out` and returns 0, or returns -1.
    if unsafe { get_file(data, &mut handle) } != 0 || handle == 0 {
        return Err(not_a_file());
    }
    Ok(handle)
}

/// Advisory locks on a `std::fs::File` (or anything with a file descriptor),
/// taken by the host on the open file, like `flock(2)`.
///
/// The locks are those of the handle layer ([`lock`](crate::lock),
/// [`try_lock`](crate::try_lock), …) on the descriptor behind the file: they
/// belong to the open file, exclude other guests, other hosts and native
/// `flock(2)` users, and go away with [`unlock_file`](Self::unlock_file) or
/// when the file is closed (dropped). Two `File`s opened separately on the
/// same path conflict like two processes do.
///
/// # Why these names
///
/// Since Rust 1.89 `File` has inherent `lock`, `lock_shared`, `try_lock`,
/// `try_lock_shared` and `unlock`, and an inherent method always wins over a
/// trait method of the same name: `file.lock()` would call std's, which
/// returns `Unsupported` on WASI. So every method here ends in `_file` and
/// takes the [`Mode`], and none can be shadowed. fs4's names, for code
/// that calls them as `FileExt::lock(&file)`, are in [`crate::fs4`].
///
/// # Examples
///
/// ```no_run
/// use std::fs::File;
/// use std::io::Write;
/// use std::time::Duration;
///
/// use portalocker_guest::{FileLockExt, Mode};
///
/// # fn main() -> std::io::Result<()> {
/// let mut log = File::options().append(true).create(true).open("app.log")?;
/// log.lock_file(Mode::Exclusive)?;
/// writeln!(log, "one writer at a time")?;
/// log.unlock_file()?;
///
/// let config = File::open("config.toml")?;
/// match config.lock_file_timeout(Mode::Shared, Duration::from_secs(1)) {
///     Ok(()) => println!("reading under a shared lock"),
///     Err(e) if e.is_timeout() => println!("a writer holds it"),
///     Err(e) => return Err(e.into()),
/// }
/// # Ok(())
/// # }
/// ```
pub trait FileLockExt {
    /// Locks the open file in `mode`, waiting as long as another holder has
    /// it in a conflicting mode. A lock already held through this open file
    /// is converted to `mode` (not atomically, as with `flock(2)`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BadDescriptor`] for stdio and sockets, and the errors of
    /// [`lock`](crate::lock).
    fn lock_file(&self, mode: Mode) -> Result<(), Error>;

    /// Locks the open file in `mode`, waiting at most `timeout`; a zero
    /// `timeout` makes one attempt.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TimedOut`] once `timeout` has passed (no lock is held
    /// then), [`ErrorKind::AlreadyLocked`] when `timeout` is zero and the
    /// lock is held elsewhere, and the errors of [`lock_file`](Self::lock_file).
    fn lock_file_timeout(&self, mode: Mode, timeout: Duration) -> Result<(), Error>;

    /// Locks the open file in `mode` if that is possible at once; never
    /// waits.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::AlreadyLocked`] (an [`std::io::Error`] of kind
    /// `WouldBlock`) when it is held elsewhere in a conflicting mode, and the
    /// errors of [`lock_file`](Self::lock_file).
    fn try_lock_file(&self, mode: Mode) -> Result<(), Error>;

    /// Releases the lock held through the open file; not an error when none
    /// is held.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BadDescriptor`] for stdio and sockets,
    /// [`ErrorKind::Io`] for other failures.
    fn unlock_file(&self) -> Result<(), Error>;
}

impl<T: AsFd> FileLockExt for T {
    fn lock_file(&self, mode: Mode) -> Result<(), Error> {
        with_descriptor(self, |d| crate::lock(d, mode))?
    }

    fn lock_file_timeout(&self, mode: Mode, timeout: Duration) -> Result<(), Error> {
        with_descriptor(self, |d| crate::lock_timeout(d, mode, timeout))?
    }

    fn try_lock_file(&self, mode: Mode) -> Result<(), Error> {
        with_descriptor(self, |d| crate::try_lock(d, mode))?
    }

    fn unlock_file(&self) -> Result<(), Error> {
        with_descriptor(self, crate::unlock)?
    }
}

/// The wasi-sdk major version whose wasi-libc this build was checked
/// against (see the [module documentation](self)).
///
/// # Examples
///
/// ```
/// assert!((29..=33).contains(&portalocker_guest::std_file::wasi_sdk_version()));
/// ```
pub fn wasi_sdk_version() -> u32 {
    env!("PORTALOCKER_WASI_SDK_MAJOR")
        .parse()
        .expect("the build script writes a number")
}
