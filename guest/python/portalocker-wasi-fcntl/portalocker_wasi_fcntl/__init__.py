"""A `fcntl` module for componentize-py guests, over `portalocker:filelock`.

CPython for WASI has no `fcntl`, so `import portalocker` fails and filelock
falls back to `SoftFileLock`. With this package in the app (it brings a
top-level `fcntl` module), both run unmodified and take real locks: the host
locks the file with `flock(2)`, so the locks exclude other guests, other
hosts and native processes, and theirs exclude the guest.

    import fcntl                      # this package's module
    fd = os.open("data.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)   # BlockingIOError if held
    fcntl.flock(fd, fcntl.LOCK_UN)

The app's world must import `portalocker:filelock/imports` (the world
`portalocker:filelock/command` does).

How it works (the *path route*): CPython's files are wasi-libc descriptors,
not component handles, and Python cannot reach wasi-libc's descriptor table.
So the module remembers which path each descriptor was opened with (it wraps
`open`, `io.open` and `os.open` when imported, and `os.close`), and a lock on
the descriptor is a path-layer lock (`path-lock.file-lock`) on that path,
after checking that the path still names the descriptor's file (the
`wasi:filesystem` metadata hash against `os.fstat`'s `st_ino`).

What follows from that, beside `flock(2)`:

* Each locked descriptor holds a lock of its own on a separate open file, so
  two descriptors of the same file conflict, as two `open` calls do with
  `flock`; a descriptor conflicts with itself never.
* Only descriptors opened by path after this module was imported can be
  locked; others (opened before, with `dir_fd`, from `os.dup`) fail with
  `ENOLCK`. Import it (or portalocker, or filelock) first.
* A file renamed or replaced since it was opened cannot be locked by the old
  descriptor: its path names another file now (`ENOLCK`).
* Closing a descriptor (`os.close`, or `close()` on what `open` returned,
  also through `with` and garbage collection) releases its lock.
* `lockf` locks the whole file only (`len`, `start`, `whence` zero), with the
  same per-open-file semantics as `flock`: unlike POSIX record locks, two
  descriptors of one guest conflict.
* `fcntl(fd, F_GETFL)` returns the flags the descriptor was opened with,
  `F_SETFL`, `F_GETFD` and `F_SETFD` change nothing (portalocker's `'w'` mode
  clears `O_APPEND` with them, so its handle keeps appending, as portalocker
  documents for Windows). Other commands fail with `EINVAL`.

Errors are `OSError`s with the errno `flock(2)` would give: `EWOULDBLOCK`
(`BlockingIOError`) for a lock held elsewhere with `LOCK_NB`, `EBADF` for a
closed descriptor, `ENOENT` when the file is gone, `EPERM` when the host's
policy refuses, `EINVAL` for bad arguments and files that cannot be locked,
`ENOLCK` for descriptors this module cannot lock and the host's limits.

Importing this module also sets `tempfile.tempdir` to `/tmp` when it is
unset: componentize-py runs the app's imports at build time, where no
directory is preopened, and portalocker calls `tempfile.gettempdir()` when
imported.
"""
import builtins
import errno
import functools
import io
import os
import tempfile
import weakref
from typing import Any, Dict, List, Optional, Tuple

# Imported now: componentize-py keeps only what the app imported at build time.
from componentize_py_types import Err
from wit_world.imports import path_lock, preopens
from wit_world.imports import portalocker_filelock_types as _types
from wit_world.imports.portalocker_filelock_types import LockMode, LockOptions

__all__ = [
    "LOCK_SH", "LOCK_EX", "LOCK_NB", "LOCK_UN",
    "F_GETFD", "F_SETFD", "F_GETFL", "F_SETFL", "FD_CLOEXEC",
    "flock", "lockf", "fcntl",
]

#: Shared lock.
LOCK_SH = 1
#: Exclusive lock.
LOCK_EX = 2
#: Fail instead of waiting.
LOCK_NB = 4
#: Unlock.
LOCK_UN = 8

#: Get the descriptor flags (close-on-exec).
F_GETFD = 1
#: Set the descriptor flags (changes nothing).
F_SETFD = 2
#: Get the open flags.
F_GETFL = 3
#: Set the open flags (changes nothing).
F_SETFL = 4
#: The close-on-exec flag (a guest never execs: always set).
FD_CLOEXEC = 1

if tempfile.tempdir is None:
    tempfile.tempdir = "/tmp"


class _OpenFile:
    """What this module knows of one descriptor: its path, identity, flags
    and the lock it holds."""

    __slots__ = ("path", "ino", "flags", "lock", "mode")

    def __init__(self, path: str, ino: int, flags: int) -> None:
        self.path = path
        self.ino = ino
        self.flags = flags
        self.lock: Any = None  # a path_lock.FileLock while it exists
        self.mode: Any = None  # the LockMode held, None when not held


#: The descriptors opened by path since this module was imported.
_files: Dict[int, _OpenFile] = {}


def _fileno(fd: Any) -> int:
    """The descriptor of an int or of an object with `fileno()`."""
    if isinstance(fd, int):
        return fd
    fileno = getattr(fd, "fileno", None)
    if fileno is None:
        raise TypeError("argument must be an int, or have a fileno() method.")
    return fileno()


def _record(fd: int, path: Any, flags: int) -> None:
    """Remembers that `fd` was opened with `path` and `flags`."""
    old = _files.pop(fd, None)
    if old is not None:
        _drop_lock(old)
    try:
        path = os.path.abspath(os.fsdecode(path))
        _files[fd] = _OpenFile(path, os.fstat(fd).st_ino, flags)
    except (OSError, TypeError, ValueError):
        pass  # not lockable later: ENOLCK then


def _forget(fd: int, record: Optional[_OpenFile] = None) -> None:
    """Releases and forgets `fd` (only if it is still `record`, when given)."""
    current = _files.get(fd)
    if current is None or (record is not None and current is not record):
        return
    del _files[fd]
    _drop_lock(current)


def _drop_lock(record: _OpenFile) -> None:
    """Releases the lock of `record` and frees its resource."""
    lock, record.lock, record.mode = record.lock, None, None
    if lock is not None:
        try:
            with lock:
                lock.release()
        except Exception:  # the host gave it up already: nothing is held
            pass


def _mode_flags(mode: str) -> int:
    """The `os.O_*` flags of an `open()` mode string."""
    plus = "+" in mode
    if "r" in mode:
        return os.O_RDWR if plus else os.O_RDONLY
    access = os.O_RDWR if plus else os.O_WRONLY
    if "w" in mode:
        return access | os.O_CREAT | os.O_TRUNC
    if "a" in mode:
        return access | os.O_CREAT | os.O_APPEND
    return access | os.O_CREAT | os.O_EXCL  # "x"


def _watch_close(obj: Any, fd: int) -> None:
    """Makes closing `obj` (or collecting it) release `fd`'s lock."""
    record = _files.get(fd)
    if record is None:
        return
    ref = weakref.ref(obj)
    close = type(obj).close

    def closing() -> None:
        target = ref()
        try:
            if target is not None:
                close(target)
        finally:
            _forget(fd, record)

    try:
        obj.close = closing
    except (AttributeError, TypeError):
        pass
    weakref.finalize(obj, _forget, fd, record)


_open = builtins.open
_os_open = os.open
_os_close = os.close


@functools.wraps(_open)
def open(file: Any, mode: str = "r", buffering: int = -1, encoding: Optional[str] = None,
         errors: Optional[str] = None, newline: Optional[str] = None, closefd: bool = True,
         opener: Any = None) -> Any:
    result = _open(file, mode, buffering, encoding, errors, newline, closefd, opener)
    try:
        fd = result.fileno()
    except (AttributeError, OSError, ValueError):
        return result
    if not isinstance(file, int):
        _record(fd, file, _mode_flags(mode))
    if closefd:
        _watch_close(result, fd)
    return result


@functools.wraps(_os_open)
def _tracked_os_open(path: Any, flags: int, mode: int = 0o777, *, dir_fd: Optional[int] = None) -> int:
    fd = _os_open(path, flags, mode, dir_fd=dir_fd)
    if dir_fd is None:
        _record(fd, path, flags)
    else:
        _forget(fd)
    return fd


@functools.wraps(_os_close)
def _tracked_os_close(fd: int) -> None:
    _forget(fd)
    _os_close(fd)


builtins.open = open
io.open = open
os.open = _tracked_os_open
os.close = _tracked_os_close


def _error(code: int, message: str, fd: int) -> OSError:
    return OSError(code, f"{message} (descriptor {fd})")


def _known(fd: int) -> _OpenFile:
    """The record of `fd`, checked to still describe the open descriptor."""
    try:
        ino = os.fstat(fd).st_ino
    except OSError as e:
        raise _error(e.errno or errno.EBADF, os.strerror(e.errno or errno.EBADF), fd) from None
    record = _files.get(fd)
    if record is None:
        raise _error(errno.ENOLCK, "cannot lock: not opened by path since fcntl was imported", fd)
    if record.ino != ino:
        _forget(fd, record)
        raise _error(errno.ENOLCK, "cannot lock: the descriptor was reused by an untracked open", fd)
    return record


_preopens: Optional[List[Tuple[Any, str]]] = None


def _resolve(path: str) -> Tuple[Any, str]:
    """The preopened directory containing the absolute guest `path`, and the
    path relative to it (the longest preopen name that is a prefix at a
    component boundary, as wasi-libc resolves paths)."""
    global _preopens
    if _preopens is None:
        _preopens = [(d, "/" + name.strip("/").removeprefix(".").strip("/"))
                     for d, name in preopens.get_directories()]
    best: Optional[Tuple[Any, str]] = None
    best_len = -1
    for directory, name in _preopens:
        prefix = name.rstrip("/")
        if path == prefix or path.startswith(prefix + "/") or prefix == "":
            if len(prefix) >= best_len:
                best, best_len = (directory, path[len(prefix):].lstrip("/") or "."), len(prefix)
    if best is None:
        raise FileNotFoundError(errno.ENOENT, "no preopened directory contains it", path)
    return best


def _os_error(error: Any, fd: int, path: str) -> OSError:
    """The `OSError` for a WIT `lock-error`."""
    t = _types
    name = type(error).__name__.removeprefix("LockError_")
    if isinstance(error, (t.LockError_AlreadyLocked, t.LockError_TimedOut)):
        return _error(errno.EWOULDBLOCK, "Resource temporarily unavailable", fd)
    if isinstance(error, t.LockError_NotFound):
        return FileNotFoundError(errno.ENOENT, f"the file is gone (descriptor {fd})", path)
    if isinstance(error, (t.LockError_Denied, t.LockError_NotPermitted)):
        return PermissionError(errno.EPERM, f"the host's policy refuses the lock (descriptor {fd})", path)
    if isinstance(error, (t.LockError_NotLockable, t.LockError_InvalidOptions)):
        return OSError(errno.EINVAL, f"cannot be locked: {name} (descriptor {fd})", path)
    if isinstance(error, t.LockError_BadDescriptor):
        return OSError(errno.EBADF, f"bad descriptor (descriptor {fd})", path)
    if isinstance(error, t.LockError_Io):
        code = getattr(error.value, "name", str(error.value)).lower()
        return OSError(_IO_ERRNO.get(code, errno.EIO), f"I/O error {code} (descriptor {fd})", path)
    return OSError(errno.ENOLCK, f"cannot lock: {name} (descriptor {fd})", path)


_IO_ERRNO = {
    "access": errno.EACCES, "not_permitted": errno.EPERM, "no_entry": errno.ENOENT,
    "interrupted": errno.EINTR, "invalid": errno.EINVAL, "is_directory": errno.EISDIR,
    "read_only": errno.EROFS, "insufficient_space": errno.ENOSPC, "unsupported": errno.ENOTSUP,
    "would_block": errno.EWOULDBLOCK, "bad_descriptor": errno.EBADF,
}


def _lock(fd: int, exclusive: bool, wait: bool) -> None:
    record = _known(fd)
    mode = LockMode.EXCLUSIVE if exclusive else LockMode.SHARED
    timeout = None if wait else 0
    if record.lock is not None:
        if record.mode == mode:
            return
        try:
            record.lock.lock(mode, timeout)  # a conversion, not atomic (as flock)
        except Err as e:
            record.mode = None  # a failed conversion leaves no lock
            raise _os_error(e.value, fd, record.path) from None
        record.mode = mode
        return
    directory, relative = _resolve(record.path)
    options = LockOptions(mode, timeout, False, False, False, False)
    try:
        lock = path_lock.FileLock.acquire(directory, relative, options)
    except Err as e:
        raise _os_error(e.value, fd, record.path) from None
    try:
        with lock.file() as locked:
            same = locked.metadata_hash().lower == record.ino
    except Err:
        same = False
    if not same:
        with lock:
            lock.release()
        raise OSError(errno.ENOLCK, f"cannot lock: the path names another file now (descriptor {fd})",
                      record.path)
    record.lock, record.mode = lock, mode


def _unlock(fd: int) -> None:
    record = _known(fd)
    _drop_lock(record)


class _Builtin:
    """A function that, like CPython's builtin `fcntl.flock`, is no
    descriptor: stored as a class attribute (portalocker's
    `FlockLocker.locker = fcntl.flock`) it stays itself and never binds
    `self`."""

    def __init__(self, function: Any) -> None:
        self.__wrapped__ = function
        self.__name__ = function.__name__
        self.__qualname__ = function.__qualname__
        self.__doc__ = function.__doc__
        self.__module__ = "fcntl"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__wrapped__(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<built-in function {self.__name__}>"


def flock(fd: Any, operation: int) -> None:
    """Locks (`LOCK_SH`, `LOCK_EX`, with `LOCK_NB` to fail instead of
    waiting) or unlocks (`LOCK_UN`) the file open as `fd` (an int, or an
    object with `fileno()`), as `flock(2)`."""
    fd = _fileno(fd)
    if operation & LOCK_UN:
        _unlock(fd)
        return
    kind = operation & (LOCK_SH | LOCK_EX)
    if kind not in (LOCK_SH, LOCK_EX) or operation & ~(LOCK_SH | LOCK_EX | LOCK_NB):
        raise OSError(errno.EINVAL, "Invalid argument")
    _lock(fd, kind == LOCK_EX, wait=not operation & LOCK_NB)


def lockf(fd: Any, cmd: int, len: int = 0, start: int = 0, whence: int = 0) -> None:
    """`fcntl.lockf` for the whole file only (`len`, `start` and `whence`
    zero): the same lock as `flock`, per open file."""
    if (len, start, whence) != (0, 0, 0):
        raise OSError(errno.EINVAL, "only whole-file locks (len=0, start=0, whence=0) are supported")
    flock(fd, cmd)


def fcntl(fd: Any, cmd: int, arg: Any = 0) -> Any:
    """`F_GETFL` (the flags the descriptor was opened with), and `F_SETFL`,
    `F_GETFD`, `F_SETFD`, which change nothing; `EINVAL` for the rest."""
    fd = _fileno(fd)
    try:
        os.fstat(fd)
    except OSError as e:
        raise _error(e.errno or errno.EBADF, os.strerror(e.errno or errno.EBADF), fd) from None
    if cmd == F_GETFL:
        record = _files.get(fd)
        return record.flags if record is not None else os.O_RDWR
    if cmd == F_GETFD:
        return FD_CLOEXEC
    if cmd in (F_SETFL, F_SETFD):
        return 0
    raise OSError(errno.EINVAL, f"fcntl command {cmd} is not supported on WASI")


flock = _Builtin(flock)
lockf = _Builtin(lockf)
fcntl = _Builtin(fcntl)
