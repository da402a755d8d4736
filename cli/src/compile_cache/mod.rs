//! A cache of compiled components on disk, so that a large guest (a Python
//! or JavaScript component embeds a whole interpreter) is compiled once, not
//! on every run.
//!
//! wasmtime's [`Component::deserialize`] runs whatever machine code it is
//! given, so nothing reaches it unchecked:
//!
//! - an entry's name is a SHA-256 of the component's bytes and of the
//!   engine's compatibility settings ([`Engine::precompile_compatibility_hash`]);
//! - each entry starts with a header ([`entry`]) naming that key and the
//!   SHA-256 of the compiled bytes, and is only deserialized when both match
//!   (bit rot, a damaged write, or another component's entry copied over it
//!   is compiled afresh instead, with one line on stderr);
//! - the directory is opened without following a symbolic link and checked
//!   to be private (the user's, writable by nobody else, under directories
//!   nobody else can rename it in), and entries are reached relative to it,
//!   each a regular file of the user's, mode 0600, with one link (opened
//!   without blocking, so a FIFO is refused, not waited on) ([`private`]);
//!   a directory that fails a check is refused as a whole.
//!
//! Entries are written under a temporary name and renamed into place, so a
//! reader never sees half an entry.

mod entry;
#[cfg_attr(unix, path = "unix.rs")]
#[cfg_attr(not(unix), path = "portable.rs")]
mod private;

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use cap_primitives::fs::{FollowSymlinks, OpenOptions};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

pub use self::entry::EntryProblem;
pub use self::private::Refusal;

/// A directory of compiled components, opened and checked.
#[derive(Debug)]
pub struct CompileCache {
    path: PathBuf,
    dir: File,
    /// Whether a problem with an entry was reported on stderr already.
    reported: AtomicBool,
}

impl CompileCache {
    /// Opens the cache in `dir`, creating it (and its missing parents)
    /// readable and writable by this user only when it is missing.
    ///
    /// # Errors
    ///
    /// A [`Refusal`] when the directory cannot be created or opened, or (on
    /// Unix) when it is a symbolic link, belongs to another user, or others
    /// may write to it or to a directory above it (without the sticky bit):
    /// compiled code from such a directory could have been planted.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, Refusal> {
        let path = dir.into();
        let dir = private::open_dir(&path)?;
        Ok(CompileCache {
            path,
            dir,
            reported: AtomicBool::new(false),
        })
    }

    /// The default cache directory: `$PORTALOCKER_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/portalocker`, else `$HOME/.cache/portalocker`; `None`
    /// when none of them is set.
    pub fn default_dir() -> Option<PathBuf> {
        let var = |name| std::env::var_os(name).filter(|value| !value.is_empty());
        var("PORTALOCKER_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| var("XDG_CACHE_HOME").map(|dir| PathBuf::from(dir).join("portalocker")))
            .or_else(|| var("HOME").map(|home| PathBuf::from(home).join(".cache/portalocker")))
    }

    /// The directory the cache keeps its entries in.
    pub fn dir(&self) -> &Path {
        &self.path
    }

    /// The component `bytes` compiled for `engine`: loaded from the cache
    /// when an earlier call compiled it and its entry checks out, compiled
    /// (and stored, best effort) otherwise. The first entry that does not
    /// check out is reported on stderr, in one line.
    ///
    /// # Errors
    ///
    /// When `bytes` is not a valid component for `engine`.
    pub fn component(&self, engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Component> {
        let (component, problem) = self.load(engine, bytes)?;
        if let Some(problem) = problem
            && !self.reported.swap(true, Ordering::Relaxed)
        {
            eprintln!("warning: compile cache: {problem}; compiling afresh");
        }
        Ok(component)
    }

    /// [`component`](Self::component), returning the problem with the entry
    /// instead of reporting it.
    ///
    /// # Errors
    ///
    /// When `bytes` is not a valid component for `engine`.
    pub fn load(
        &self,
        engine: &Engine,
        bytes: &[u8],
    ) -> wasmtime::Result<(Component, Option<EntryProblem>)> {
        let key = key(engine, bytes);
        let name = entry::file_name(&key);
        let problem = match self.read(&name) {
            Ok(None) => None,
            Ok(Some(stored)) => match entry::verify(&stored, &key) {
                Ok(compiled) => {
                    // SAFETY: `compiled` is what `Engine::precompile_component`
                    // of an engine with the same compatibility hash made of
                    // these very bytes (the key, checked in the header, covers
                    // both), and its SHA-256 matches the one stored when it
                    // was written into this private directory.
                    match unsafe { Component::deserialize(engine, compiled) } {
                        Ok(component) => return Ok((component, None)),
                        Err(err) => Some(EntryProblem::Refused {
                            entry: name.clone(),
                            reason: format!("{err:#}"),
                        }),
                    }
                }
                Err(problem) => Some(problem.with_entry(&name)),
            },
            Err(problem) => Some(problem),
        };
        let compiled = engine.precompile_component(bytes)?;
        if let Err(err) = self.store(&name, &entry::encode(&key, &compiled)) {
            eprintln!(
                "warning: compile cache: cannot store `{}` in `{}`: {err}",
                name,
                self.path.display()
            );
        }
        // SAFETY: `compiled` was produced just now by this engine.
        let component = unsafe { Component::deserialize(engine, &compiled) }?;
        Ok((component, problem))
    }

    /// The bytes of the entry `name`, if there is one; a problem when it is
    /// not a file this cache may trust.
    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, EntryProblem> {
        let mut options = OpenOptions::new();
        options.read(true)._cap_fs_ext_follow(FollowSymlinks::No);
        private::without_blocking(&mut options);
        let mut file = match cap_primitives::fs::open(&self.dir, Path::new(name), &options) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => {
                return Err(EntryProblem::Unreadable {
                    entry: name.to_owned(),
                    reason: err.to_string(),
                });
            }
        };
        private::check_entry(&file).map_err(|reason| EntryProblem::Untrusted {
            entry: name.to_owned(),
            reason,
        })?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|err| EntryProblem::Unreadable {
                entry: name.to_owned(),
                reason: err.to_string(),
            })?;
        Ok(Some(bytes))
    }

    /// Writes `contents` as the entry `name`: under a temporary name created
    /// exclusively (mode 0600), then renamed into place.
    fn store(&self, name: &str, contents: &[u8]) -> io::Result<()> {
        let mut random = [0; 8];
        getrandom::fill(&mut random).map_err(|err| io::Error::other(err.to_string()))?;
        let partial = PathBuf::from(format!(".{name}.{:016x}.tmp", u64::from_ne_bytes(random)));
        let mut options = OpenOptions::new();
        options
            .write(true)
            .create_new(true)
            ._cap_fs_ext_follow(FollowSymlinks::No);
        private::private_file(&mut options);
        let mut file = cap_primitives::fs::open(&self.dir, &partial, &options)?;
        let written = file.write_all(contents).and_then(|()| {
            cap_primitives::fs::rename(&self.dir, &partial, &self.dir, Path::new(name))
        });
        if written.is_err() {
            let _ = cap_primitives::fs::remove_file(&self.dir, &partial);
        }
        written
    }
}

/// The cache key of `bytes` compiled by `engine`: a SHA-256 of the engine's
/// compatibility hash and of the component's own SHA-256.
fn key(engine: &Engine, bytes: &[u8]) -> [u8; 32] {
    use std::hash::Hash;
    let mut hasher = Sha256Hasher(Sha256::new());
    hasher.0.update(b"portalocker compile cache 1\0");
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hasher.0.update(Sha256::digest(bytes));
    hasher.0.finalize().into()
}

/// Feeds what a [`std::hash::Hash`] implementation writes into a SHA-256.
struct Sha256Hasher(Sha256);

impl std::hash::Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        // Only the bytes written matter here; the key is `finalize`d.
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUEST: &str = "(component (core module (func (export \"f\"))))";
    const OTHER: &str = "(component (core module (func (export \"g\"))))";

    fn entries(cache: &CompileCache) -> Vec<PathBuf> {
        std::fs::read_dir(cache.dir())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect()
    }

    #[test]
    fn a_second_compile_loads_the_entry() {
        let engine = Engine::default();
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::open(dir.path().join("cache")).unwrap();
        let (_, problem) = cache.load(&engine, GUEST.as_bytes()).unwrap();
        assert!(problem.is_none());
        assert_eq!(
            entries(&cache).len(),
            1,
            "one entry, no temporary left behind"
        );
        let (_, problem) = cache.load(&engine, GUEST.as_bytes()).unwrap();
        assert!(problem.is_none());
        assert_eq!(entries(&cache).len(), 1);
    }

    #[test]
    fn keys_tell_components_apart() {
        let engine = Engine::default();
        assert_eq!(
            key(&engine, GUEST.as_bytes()),
            key(&engine, GUEST.as_bytes())
        );
        assert_ne!(
            key(&engine, GUEST.as_bytes()),
            key(&engine, OTHER.as_bytes())
        );
    }

    #[test]
    fn a_damaged_entry_is_compiled_again() {
        let engine = Engine::default();
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::open(dir.path()).unwrap();
        cache.load(&engine, GUEST.as_bytes()).unwrap();
        let [entry] = <[PathBuf; 1]>::try_from(entries(&cache)).unwrap();
        let mut bytes = std::fs::read(&entry).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&entry, &bytes).unwrap();
        let (_, problem) = cache.load(&engine, GUEST.as_bytes()).unwrap();
        assert!(
            matches!(problem, Some(EntryProblem::Damaged { .. })),
            "{problem:?}"
        );
        let (_, problem) = cache.load(&engine, GUEST.as_bytes()).unwrap();
        assert!(problem.is_none(), "rewritten: {problem:?}");
    }

    #[test]
    fn an_entry_of_another_component_is_refused() {
        let engine = Engine::default();
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::open(dir.path()).unwrap();
        cache.load(&engine, GUEST.as_bytes()).unwrap();
        let [guest] = <[PathBuf; 1]>::try_from(entries(&cache)).unwrap();
        cache.load(&engine, OTHER.as_bytes()).unwrap();
        let other = entries(&cache).into_iter().find(|e| *e != guest).unwrap();
        std::fs::copy(&other, &guest).unwrap();
        let (_, problem) = cache.load(&engine, GUEST.as_bytes()).unwrap();
        assert!(
            matches!(problem, Some(EntryProblem::Mismatched { .. })),
            "{problem:?}"
        );
    }

    #[test]
    fn invalid_components_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::open(dir.path()).unwrap();
        assert!(cache.component(&Engine::default(), b"nonsense").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_others_may_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = CompileCache::open(dir.path()).unwrap_err();
        assert!(matches!(err, Refusal::NotPrivate { .. }), "{err}");
    }
}
