"""A portalocker-like face for the `portalocker:filelock` imports.

    from locking import Lock, EXCLUSIVE

    with Lock("data/app.lock", EXCLUSIVE, timeout=1.0) as f:
        write_all(f, b"hello\\n")

Paths are relative to the first preopened directory. Failures are raised as
componentize-py's `Err` exception, whose `value` is the WIT `lock-error`
variant (for example `LockError_AlreadyLocked()`); `error_case` names it.
"""
import re
from typing import Optional

from componentize_py_types import Err
from wit_world.imports import path_lock, preopens
from wit_world.imports.portalocker_filelock_types import (
    LockError_Io,
    LockError_NotFound,
    LockMode,
    LockOptions,
)
from wit_world.imports.wasi_filesystem_types import (
    Descriptor,
    DescriptorFlags,
    ErrorCode,
    OpenFlags,
    PathFlags,
)

SHARED = LockMode.SHARED
EXCLUSIVE = LockMode.EXCLUSIVE


def root() -> Descriptor:
    """The first preopened directory, which every path here is relative to."""
    directories = preopens.get_directories()
    if not directories:
        raise Err(LockError_NotFound())
    return directories[0][0]


def nanoseconds(seconds: Optional[float]) -> Optional[int]:
    """A timeout in seconds (portalocker's unit) as a WIT `duration`."""
    return None if seconds is None else round(seconds * 1_000_000_000)


def error_case(error: object) -> str:
    """The WIT case name of a `lock-error` (`LockError_TimedOut()` -> `timed-out`)."""
    name = type(error).__name__.removeprefix("LockError_")
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def open_file(path: str) -> Descriptor:
    """Opens `path` for reading and writing, creating it when missing.

    A failure is raised as `Err(lock-error)` like the lock calls' failures:
    `not-found`, or `io(error-code)`.
    """
    try:
        return root().open_at(
            PathFlags.SYMLINK_FOLLOW,
            path,
            OpenFlags.CREATE,
            DescriptorFlags.READ | DescriptorFlags.WRITE,
        )
    except Err as e:
        code = e.value
        raise Err(LockError_NotFound() if code == ErrorCode.NO_ENTRY else LockError_Io(code)) from None


def write_all(file: Descriptor, data: bytes, offset: int = 0) -> None:
    """Writes all of `data` at `offset` (`write` may write less per call)."""
    while data:
        written = file.write(data, offset)
        data, offset = data[written:], offset + written


class Lock:
    """A path-layer lock (portalocker's `Lock`), used as a context manager.

    `timeout` is in seconds: `None` waits as long as it takes, `0` makes one
    attempt (portalocker's `fail_when_locked`). `with` gives a descriptor of
    the locked file and releases the lock on exit.
    """

    def __init__(self, path: str, mode: LockMode = EXCLUSIVE, timeout: Optional[float] = None,
                 create: bool = True, write: bool = True, truncate: bool = False) -> None:
        self.path = path
        self.options = LockOptions(mode, nanoseconds(timeout), create, write, truncate)
        self.lock: Optional[path_lock.FileLock] = None
        self.file: Optional[Descriptor] = None

    def acquire(self) -> Descriptor:
        """Takes the lock; returns a descriptor of the locked file."""
        self.lock = path_lock.FileLock.acquire(root(), self.path, self.options)
        self.file = self.lock.file()
        return self.file

    def release(self) -> None:
        """Releases the lock and drops the file's resources."""
        if self.file is not None:
            self.file.__exit__(None, None, None)
            self.file = None
        if self.lock is not None:
            lock, self.lock = self.lock, None
            with lock:
                lock.release()

    def __enter__(self) -> Descriptor:
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()
