//! A native counter: the same read-increment-write as the `counter` guest,
//! under a native `flock`, so the demo mixes guests and native processes.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::Context;

/// Increments the number in `path` `count` times, each under an exclusive
/// `flock` when `lock` is set.
pub fn count(path: &Path, count: u64, lock: bool) -> anyhow::Result<()> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("cannot open `{}`", path.display()))?;
    for _ in 0..count {
        if lock {
            fs4::FileExt::lock(&file).context("flock")?;
        }
        increment(&mut file)?;
        if lock {
            fs4::FileExt::unlock(&file).context("unlock")?;
        }
    }
    Ok(())
}

/// Reads the number (missing, empty or unreadable counts as 0) and writes the
/// next one in its place.
fn increment(file: &mut File) -> anyhow::Result<()> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0))?;
    file.read_to_string(&mut text)?;
    let value: u64 = text.trim().parse().unwrap_or(0);
    std::thread::sleep(Duration::from_micros(50));
    file.seek(SeekFrom::Start(0))?;
    file.set_len(0)?;
    write!(file, "{}", value + 1)?;
    Ok(())
}
