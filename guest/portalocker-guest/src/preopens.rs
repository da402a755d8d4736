//! Resolving guest paths against the preopened directories, as wasi-libc does
//! for `std::fs`.
//!
//! A guest reaches files only through the directories the host preopened for
//! it, each with a guest name such as `/` or `/data`. [`resolve`] turns a guest
//! path into one of those directory descriptors plus a path relative to it:
//!
//! 1. a relative path is relative to `/` (the initial working directory);
//! 2. the path is normalized lexically: empty and `.` components (duplicate
//!    slashes, `./`) are dropped; `..` components stay, for the host to judge
//!    (one that leaves the directory is [`ErrorKind::BadPath`]);
//! 3. the preopen whose name (normalized the same way, `.` meaning `/`) is the
//!    longest prefix of the path at a component boundary is chosen (on a tie,
//!    the last one listed);
//! 4. the rest of the path is the relative path, or `.` when nothing is left.
//!
//! [`resolve_in`] is the same logic as a pure function of the preopen names.

use wasip2::filesystem::preopens::get_directories;
use wasip2::filesystem::types::{Descriptor, DescriptorFlags, ErrorCode, OpenFlags, PathFlags};

use crate::{Error, ErrorKind};

/// Resolves the guest path `path` to a preopened directory descriptor and a
/// path relative to it (see the [module documentation](self) for the rules).
///
/// # Errors
///
/// [`ErrorKind::BadPath`] when `path` is empty or no preopened directory
/// contains it.
///
/// # Examples
///
/// ```no_run
/// use portalocker_guest::preopens;
///
/// # fn main() -> Result<(), portalocker_guest::Error> {
/// // With the preopens "/" and "/data":
/// let (dir, relative) = preopens::resolve("/data/./cache.json")?;
/// assert_eq!(relative, "cache.json");
/// # drop(dir);
/// # Ok(())
/// # }
/// ```
pub fn resolve(path: &str) -> Result<(Descriptor, String), Error> {
    let mut directories = get_directories();
    let (index, relative) = resolve_in(directories.iter().map(|(_, name)| name.as_str()), path)?;
    let (dir, _) = directories.swap_remove(index);
    Ok((dir, relative))
}

/// Resolves the guest path `path` among preopened directories named
/// `preopens` (in the order the host lists them), returning the index of the
/// chosen one and the path relative to it. This is the pure logic behind
/// [`resolve`].
///
/// # Errors
///
/// [`ErrorKind::BadPath`] when `path` is empty or no preopen contains it.
///
/// # Examples
///
/// ```
/// use portalocker_guest::preopens::resolve_in;
///
/// # fn main() -> Result<(), portalocker_guest::Error> {
/// let preopens = ["/", "/data"];
/// assert_eq!(resolve_in(preopens, "data/x")?, (1, "x".to_owned()));
/// assert_eq!(resolve_in(preopens, "/data/./y")?, (1, "y".to_owned()));
/// assert_eq!(resolve_in(preopens, "datax/z")?, (0, "datax/z".to_owned()));
/// assert_eq!(resolve_in(preopens, "/data")?, (1, ".".to_owned()));
/// assert_eq!(resolve_in(["."], "x")?, (0, "x".to_owned()));
/// # Ok(())
/// # }
/// ```
pub fn resolve_in<I>(preopens: I, path: &str) -> Result<(usize, String), Error>
where
    I: IntoIterator,
    I::Item: AsRef<str>,
{
    if path.is_empty() {
        return Err(Error::new(ErrorKind::BadPath, "resolve", Some(path)).with_detail("empty path"));
    }
    let wanted: Vec<&str> = components(path).collect();
    let mut best: Option<(usize, usize)> = None;
    for (index, name) in preopens.into_iter().enumerate() {
        let prefix: Vec<&str> = components(name.as_ref()).collect();
        let matches =
            wanted.len() >= prefix.len() && wanted.iter().zip(&prefix).all(|(a, b)| a == b);
        if matches && best.is_none_or(|(_, len)| prefix.len() >= len) {
            best = Some((index, prefix.len()));
        }
    }
    let Some((index, len)) = best else {
        return Err(Error::new(ErrorKind::BadPath, "resolve", Some(path))
            .with_detail("no preopened directory contains it"));
    };
    let relative = if len == wanted.len() {
        ".".to_owned()
    } else {
        wanted[len..].join("/")
    };
    Ok((index, relative))
}

/// The components of `path` after lexical normalization: without empty
/// components (leading, trailing or duplicate slashes) and `.`.
fn components(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|c| !c.is_empty() && *c != ".")
}

/// Opens the file at the guest path `path` through the preopened directories,
/// for use with the handle layer ([`lock`](crate::lock) and friends).
///
/// The file is opened for reading, and for writing too when `write` is true;
/// it is created (empty) when it does not exist and `create` is true. Symbolic
/// links are followed, within the sandbox of the preopened directory. Each
/// call opens a new open file, so two calls on the same path give two
/// descriptors whose locks conflict with each other.
///
/// # Errors
///
/// [`ErrorKind::BadPath`] as [`resolve`]; [`ErrorKind::NotFound`] when the
/// file does not exist and `create` is false; [`ErrorKind::Io`] with the
/// `wasi:filesystem` error code of any other failure of `open-at`.
///
/// # Examples
///
/// ```no_run
/// use portalocker_guest::{Mode, lock, preopens};
///
/// # fn main() -> Result<(), portalocker_guest::Error> {
/// let file = preopens::open_file("/data/app.lock", true, true)?;
/// lock(&file, Mode::Exclusive)?;
/// # Ok(())
/// # }
/// ```
pub fn open_file(path: &str, create: bool, write: bool) -> Result<Descriptor, Error> {
    let (dir, relative) = resolve(path)?;
    let open_flags = if create {
        OpenFlags::CREATE
    } else {
        OpenFlags::empty()
    };
    let flags = if write {
        DescriptorFlags::READ | DescriptorFlags::WRITE
    } else {
        DescriptorFlags::READ
    };
    dir.open_at(PathFlags::SYMLINK_FOLLOW, &relative, open_flags, flags)
        .map_err(|code| {
            let kind = match code {
                ErrorCode::NoEntry => ErrorKind::NotFound,
                code => ErrorKind::Io(code),
            };
            Error::new(kind, "open", Some(path))
        })
}
