"""A portalocker-like face for the `portalocker:filelock` imports.

    from locking import Lock, EXCLUSIVE

    with Lock("data/app.lock", EXCLUSIVE, timeout=1.0) as f:
        write_all(f, b"hello\\n")

    with PidLock("app.pid", label="worker-a", timeout=0) as holder:
        ...  # the host has published `holder` (pid, instance, label) in app.pid

Paths are relative to the first preopened directory. Failures are raised as
componentize-py's `Err` exception, whose `value` is the WIT `lock-error`
variant (for example `LockError_AlreadyLocked()`); `error_case` names it.
`PidLock` raises `Err(pid-lock-error)` instead: a `PidLockError` whose
`error` is the `lock-error` and whose `holder` is the holder in the way, if
known.
"""
import re
from typing import Optional

from componentize_py_types import Err
from wit_world.imports import path_lock, pid_lock, preopens
from wit_world.imports.portalocker_filelock_types import (
    Holder,
    LockError_Io,
    LockError_NotFound,
    LockMode,
    LockOptions,
    PidLockError,
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
                 create: bool = True, write: bool = True, truncate: bool = False,
                 append: bool = False) -> None:
        self.path = path
        self.options = LockOptions(mode, nanoseconds(timeout), create, write, truncate, append)
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


class PidLock:
    """A PID-file lock (portalocker's `PidFileLock`), used as a context manager.

    The lock is always exclusive, on the sidecar `PATH.lock`. Once it is held
    the host publishes the holder (its pid alone in `PATH`, as portalocker
    does, and the record with the instance and `label` in the sidecar), and
    removes both files on release. `timeout` is in seconds, as for `Lock`.
    `with` gives the `Holder` this lock published and releases the lock on
    exit.

    A failure is raised as `Err(PidLockError(error, holder))`.
    """

    def __init__(self, path: str, label: Optional[str] = None,
                 timeout: Optional[float] = None) -> None:
        self.path = path
        self.label = label
        self.options = LockOptions(EXCLUSIVE, nanoseconds(timeout), True, True, False, False)
        self.lock: Optional[pid_lock.PidFileLock] = None

    def acquire(self) -> Holder:
        """Takes the lock; returns the identity published in the file."""
        try:
            directory = root()
        except Err as e:
            raise Err(PidLockError(e.value, None)) from None
        self.lock = pid_lock.PidFileLock.acquire(directory, self.path, self.label, self.options)
        return self.lock.holder()

    def release(self) -> None:
        """Empties the file, releases the lock and drops its resource."""
        if self.lock is not None:
            lock, self.lock = self.lock, None
            with lock:
                lock.release()

    def __enter__(self) -> Holder:
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()
