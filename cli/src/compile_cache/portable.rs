//! Systems without Unix ownership and modes: the cache directory is
//! created and opened, and its entries are trusted as far as their digests
//! and keys go.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use cap_primitives::fs::OpenOptions;

/// Why a cache directory is not used.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The directory could not be created or opened.
    #[error("cannot open `{}`: {source}", path.display())]
    Open {
        /// The directory.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
}

/// Creates and opens the cache directory `dir`.
pub(super) fn open_dir(dir: &Path) -> Result<File, Refusal> {
    let open_error = |source| Refusal::Open {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(open_error)?;
    cap_primitives::fs::open_ambient_dir(dir, cap_primitives::ambient_authority())
        .map_err(open_error)
}

/// Entries are not checked beyond their contents here.
pub(super) fn check_entry(_file: &File) -> Result<(), String> {
    Ok(())
}

/// New entries get the default permissions here.
pub(super) fn private_file(_options: &mut OpenOptions) {}

/// Opening an entry cannot block here.
pub(super) fn without_blocking(_options: &mut OpenOptions) {}
