//! The WIT interface `pid-lock`: portalocker's `PidFileLock`, an exclusive
//! lock that also publishes who holds it, laid out on disk as portalocker
//! lays it out, so that a guest and a Python program exclude each other and
//! each reads the other's process id.
//!
//! For the PID file `NAME`:
//!
//! - the lock is on the sidecar `NAME.lock`, taken as a temporary lock file
//!   ([`TemporaryFile`]: checked to be the file at the path once locked,
//!   removed on release while still locked, and only if it still is);
//! - `NAME` holds the process id alone, written to a temporary file and
//!   renamed over it, so a reader never finds it empty or cut short;
//! - the holder's whole record (process id, instance, label) is written into
//!   the locked sidecar before `NAME` is published (see the WIT `pid-lock`
//!   docs for the format and how readers combine the two). The lock leaves
//!   the record's bytes out, so that on Windows, where locks are mandatory,
//!   other handles can read it; the lock still overlaps every whole-file
//!   lock (`flock` on Unix locks the open file whatever the range).
//!
//! Release removes `NAME` and then the sidecar while still holding the lock,
//! as portalocker does.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmtime::component::Resource;
use wasmtime_wasi::filesystem::Descriptor;

use crate::backend::whole_file::WholeFile;
use crate::bindings::portalocker::filelock::pid_lock::{self, HostPidFileLock};
use crate::bindings::portalocker::filelock::types::{
    Holder, LockError, LockMode, LockOptions, LockState, PidLockError,
};
use crate::ctx::FileLockCtxView;
use crate::error::{LockFailure, PidLockFailure, file_error, open_error};
use crate::open::{self, OpenRequest};
use crate::path_lock::TemporaryFile;
use crate::{temporary_name, wait};

/// The longest label a holder may publish, in bytes.
pub(crate) const MAX_LABEL_LEN: usize = 256;

/// The most of a record a reader looks at: a record is far shorter. The
/// sidecar's lock starts past it, so that where locks are mandatory
/// (Windows) other handles can still read the record while it is held.
const MAX_RECORD_LEN: u64 = 4096;

/// The most of a PID file a reader looks at (portalocker accepts up to 20
/// digits, with white space around them).
const MAX_PID_FILE_LEN: u64 = 64;

/// The host side of WIT `pid-file-lock`.
pub struct PidFileLock {
    held: Option<Held>,
    holder: Holder,
}

/// A held PID-file lock: the locked sidecar, and the PID file's path.
struct Held {
    sidecar: TemporaryFile,
    pid_file: PathBuf,
}

impl Held {
    /// Removes the PID file and the sidecar (if it is still the file held)
    /// while still holding the lock, then unlocks.
    fn release(self) -> Result<(), LockError> {
        self.sidecar.release(&[&self.pid_file])
    }
}

impl Drop for PidFileLock {
    fn drop(&mut self) {
        if let Some(held) = self.held.take()
            && let Err(err) = held.release()
        {
            tracing::warn!(?err, "removing a PID file on release failed");
        }
    }
}

/// The PID file and its sidecar lock file for the guest's `path`.
#[derive(Debug, Clone)]
struct Names {
    pid_file: PathBuf,
    sidecar: String,
}

impl Names {
    fn of(path: &str) -> Result<Names, LockError> {
        let relative = open::check_relative(path)?;
        let name = relative
            .file_name()
            .and_then(|name| name.to_str())
            .ok_or(LockError::BadPath)?;
        let pid_file = PathBuf::from(open::sibling(relative, name)?);
        let sidecar = open::sibling(relative, &format!("{name}.lock"))?;
        Ok(Names { pid_file, sidecar })
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

/// Parses a PID file as portalocker does: a positive decimal number, ASCII
/// digits only, with white space around it.
fn parse_pid(text: &str) -> Option<u32> {
    let digits = text.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|&pid| pid > 0)
}

/// The holder, from the record in the sidecar and the process id in the PID
/// file: the record when it names the process in the PID file (or the PID
/// file is not published), the process id alone otherwise.
fn combine(record: Option<Holder>, pid: Option<u32>) -> Option<Holder> {
    match (record, pid) {
        (Some(holder), Some(pid)) if holder.pid == pid => Some(holder),
        (Some(holder), None) => Some(holder),
        (_, Some(pid)) => Some(Holder {
            pid,
            instance: String::new(),
            label: None,
        }),
        (None, None) => None,
    }
}

/// Up to `max` bytes of the regular file `path` inside `dir`, opened without
/// following a link and without blocking; `None` when it cannot be read.
fn read_small(dir: &File, path: &Path, max: u64) -> Option<String> {
    let opened = open::open_lock_file(dir, path, OpenRequest::default()).ok()?;
    let mut text = String::new();
    opened.file.take(max).read_to_string(&mut text).ok()?;
    Some(text)
}

/// Who holds the PID-file lock `names` inside `dir`, as far as they
/// published it.
fn read_holder(dir: &File, names: &Names) -> Option<Holder> {
    let record = read_small(dir, Path::new(&names.sidecar), MAX_RECORD_LEN)
        .as_deref()
        .and_then(parse);
    let pid = read_small(dir, &names.pid_file, MAX_PID_FILE_LEN)
        .as_deref()
        .and_then(parse_pid);
    combine(record, pid)
}

/// Publishes `holder`: the record into the locked `sidecar`, then the
/// process id into the PID file, by a temporary file renamed over it.
fn publish(
    dir: &File,
    pid_file: &Path,
    mut sidecar: &File,
    holder: &Holder,
) -> Result<(), LockError> {
    // One write over whatever a holder that died left there, then the rest
    // cut off: a reader sees the old record, a mix it rejects, or this one.
    let record = record(holder);
    (|| -> io::Result<()> {
        sidecar.seek(SeekFrom::Start(0))?;
        sidecar.write_all(record.as_bytes())?;
        sidecar.set_len(record.len() as u64)
    })()
    .map_err(|err| file_error(&err))?;
    let (temporary, mut file) = temporary_name::create(dir, pid_file)?;
    let moved = file
        .write_all(holder.pid.to_string().as_bytes())
        .map_err(|err| file_error(&err))
        .and_then(|()| {
            // A reader of the old PID file can hold the name for a moment
            // (Windows).
            open::retry_busy(|| cap_primitives::fs::rename(dir, &temporary, dir, pid_file))
                .map_err(|err| open_error(&err))
        });
    if moved.is_err()
        && let Err(err) = open::remove_own(dir, &temporary, &file)
    {
        tracing::warn!(?err, "removing a temporary PID file failed");
    }
    moved
}

impl pid_lock::Host for FileLockCtxView<'_> {}

impl HostPidFileLock for FileLockCtxView<'_> {
    /// Locks the sidecar of the PID file at `path` in `dir`, then publishes
    /// this instance as its holder.
    async fn acquire(
        &mut self,
        dir: Resource<Descriptor>,
        path: String,
        label: Option<String>,
        options: LockOptions,
    ) -> Result<Resource<PidFileLock>, PidLockFailure> {
        let dir = self.directory(&dir)?.clone();
        if options.mode != LockMode::Exclusive || options.truncate || options.append {
            return Err(LockError::InvalidOptions.into());
        }
        check_label(label.as_deref())?;
        let names = Names::of(&path)?;
        let blocking = self.ctx.blocking();
        let sidecar = match self
            .lock_temporary_file(&dir, &names.sidecar, options, MAX_RECORD_LEN)
            .await
        {
            Ok(sidecar) => sidecar,
            Err(err @ (LockError::AlreadyLocked | LockError::TimedOut)) => {
                let (dir, names) = (Arc::clone(&dir.dir), names.clone());
                let holder = blocking.run(move || read_holder(&dir, &names)).await;
                return Err(PidLockError { error: err, holder }.into());
            }
            Err(err) => return Err(err.into()),
        };
        let holder = Holder {
            pid: std::process::id(),
            instance: self.ctx.instance.to_string(),
            label,
        };
        let held = Held {
            sidecar,
            pid_file: names.pid_file,
        };
        let published = holder.clone();
        let held = blocking
            .run(move || {
                let outcome = publish(
                    held.sidecar.dir(),
                    &held.pid_file,
                    held.sidecar.lock().open_file(),
                    &published,
                );
                match outcome {
                    Ok(()) => Ok(held),
                    Err(err) => {
                        // Nothing stays locked or published for a failed call.
                        if let Err(cleanup) = held.release() {
                            tracing::warn!(?cleanup, "releasing a PID file lock failed");
                        }
                        Err(err)
                    }
                }
            })
            .await?;
        let pid_lock = PidFileLock {
            held: Some(held),
            holder,
        };
        Ok(self.table.push(pid_lock)?)
    }

    /// Whether the sidecar of the PID file at `path` in `dir` is locked, and
    /// by whom.
    async fn state(
        &mut self,
        dir: Resource<Descriptor>,
        path: String,
    ) -> Result<LockState, LockFailure> {
        let dir = Arc::clone(&self.directory(&dir)?.dir);
        let names = Names::of(&path)?;
        let policy = Arc::clone(&self.ctx.policy);
        let state = self.ctx.blocking().run(move || {
            let sidecar = Path::new(&names.sidecar);
            policy.admit_in_dir(&dir, sidecar)?;
            let file = match open::open_lock_file(&dir, sidecar, OpenRequest::default()) {
                Ok(opened) => opened.file,
                Err(LockError::NotFound) => return Ok(LockState::Free),
                Err(err) => return Err(err),
            };
            policy.admit_file(&file)?;
            let file = Arc::new(file);
            let probe = WholeFile::of(&file);
            match wait::try_once(&probe, LockMode::Shared) {
                Ok(()) => {
                    // Let go of the probe's lock at once, waking this host's
                    // waiters on the file.
                    wait::release(&probe)?;
                    Ok(LockState::Free)
                }
                Err(LockError::AlreadyLocked) => Ok(LockState::Held(read_holder(&dir, &names))),
                Err(err) => Err(err),
            }
        });
        Ok(state.await?)
    }

    async fn holder(&mut self, lock: Resource<PidFileLock>) -> wasmtime::Result<Holder> {
        Ok(self.table.get(&lock)?.holder.clone())
    }

    /// Removes the PID file and the sidecar, and releases the lock.
    async fn release(&mut self, lock: Resource<PidFileLock>) -> Result<(), LockFailure> {
        if let Some(held) = self.table.get_mut(&lock)?.held.take() {
            self.ctx.blocking().run(move || held.release()).await?;
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
    fn pid_files_parse_as_portalocker_reads_them() {
        assert_eq!(parse_pid("4242"), Some(4242));
        assert_eq!(parse_pid(" 4242\n"), Some(4242));
        for bad in [
            "",
            "0",
            "-1",
            "+5",
            "1_000",
            "12a",
            "4242\ninstance 7\nend\n",
            "99999999999",
        ] {
            assert_eq!(parse_pid(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_record_counts_only_for_the_process_in_the_pid_file() {
        let ours = || Some(holder(Some("w")));
        assert_eq!(fields(combine(ours(), Some(4242))), fields(ours()));
        assert_eq!(fields(combine(ours(), None)), fields(ours()));
        // A record a dead holder left behind, under a portalocker holder.
        assert_eq!(
            fields(combine(ours(), Some(17))),
            Some((17, String::new(), None))
        );
        assert_eq!(
            fields(combine(None, Some(17))),
            Some((17, String::new(), None))
        );
        assert_eq!(fields(combine(None, None)), None);
    }

    #[test]
    fn the_sidecar_is_next_to_the_pid_file() {
        let names = Names::of("run/app.pid").unwrap();
        assert_eq!(names.pid_file, Path::new("run/app.pid"));
        assert_eq!(names.sidecar, "run/app.pid.lock");
        assert_eq!(Names::of("app.pid/").unwrap().sidecar, "app.pid.lock");
        assert!(Names::of("a/b/..").is_err());
        assert!(Names::of("/abs.pid").is_err());
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
