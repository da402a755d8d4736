//! The WIT interface `pid-lock`: portalocker's `PidFileLock`, an exclusive
//! lock that also publishes who holds it.
//!
//! The lock is a plain lock on the file at the path (so native `flock(1)` and
//! other guests see it). The holder's identity is written into the locked
//! file as a small text record (see the WIT `pid-lock` docs for the format):
//! truncated, then written in a single write, and ended by an `end` line, so
//! a reader either finds a complete record or knows it found none. Release
//! empties the file before unlocking it.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use wasmtime::component::Resource;
use wasmtime_wasi::filesystem::Descriptor;

use crate::bindings::portalocker::filelock::pid_lock::{self, HostPidFileLock};
use crate::bindings::portalocker::filelock::types::{
    Holder, LockError, LockMode, LockOptions, LockState, PidLockError,
};
use crate::ctx::FileLockCtxView;
use crate::error::{LockFailure, PidLockFailure, file_error};
use crate::open::{self, OpenRequest};
use crate::path_lock::FileLock;
use crate::wait;

/// The longest label a holder may publish, in bytes.
pub(crate) const MAX_LABEL_LEN: usize = 256;

/// The most of a PID file a reader looks at: a record is far shorter.
const MAX_RECORD_LEN: u64 = 4096;

/// The host side of WIT `pid-file-lock`.
pub struct PidFileLock {
    held: Option<FileLock>,
    holder: Holder,
}

/// Empties the PID file while still holding its lock, then unlocks.
fn release(lock: FileLock) -> Result<(), LockError> {
    let emptied = lock.open_file().set_len(0);
    drop(lock);
    emptied.map_err(|err| file_error(&err))
}

impl Drop for PidFileLock {
    fn drop(&mut self) {
        if let Some(lock) = self.held.take()
            && let Err(err) = release(lock)
        {
            tracing::warn!(?err, "emptying a PID file on release failed");
        }
    }
}

/// Checks a holder's label: short, and no control characters (which keeps
/// the record one field per line).
fn check_label(label: Option<&str>) -> Result<(), LockError> {
    match label {
        Some(label) if label.len() > MAX_LABEL_LEN || label.chars().any(char::is_control) => {
            Err(LockError::InvalidOptions)
        }
        _ => Ok(()),
    }
}

/// The text record of `holder`.
fn record(holder: &Holder) -> String {
    let mut text = format!("{}\ninstance {}\n", holder.pid, holder.instance);
    if let Some(label) = &holder.label {
        text.push_str(&format!("label {label}\n"));
    }
    text.push_str("end\n");
    text
}

/// Parses a complete record; anything else (empty, cut short, foreign) is
/// `None`.
fn parse(text: &str) -> Option<Holder> {
    let mut lines = text.strip_suffix("end\n")?.lines();
    let pid = lines.next()?.parse().ok()?;
    let instance = lines.next()?.strip_prefix("instance ")?.to_owned();
    let label = match lines.next() {
        Some(line) => Some(line.strip_prefix("label ")?.to_owned()),
        None => None,
    };
    if lines.next().is_some() {
        return None;
    }
    Some(Holder {
        pid,
        instance,
        label,
    })
}

/// Writes `holder`'s record into the locked `file`, replacing what was there.
fn publish(mut file: &File, holder: &Holder) -> io::Result<()> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(record(holder).as_bytes())
}

/// The holder named in `file`, if it holds a complete record.
fn read_holder(mut file: &File) -> Option<Holder> {
    file.seek(SeekFrom::Start(0)).ok()?;
    let mut text = String::new();
    file.take(MAX_RECORD_LEN).read_to_string(&mut text).ok()?;
    parse(&text)
}

impl pid_lock::Host for FileLockCtxView<'_> {}

impl HostPidFileLock for FileLockCtxView<'_> {
    /// Opens and locks the PID file at `path` in `dir`, then publishes this
    /// instance as its holder.
    async fn acquire(
        &mut self,
        dir: Resource<Descriptor>,
        path: String,
        label: Option<String>,
        mut options: LockOptions,
    ) -> Result<Resource<PidFileLock>, PidLockFailure> {
        let dir = self.directory(&dir)?.clone();
        if options.mode != LockMode::Exclusive || options.truncate {
            return Err(LockError::InvalidOptions.into());
        }
        check_label(label.as_deref())?;
        options.write = true;
        let opened = self.open_in_dir(&dir, &path, &options)?.await?;
        // A second handle of the same open file, to read the holder in the
        // way if the lock is contended.
        let reader = opened.file().try_clone().map_err(|err| file_error(&err))?;
        let blocking = self.ctx.blocking();
        let lock = match self.lock_opened(options)(opened).await {
            Ok(lock) => lock,
            Err(err @ (LockError::AlreadyLocked | LockError::TimedOut)) => {
                let holder = blocking.run(move || read_holder(&reader)).await;
                return Err(PidLockError { error: err, holder }.into());
            }
            Err(err) => return Err(err.into()),
        };
        drop(reader);
        let holder = Holder {
            pid: std::process::id(),
            instance: self.ctx.instance.to_string(),
            label,
        };
        // On failure, dropping `lock` unlocks it; the file may hold a
        // partial record, which readers ignore.
        let (file, record) = (lock.shared_file(), holder.clone());
        blocking
            .run(move || publish(&file, &record))
            .await
            .map_err(|err| file_error(&err))?;
        let pid_lock = PidFileLock {
            held: Some(lock),
            holder,
        };
        Ok(self.table.push(pid_lock)?)
    }

    /// Whether the PID file at `path` in `dir` is locked, and by whom.
    async fn state(
        &mut self,
        dir: Resource<Descriptor>,
        path: String,
    ) -> Result<LockState, LockFailure> {
        let dir = Arc::clone(&self.directory(&dir)?.dir);
        let relative = open::check_relative(&path)?.to_path_buf();
        let policy = Arc::clone(&self.ctx.policy);
        let state = self.ctx.blocking().run(move || {
            policy.admit_in_dir(&dir, &relative)?;
            let request = OpenRequest {
                create: false,
                write: false,
            };
            let file = open::open_lock_file(&dir, &relative, request)?;
            policy.admit_file(&file)?;
            match wait::try_once(&file, LockMode::Shared) {
                Ok(()) => {
                    // Let go of the probe's lock at once, waking this host's
                    // waiters on the file.
                    wait::release(&file)?;
                    Ok(LockState::Free)
                }
                Err(LockError::AlreadyLocked) => Ok(LockState::Held(read_holder(&file))),
                Err(err) => Err(err),
            }
        });
        Ok(state.await?)
    }

    async fn holder(&mut self, lock: Resource<PidFileLock>) -> wasmtime::Result<Holder> {
        Ok(self.table.get(&lock)?.holder.clone())
    }

    /// Empties the PID file and releases the lock.
    async fn release(&mut self, lock: Resource<PidFileLock>) -> Result<(), LockFailure> {
        if let Some(lock) = self.table.get_mut(&lock)?.held.take() {
            self.ctx.blocking().run(move || release(lock)).await?;
        }
        Ok(())
    }

    async fn drop(&mut self, lock: Resource<PidFileLock>) -> wasmtime::Result<()> {
        self.table.delete(lock)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A holder's fields, to compare (the generated type has no `PartialEq`).
    fn fields(holder: Option<Holder>) -> Option<(u32, String, Option<String>)> {
        holder.map(|h| (h.pid, h.instance, h.label))
    }

    fn holder(label: Option<&str>) -> Holder {
        Holder {
            pid: 4242,
            instance: "7".into(),
            label: label.map(str::to_owned),
        }
    }

    #[test]
    fn records_round_trip() {
        for label in [None, Some("worker a"), Some("")] {
            let text = record(&holder(label));
            assert_eq!(
                fields(parse(&text)),
                fields(Some(holder(label))),
                "{text:?}"
            );
        }
        assert!(record(&holder(None)).starts_with("4242\n"));
    }

    #[test]
    fn incomplete_or_foreign_records_name_nobody() {
        let full = record(&holder(Some("w")));
        for cut in 0..full.len() {
            assert!(parse(&full[..cut]).is_none(), "{:?}", &full[..cut]);
        }
        for foreign in [
            "4242\n",
            "x\ninstance 7\nend\n",
            "1\ninstance 2\nlabel a\nb\nend\n",
        ] {
            assert!(parse(foreign).is_none(), "{foreign:?}");
        }
    }

    #[test]
    fn labels_are_checked() {
        assert!(check_label(None).is_ok());
        assert!(check_label(Some("worker-1 (nightly)")).is_ok());
        assert!(check_label(Some(&"x".repeat(MAX_LABEL_LEN))).is_ok());
        assert!(check_label(Some(&"x".repeat(MAX_LABEL_LEN + 1))).is_err());
        assert!(check_label(Some("two\nlines")).is_err());
        assert!(check_label(Some("tab\there")).is_err());
    }
}
