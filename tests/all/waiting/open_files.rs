//! What this process has open and runs, from `/proc/self`: threads, open
//! descriptors, and the open file descriptions behind them.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::OnceLock;

/// `kcmp(2)`'s type for comparing open file descriptions.
const KCMP_FILE: libc::c_long = 0;

/// The file (device and inode) an open descriptor of this process is open
/// on, through its `/proc/self/fd` entry.
fn file_of(entry: &Path) -> Option<(u64, u64)> {
    let meta = std::fs::metadata(entry).ok()?;
    Some((meta.dev(), meta.ino()))
}

/// The descriptor number of a `/proc/self/fd` entry.
fn fd_number(entry: &std::fs::DirEntry) -> Option<i32> {
    entry.file_name().to_str()?.parse().ok()
}

/// Whether the descriptors `a` and `b` of this process share one open file
/// description, by `kcmp(2)`.
///
/// # Panics
///
/// When the kernel has no `kcmp` (built without `CONFIG_KCMP`, or a
/// seccomp filter denies it): descriptors cannot be told from open files
/// then, and the checks that count open files would be wrong.
fn same_open_file(a: i32, b: i32) -> bool {
    // SAFETY: getpid has no preconditions.
    let pid = libc::c_long::from(unsafe { libc::getpid() });
    let compare = |a: i32, b: i32| {
        // SAFETY: kcmp only compares kernel objects of this process; a closed
        // descriptor gives an error, never undefined behaviour.
        unsafe {
            libc::syscall(
                libc::SYS_kcmp,
                pid,
                pid,
                KCMP_FILE,
                libc::c_long::from(a),
                libc::c_long::from(b),
            )
        }
    };
    static AVAILABLE: OnceLock<Result<(), String>> = OnceLock::new();
    let available = AVAILABLE.get_or_init(|| {
        let dir = std::fs::File::open("/proc/self/fd").expect("open /proc/self/fd");
        let fd = std::os::fd::AsRawFd::as_raw_fd(&dir);
        match compare(fd, fd) {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error().to_string()),
        }
    });
    if let Err(err) = available {
        panic!("kcmp(2) is needed to tell open files from descriptors, and fails here: {err}");
    }
    compare(a, b) == 0
}

/// How many open file descriptions (not descriptors: a `dup` shares one)
/// the descriptors `fds` of this process are.
fn open_file_descriptions(fds: &[i32]) -> usize {
    let mut distinct: Vec<i32> = Vec::new();
    for &fd in fds {
        if !distinct.iter().any(|&other| same_open_file(fd, other)) {
            distinct.push(fd);
        }
    }
    distinct.len()
}

/// Open file descriptions of `path`'s file in this process.
pub(super) fn open_files_of(path: &Path) -> usize {
    let Ok(meta) = std::fs::metadata(path) else {
        return 0;
    };
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter(|entry| file_of(&entry.path()) == Some((meta.dev(), meta.ino())))
        .filter_map(|entry| fd_number(&entry))
        .collect();
    open_file_descriptions(&fds)
}

/// What this process has open: all its descriptors, those on files under
/// `dir`, and how many open file descriptions those are.
#[derive(Debug, Clone, Copy)]
pub(super) struct OpenFiles {
    /// Every open descriptor.
    pub(super) descriptors: usize,
    /// Descriptors of files under the directory.
    pub(super) under: usize,
    /// The open file descriptions of those.
    pub(super) descriptions_under: usize,
}

impl OpenFiles {
    /// What is open now, with `dir` as the directory.
    pub(super) fn now(dir: &Path) -> OpenFiles {
        let mut descriptors = 0;
        let mut by_file: HashMap<(u64, u64), Vec<i32>> = HashMap::new();
        for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
            descriptors += 1;
            let path = entry.path();
            // Files inside `dir`, not `dir` itself (a guest's preopen).
            if !std::fs::read_link(&path)
                .is_ok_and(|target| target.starts_with(dir) && target != dir)
            {
                continue;
            }
            if let (Some(file), Some(fd)) = (file_of(&path), fd_number(&entry)) {
                by_file.entry(file).or_default().push(fd);
            }
        }
        OpenFiles {
            descriptors,
            under: by_file.values().map(Vec::len).sum(),
            descriptions_under: by_file
                .values()
                .map(|fds| open_file_descriptions(fds))
                .sum(),
        }
    }
}

/// Threads of this process.
pub(super) fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// The threads' names, for a failure message.
pub(super) fn thread_names() -> String {
    let mut names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| {
            let comm = std::fs::read_to_string(e.ok()?.path().join("comm")).ok()?;
            Some(comm.trim().to_owned())
        })
        .collect();
    names.sort();
    let mut counted: Vec<(String, usize)> = Vec::new();
    for name in names {
        match counted.last_mut() {
            Some((last, n)) if *last == name => *n += 1,
            _ => counted.push((name, 1)),
        }
    }
    counted
        .iter()
        .map(|(name, n)| format!("{name} x{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}
