//! A cache of compiled components on disk, so that a large guest (a Python
//! or JavaScript component embeds a whole interpreter) is compiled once, not
//! on every run.
//!
//! Loading compiled code trusts the file as much as the host binary itself
//! (wasmtime's [`Component::deserialize_file`] is `unsafe` for that reason),
//! so the cache only uses a directory this user owns and nobody else may
//! write to. Entries are named by a 128-bit hash of the component's bytes
//! and of the engine's compatibility settings, and are written under a
//! temporary name and renamed into place, so a reader never sees half an
//! entry.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io;
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

/// A directory of compiled components.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
}

impl CompileCache {
    /// Opens the cache in `dir`, creating it (readable and writable by this
    /// user only) when it is missing.
    ///
    /// # Errors
    ///
    /// When the directory cannot be created, or (on Unix) when it belongs to
    /// another user or others may write to it: compiled code from such a
    /// directory could have been planted.
    pub fn open(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        create_private_dir(&dir)?;
        check_private(&dir)?;
        Ok(CompileCache { dir })
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
        &self.dir
    }

    /// The component `bytes` compiled for `engine`: loaded from the cache
    /// when an earlier call compiled it, compiled (and stored, best effort)
    /// otherwise.
    ///
    /// # Errors
    ///
    /// When `bytes` is not a valid component for `engine`.
    pub fn component(&self, engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Component> {
        let entry = self.dir.join(format!("{}.cwasm", key(engine, bytes)));
        if entry.is_file() {
            // SAFETY: the entry was written by `store` below from
            // `Engine::precompile_component` of an engine with the same
            // compatibility hash (it is part of the name), into a directory
            // only this user may write to (checked by `open`).
            match unsafe { Component::deserialize_file(engine, &entry) } {
                Ok(component) => return Ok(component),
                Err(err) => {
                    tracing::warn!(?err, entry = %entry.display(), "ignoring a cache entry")
                }
            }
        }
        let compiled = engine.precompile_component(bytes)?;
        if let Err(err) = self.store(&entry, &compiled) {
            tracing::warn!(%err, dir = %self.dir.display(), "cannot store a compiled component");
        }
        // SAFETY: `compiled` was produced just now by this engine.
        unsafe { Component::deserialize(engine, &compiled) }
    }

    /// Writes `compiled` to `entry` under a temporary name, then renames it
    /// into place.
    fn store(&self, entry: &Path, compiled: &[u8]) -> io::Result<()> {
        let mut partial = tempfile::NamedTempFile::new_in(&self.dir)?;
        io::Write::write_all(&mut partial, compiled)?;
        partial.persist(entry)?;
        Ok(())
    }
}

/// The cache key of `bytes` compiled by `engine`: 128 bits, in hex.
fn key(engine: &Engine, bytes: &[u8]) -> String {
    let half = |seed: u64| {
        let mut hasher = DefaultHasher::new();
        seed.hash(&mut hasher);
        engine.precompile_compatibility_hash().hash(&mut hasher);
        bytes.hash(&mut hasher);
        hasher.finish()
    };
    format!("{:016x}{:016x}", half(1), half(2))
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// Checks that `dir` is this user's and that nobody else may write to it.
#[cfg(unix)]
fn check_private(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(dir)?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if metadata.uid() != me || metadata.mode() & 0o022 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "`{}` must belong to this user and be writable by nobody else",
                dir.display()
            ),
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUEST: &str = "(component (core module (func (export \"f\"))))";

    #[test]
    fn a_second_compile_loads_the_entry() {
        let engine = Engine::default();
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::open(dir.path().join("cache")).unwrap();
        cache.component(&engine, GUEST.as_bytes()).unwrap();
        let entries: Vec<_> = std::fs::read_dir(cache.dir()).unwrap().collect();
        assert_eq!(entries.len(), 1, "one entry, no temporary left behind");
        cache.component(&engine, GUEST.as_bytes()).unwrap();
        assert_eq!(std::fs::read_dir(cache.dir()).unwrap().count(), 1);
    }

    #[test]
    #[cfg_attr(
        windows,
        ignore = "under Wine 8 wasmtime cannot map an entry (VirtualProtect to PAGE_READONLY \
                  of the file's view is denied), so every run compiles afresh"
    )]
    fn an_entry_is_loaded_not_compiled_again() {
        let engine = Engine::default();
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::open(dir.path()).unwrap();
        cache.component(&engine, GUEST.as_bytes()).unwrap();
        // An entry is trusted as it is: another compiled component put in
        // its place is what the next call returns.
        let other = "(component (core module (func (export \"g\"))))";
        let planted = engine.precompile_component(other.as_bytes()).unwrap();
        let entry = dir
            .path()
            .join(format!("{}.cwasm", key(&engine, GUEST.as_bytes())));
        std::fs::write(&entry, &planted).unwrap();
        let loaded = cache.component(&engine, GUEST.as_bytes()).unwrap();
        assert!(
            loaded.serialize().unwrap() == planted,
            "the entry was compiled again instead of loaded"
        );
    }

    #[test]
    fn a_damaged_entry_is_compiled_again() {
        let engine = Engine::default();
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::open(dir.path()).unwrap();
        let entry = dir
            .path()
            .join(format!("{}.cwasm", key(&engine, GUEST.as_bytes())));
        std::fs::write(&entry, b"not a compiled component").unwrap();
        cache.component(&engine, GUEST.as_bytes()).unwrap();
        assert!(std::fs::read(&entry).unwrap().len() > 100, "rewritten");
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
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
    }
}
