//! Temporary files next to a target, as atomic writes and PID files use
//! them: named `.NAME.RANDOM.tmp`, where RANDOM is 64 bits from the
//! operating system's random number generator (names nobody can predict, so
//! writers in other PID namespaces and files left by crashed writers never
//! collide with them), and NAME the target's name, shortened so that the
//! whole name fits the 255 bytes file systems allow for one name. Created
//! exclusively (`O_EXCL`): an existing file is never opened as one's own.

use std::fs::File;
use std::path::{Path, PathBuf};

use cap_primitives::fs::{FollowSymlinks, OpenOptions};

use crate::bindings::portalocker::filelock::types::LockError;
use crate::error::open_error;

/// The longest name of one file, in bytes, on the file systems in use
/// (`NAME_MAX` on Linux; NTFS counts 255 UTF-16 units, never fewer bytes).
const NAME_MAX: usize = 255;

/// How many names a creation tries when the ones it draws exist already.
const ATTEMPTS: u32 = 16;

/// What a temporary name adds to the target's name: `.`, `.`, 16 hex
/// digits, `.tmp`.
const OVERHEAD: usize = 1 + 1 + 16 + 4;

/// A new temporary name for `target`, next to it. `BadPath` when `target`
/// has no file name.
pub(crate) fn next_to(target: &Path) -> Result<PathBuf, LockError> {
    let name = target
        .file_name()
        .and_then(|name| name.to_str())
        .ok_or(LockError::BadPath)?;
    let mut random = [0; 8];
    getrandom::fill(&mut random)
        .map_err(|err| open_error(&std::io::Error::other(err.to_string())))?;
    let random = u64::from_ne_bytes(random);
    Ok(target.with_file_name(format!(
        ".{}.{random:016x}.tmp",
        shortened(name, NAME_MAX - OVERHEAD)
    )))
}

/// The longest start of `name` that fits in `max` bytes, cut at a
/// character boundary.
fn shortened(name: &str, max: usize) -> &str {
    let mut end = name.len().min(max);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// Creates a temporary file for `target` inside `dir`, opened for reading
/// and writing; returns its name and the open file.
pub(crate) fn create(dir: &File, target: &Path) -> Result<(PathBuf, File), LockError> {
    let mut options = OpenOptions::new();
    options
        .read(true)
        .write(true)
        .create_new(true)
        ._cap_fs_ext_follow(FollowSymlinks::No);
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let name = next_to(target)?;
        match cap_primitives::fs::open(dir, &name, &options) {
            Ok(file) => return Ok((name, file)),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => last = Some(err),
            Err(err) => return Err(open_error(&err)),
        }
    }
    Err(open_error(&last.unwrap_or_else(|| {
        std::io::Error::other("no free temporary name")
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_and_differ() {
        for length in [1, 100, 233, 234, 255] {
            let target =
                PathBuf::from("dir").join("é".repeat(length / 2) + &"x".repeat(length % 2));
            let first = next_to(&target).unwrap();
            let second = next_to(&target).unwrap();
            assert_ne!(first, second);
            assert_eq!(first.parent(), target.parent());
            let name = first.file_name().unwrap().to_str().unwrap();
            assert!(name.len() <= NAME_MAX, "{} bytes: {name}", name.len());
            assert!(name.starts_with('.') && name.ends_with(".tmp"), "{name}");
        }
    }

    #[test]
    fn a_name_is_cut_at_a_character_boundary() {
        assert_eq!(shortened("aé", 2), "a");
        assert_eq!(shortened("aé", 3), "aé");
        assert_eq!(shortened("abc", 10), "abc");
    }
}
