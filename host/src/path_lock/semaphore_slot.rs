//! The resource `semaphore-slot`: portalocker's `BoundedSemaphore`, N slot
//! files, each held by at most one holder through an exclusive lock.
//!
//! Acquiring tries the slots in order without waiting and takes the first
//! free one, as portalocker does. When every slot is taken, it waits on
//! every slot at once with the ordinary wait future and takes the first
//! slot that comes free; the other waits are dropped, so, as for every
//! cancelled wait, they never take their slot afterwards.
//!
//! The slot files are named as portalocker names them (by default
//! `{name}.{number:02d}.lock`, see [`SlotPattern`]), so a guest's semaphore
//! and portalocker's `BoundedSemaphore` of the same name share their slots.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;
use std::time::Instant;

use wasmtime::component::Resource;
use wasmtime_wasi::filesystem::Descriptor;

use super::FileLock;
use crate::bindings::portalocker::filelock::path_lock::HostSemaphoreSlot;
use crate::bindings::portalocker::filelock::types::{LockError, LockMode, LockOptions};
use crate::ctx::FileLockCtxView;
use crate::error::LockFailure;
use crate::wait;

/// The host side of WIT `semaphore-slot`: one held slot.
pub struct SemaphoreSlot {
    slot: u32,
    held: Option<FileLock>,
}

/// One slot's wait.
type SlotWait = Pin<Box<dyn Future<Output = Result<FileLock, LockError>> + Send>>;

/// Waits for the first of `waits` to take its slot. Contention on every slot
/// ends in the last contention error; any other error ends the wait at once.
async fn first_free(mut waits: Vec<Option<SlotWait>>) -> Result<(u32, FileLock), LockError> {
    let mut contention = LockError::AlreadyLocked;
    poll_fn(|cx| {
        let mut pending = false;
        for (slot, wait) in waits.iter_mut().enumerate() {
            let Some(future) = wait else { continue };
            match future.as_mut().poll(cx) {
                Poll::Pending => pending = true,
                Poll::Ready(Ok(lock)) => {
                    let slot = u32::try_from(slot).unwrap_or(u32::MAX);
                    return Poll::Ready(Ok((slot, lock)));
                }
                Poll::Ready(Err(err @ (LockError::AlreadyLocked | LockError::TimedOut))) => {
                    contention = err;
                    *wait = None;
                }
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(Err(contention))
        }
    })
    .await
}

/// portalocker's default slot file pattern.
const DEFAULT_PATTERN: &str = "{name}.{number:02d}.lock";

/// One piece of a slot file pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Text as it is.
    Text(String),
    /// The semaphore's name (its last path component).
    Name,
    /// The slot number, zero-padded to this many digits.
    Number(usize),
}

/// A slot file pattern: the subset of Python's format strings that
/// portalocker's `filename_pattern` uses (`{name}`, `{number}`,
/// `{number:d}`, `{number:0Nd}`, `{{`, `}}`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct SlotPattern(Vec<Piece>);

impl SlotPattern {
    /// Parses `pattern`; `invalid-options` for anything but the subset, or
    /// a pattern without the slot number.
    fn parse(pattern: &str) -> Result<SlotPattern, LockError> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.as_str().starts_with('{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.as_str().starts_with('}') => {
                    chars.next();
                    text.push('}');
                }
                '{' => {
                    let rest = chars.as_str();
                    let end = rest.find('}').ok_or(LockError::InvalidOptions)?;
                    let field = &rest[..end];
                    chars = rest[end + 1..].chars();
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                    pieces.push(Self::field(field)?);
                }
                '}' | '\0' => return Err(LockError::InvalidOptions),
                c => text.push(c),
            }
        }
        pieces.push(Piece::Text(text));
        if !pieces.iter().any(|piece| matches!(piece, Piece::Number(_))) {
            return Err(LockError::InvalidOptions);
        }
        Ok(SlotPattern(pieces))
    }

    /// One replacement field: `name`, `number` (or `number:d`) or
    /// `number:0Nd`.
    fn field(field: &str) -> Result<Piece, LockError> {
        match field {
            "name" => Ok(Piece::Name),
            "number" | "number:d" => Ok(Piece::Number(0)),
            _ => {
                let width = field
                    .strip_prefix("number:0")
                    .and_then(|spec| spec.strip_suffix('d'))
                    .filter(|width| width.len() == 1)
                    .and_then(|width| width.parse::<usize>().ok())
                    .filter(|&width| width >= 1)
                    .ok_or(LockError::InvalidOptions)?;
                Ok(Piece::Number(width))
            }
        }
    }

    /// The path of slot `number` of the semaphore `name` (a guest path):
    /// the pattern, filled in, in `name`'s directory.
    fn slot_path(&self, name: &str, number: u32) -> Result<String, LockError> {
        let relative = crate::open::check_relative(name)?;
        let base = relative
            .file_name()
            .and_then(|base| base.to_str())
            .ok_or(LockError::BadPath)?;
        let mut file = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Text(text) => file.push_str(text),
                Piece::Name => file.push_str(base),
                Piece::Number(width) => file.push_str(&format!("{number:0width$}")),
            }
        }
        crate::open::sibling(relative, &file)
    }
}

impl FileLockCtxView<'_> {
    /// Takes the first free slot of semaphore `name` in `dir`, its slot
    /// files named by `pattern`.
    async fn acquire_slot(
        &mut self,
        dir: Resource<Descriptor>,
        name: String,
        pattern: &str,
        slots: u32,
        mut options: LockOptions,
    ) -> Result<Resource<SemaphoreSlot>, LockFailure> {
        let dir = self.directory(&dir)?.clone();
        if slots == 0 || options.truncate || options.append {
            return Err(LockError::InvalidOptions.into());
        }
        let pattern = SlotPattern::parse(pattern)?;
        options.mode = LockMode::Exclusive;
        options.create = true;
        options.write = true;
        // portalocker's order: the slots are tried one after another without
        // waiting, and the first free one is taken. Only when every slot is
        // taken does the call wait, for whichever is freed first.
        let start = Instant::now();
        let once = LockOptions {
            timeout: Some(0),
            ..options
        };
        for slot in 0..slots {
            let path = pattern.slot_path(&name, slot)?;
            match self.open_and_lock(&dir, &path, once)?.await {
                Ok(lock) => {
                    return Ok(self.table.push(SemaphoreSlot {
                        slot,
                        held: Some(lock),
                    })?);
                }
                Err(LockError::AlreadyLocked) => {}
                Err(err) => return Err(err.into()),
            }
        }
        match options.timeout {
            Some(0) => return Err(LockError::AlreadyLocked.into()),
            // The timeout counts from the call: what the tries took is spent.
            Some(timeout) => {
                let spent = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
                options.timeout = Some(timeout.saturating_sub(spent).max(1));
            }
            None => {}
        }
        let mut waits = Vec::new();
        for slot in 0..slots {
            let path = pattern.slot_path(&name, slot)?;
            let lock = self.open_and_lock(&dir, &path, options)?;
            // Every slot is waited for at once: none may block the thread.
            let wait: SlotWait = Box::pin(wait::never_blocking(lock));
            waits.push(Some(wait));
        }
        let (slot, lock) = first_free(waits).await?;
        Ok(self.table.push(SemaphoreSlot {
            slot,
            held: Some(lock),
        })?)
    }
}

impl HostSemaphoreSlot for FileLockCtxView<'_> {
    /// Takes the first free slot of semaphore `name` in `dir`, with
    /// portalocker's default slot file names.
    async fn acquire(
        &mut self,
        dir: Resource<Descriptor>,
        name: String,
        slots: u32,
        options: LockOptions,
    ) -> Result<Resource<SemaphoreSlot>, LockFailure> {
        self.acquire_slot(dir, name, DEFAULT_PATTERN, slots, options)
            .await
    }

    /// Takes the first free slot of semaphore `name` in `dir`, its slot
    /// files named by `pattern`.
    async fn acquire_with_pattern(
        &mut self,
        dir: Resource<Descriptor>,
        name: String,
        pattern: String,
        slots: u32,
        options: LockOptions,
    ) -> Result<Resource<SemaphoreSlot>, LockFailure> {
        self.acquire_slot(dir, name, &pattern, slots, options).await
    }

    async fn slot(&mut self, slot: Resource<SemaphoreSlot>) -> wasmtime::Result<u32> {
        Ok(self.table.get(&slot)?.slot)
    }

    async fn release(&mut self, slot: Resource<SemaphoreSlot>) -> Result<(), LockFailure> {
        drop(self.table.get_mut(&slot)?.held.take());
        Ok(())
    }

    async fn drop(&mut self, slot: Resource<SemaphoreSlot>) -> wasmtime::Result<()> {
        self.table.delete(slot)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(pattern: &str, name: &str, number: u32) -> Result<String, LockError> {
        SlotPattern::parse(pattern)?.slot_path(name, number)
    }

    #[test]
    fn the_default_names_slots_as_portalocker_does() {
        assert_eq!(slot(DEFAULT_PATTERN, "sem", 0).unwrap(), "sem.00.lock");
        assert_eq!(slot(DEFAULT_PATTERN, "sem", 7).unwrap(), "sem.07.lock");
        assert_eq!(slot(DEFAULT_PATTERN, "sem", 123).unwrap(), "sem.123.lock");
        assert_eq!(
            slot(DEFAULT_PATTERN, "locks/jobs", 1).unwrap(),
            "locks/jobs.01.lock"
        );
    }

    #[test]
    fn patterns_are_python_format_strings() {
        assert_eq!(slot("{number}-{name}", "a/b", 3).unwrap(), "a/3-b");
        assert_eq!(slot("{{{name}}}.{number:04d}", "x", 5).unwrap(), "{x}.0005");
        assert_eq!(slot("slot{number:d}", "x", 12).unwrap(), "slot12");
        assert_eq!(slot("slot{number:01d}", "x", 12).unwrap(), "slot12");
    }

    #[test]
    fn patterns_outside_the_subset_are_invalid() {
        for bad in [
            "{name}.lock",
            "{number",
            "number}",
            "{other}.{number}",
            "{number:2d}",
            "{number:00d}",
            "{number:010d}",
            "{number!r}",
            "{0}",
            "a\0{number}",
        ] {
            assert!(
                matches!(SlotPattern::parse(bad), Err(LockError::InvalidOptions)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn names_follow_the_sandbox_rules() {
        assert!(matches!(
            slot(DEFAULT_PATTERN, "/abs", 0),
            Err(LockError::BadPath)
        ));
        assert!(matches!(
            slot(DEFAULT_PATTERN, "../up", 0),
            Err(LockError::BadPath)
        ));
    }
}
