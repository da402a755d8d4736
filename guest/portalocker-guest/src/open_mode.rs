//! [`OpenMode`]: portalocker's file modes `'a'`, `'w'`, `'r+'` and `'r'`.

use std::fmt;
use std::str::FromStr;

/// How [`Lock`](crate::Lock) opens the file, in portalocker's terms.
///
/// | mode         | portalocker | creates | writes | truncates            |
/// |--------------|-------------|---------|--------|----------------------|
/// | `Append`     | `'a'`       | yes     | at the end of the file | no |
/// | `Write`      | `'w'`       | yes     | yes    | only once locked     |
/// | `ReadWrite`  | `'r+'`      | no      | yes    | no                   |
/// | `Read`       | `'r'`       | no      | no     | no                   |
///
/// `Append` is portalocker's default mode: the file is opened for appending
/// (`O_APPEND`), which an append-only file (`chattr +a`) requires.
/// [`Lock`](crate::Lock)'s own defaults create the file and open it for
/// writing in place, at the guard's position. `Write` truncates the file only after
/// the lock is held, so a waiting writer never destroys the data of the
/// holder it waits for. `Read` and `ReadWrite` need the file to exist
/// ([`ErrorKind::NotFound`](crate::ErrorKind::NotFound) otherwise). `Write`
/// needs an exclusive lock (a shared holder truncating would destroy what the
/// other shared holders read).
///
/// # Examples
///
/// ```no_run
/// use std::io::Write;
///
/// use portalocker_guest::{Lock, OpenMode};
///
/// # fn main() -> std::io::Result<()> {
/// // portalocker.Lock('log.txt', 'a')
/// let mut log = Lock::new("log.txt").open_mode(OpenMode::Append).acquire()?;
/// writeln!(log, "appended, whatever the guard's position")?;
/// // portalocker.Lock('state.json', 'r', flags=LOCK_SH)
/// let state = Lock::new("state.json").shared().open_mode("r".parse()?).acquire()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpenMode {
    /// `'a'`: create the file if missing; every write goes to its end.
    Append,
    /// `'w'`: create the file if missing, and truncate it once the lock is
    /// held.
    Write,
    /// `'r+'`: read and write an existing file.
    ReadWrite,
    /// `'r'`: read an existing file.
    Read,
}

impl OpenMode {
    /// portalocker's name of the mode: `"a"`, `"w"`, `"r+"` or `"r"`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(portalocker_guest::OpenMode::ReadWrite.as_str(), "r+");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            OpenMode::Append => "a",
            OpenMode::Write => "w",
            OpenMode::ReadWrite => "r+",
            OpenMode::Read => "r",
        }
    }

    /// Whether the file is created when missing.
    pub(crate) fn creates(self) -> bool {
        matches!(self, OpenMode::Append | OpenMode::Write)
    }

    /// Whether the file is opened for writing.
    pub(crate) fn writes(self) -> bool {
        self != OpenMode::Read
    }

    /// Whether the file is truncated once locked.
    pub(crate) fn truncates(self) -> bool {
        self == OpenMode::Write
    }

    /// Whether writes go to the end of the file.
    pub(crate) fn appends(self) -> bool {
        self == OpenMode::Append
    }
}

impl fmt::Display for OpenMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an [`OpenMode`] from a string that is not one of
/// `"a"`, `"w"`, `"r+"` and `"r"` (a `b` for binary is accepted and ignored,
/// as everything is bytes here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseOpenModeError(String);

impl fmt::Display for ParseOpenModeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a file mode: expected `a`, `w`, `r+` or `r`",
            self.0.escape_debug()
        )
    }
}

impl std::error::Error for ParseOpenModeError {}

impl From<ParseOpenModeError> for std::io::Error {
    fn from(error: ParseOpenModeError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, error)
    }
}

impl FromStr for OpenMode {
    type Err = ParseOpenModeError;

    /// Parses portalocker's mode strings; `"ab"`, `"wb"`, `"rb+"`, `"r+b"`
    /// and `"rb"` are the same modes.
    fn from_str(mode: &str) -> Result<Self, Self::Err> {
        match mode.replace('b', "").as_str() {
            "a" => Ok(OpenMode::Append),
            "w" => Ok(OpenMode::Write),
            "r+" => Ok(OpenMode::ReadWrite),
            "r" => Ok(OpenMode::Read),
            _ => Err(ParseOpenModeError(mode.to_owned())),
        }
    }
}
