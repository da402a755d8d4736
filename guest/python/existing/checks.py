"""`existing checks`: the `fcntl` module's semantics, inside one guest.

Every check prints `<case>: ok` and raises `AssertionError` (the guest then
exits 1) when it does not hold; the last line is `ok`.
"""
import errno
import gc
import os

import fcntl

import filelock
import portalocker
import portalocker_wasi_fcntl

PATH = "/checks.lock"


def check(case: str, condition: bool, detail: object = "") -> None:
    assert condition, f"{case}: {detail!r}"
    print(f"{case}: ok")


def fails(case: str, code: int, call, *args) -> None:
    """Checks that `call(*args)` raises an `OSError` with errno `code`."""
    try:
        call(*args)
    except OSError as e:
        check(case, e.errno == code, f"errno {e.errno} ({e}), expected {code}")
        return
    raise AssertionError(f"{case}: succeeded, expected errno {code}")


def rw(path: str = PATH) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT)


def run() -> None:
    nb_ex = fcntl.LOCK_EX | fcntl.LOCK_NB
    nb_sh = fcntl.LOCK_SH | fcntl.LOCK_NB

    # Two open files of one path conflict, as with flock(2).
    a, b = rw(), rw()
    fcntl.flock(a, fcntl.LOCK_EX)
    fails("second exclusive while held", errno.EWOULDBLOCK, fcntl.flock, b, nb_ex)
    try:
        fcntl.flock(b, nb_sh)
    except BlockingIOError:
        print("second shared while held: ok (BlockingIOError)")
    else:
        raise AssertionError("second shared while held: succeeded")
    fcntl.flock(a, fcntl.LOCK_EX)  # held in that mode already: no-op
    fcntl.flock(a, fcntl.LOCK_UN)
    fcntl.flock(a, fcntl.LOCK_UN)  # not held: fine
    fcntl.flock(b, nb_sh)
    fcntl.flock(a, nb_sh)
    fails("conversion to exclusive while shared elsewhere", errno.EWOULDBLOCK, fcntl.flock, a, nb_ex)
    fcntl.flock(b, fcntl.LOCK_UN)
    fcntl.flock(a, nb_ex)
    print("conversion to exclusive: ok")

    # Closing a descriptor releases its lock.
    os.close(a)
    fcntl.flock(b, nb_ex)
    print("os.close releases: ok")
    fcntl.flock(b, fcntl.LOCK_UN)

    # File objects: close(), `with`, and garbage collection release.
    f = open(PATH, "a")
    fcntl.flock(f, fcntl.LOCK_EX)
    fails("held through a file object", errno.EWOULDBLOCK, fcntl.flock, b, nb_ex)
    f.close()
    fcntl.flock(b, nb_ex)
    fcntl.flock(b, fcntl.LOCK_UN)
    print("file object close() releases: ok")
    with open(PATH, "rb") as g:
        fcntl.flock(g.fileno(), fcntl.LOCK_SH)
        fails("held inside with", errno.EWOULDBLOCK, fcntl.flock, b, nb_ex)
    fcntl.flock(b, nb_ex)
    fcntl.flock(b, fcntl.LOCK_UN)
    print("leaving with releases: ok")
    h = open(PATH, "r+")
    fcntl.flock(h, fcntl.LOCK_EX)
    del h
    gc.collect()
    fcntl.flock(b, nb_ex)
    fcntl.flock(b, fcntl.LOCK_UN)
    print("collecting the file object releases: ok")

    # Paths relative to the working directory.
    os.makedirs("/sub", exist_ok=True)
    os.chdir("/sub")
    rel = open("rel.lock", "w")
    os.chdir("/")
    absolute = rw("/sub/rel.lock")
    fcntl.flock(rel, fcntl.LOCK_EX)
    fails("relative path resolved", errno.EWOULDBLOCK, fcntl.flock, absolute, nb_ex)
    rel.close()
    os.close(absolute)

    # lockf: whole-file, the same lock.
    fcntl.lockf(b, fcntl.LOCK_EX | fcntl.LOCK_NB)
    c = rw()
    fails("lockf excludes flock", errno.EWOULDBLOCK, fcntl.flock, c, nb_sh)
    fcntl.lockf(b, fcntl.LOCK_UN)
    fails("lockf of a byte range", errno.EINVAL, fcntl.lockf, b, fcntl.LOCK_EX, 10, 0, 0)

    # The errors of flock(2).
    os.close(c)
    fails("closed descriptor", errno.EBADF, fcntl.flock, c, fcntl.LOCK_EX)
    fails("no lock type", errno.EINVAL, fcntl.flock, b, fcntl.LOCK_NB)
    fails("both lock types", errno.EINVAL, fcntl.flock, b, fcntl.LOCK_SH | fcntl.LOCK_EX)
    untracked = portalocker_wasi_fcntl._os_open(PATH, os.O_RDONLY)
    fails("descriptor opened without the wrapper", errno.ENOLCK, fcntl.flock, untracked, fcntl.LOCK_SH)
    portalocker_wasi_fcntl._os_close(untracked)

    # A path that names another file now.
    moved = rw("/moved.lock")
    with open("/replacement", "w"):
        pass
    os.replace("/replacement", "/moved.lock")
    fails("file replaced since it was opened", errno.ENOLCK, fcntl.flock, moved, fcntl.LOCK_EX)
    os.close(moved)

    # fcntl(): F_GETFL reports the open flags, F_SETFL changes nothing.
    appending = open(PATH, "a")
    flags = fcntl.fcntl(appending.fileno(), fcntl.F_GETFL)
    check("F_GETFL of 'a'", flags & os.O_APPEND and flags & os.O_WRONLY, flags)
    check("F_SETFL", fcntl.fcntl(appending, fcntl.F_SETFL, flags & ~os.O_APPEND) == 0)
    check("F_GETFD", fcntl.fcntl(appending, fcntl.F_GETFD) == fcntl.FD_CLOEXEC)
    fails("other fcntl commands", errno.EINVAL, fcntl.fcntl, appending, 1030)
    appending.close()

    # portalocker and filelock inside one guest.
    first = portalocker.Lock("/library.lock", fail_when_locked=True, timeout=0)
    first.acquire()
    try:
        portalocker.Lock("/library.lock", fail_when_locked=True, timeout=0).acquire()
    except portalocker.AlreadyLocked:
        print("portalocker second Lock: AlreadyLocked")
    else:
        raise AssertionError("portalocker: a second Lock got the lock")
    first.release()
    check("filelock backend", filelock.FileLock is filelock.UnixFileLock and filelock.has_fcntl,
          filelock.FileLock)
    one = filelock.FileLock("/file.lock")
    one.acquire()
    try:
        filelock.FileLock("/file.lock", timeout=0).acquire()
    except filelock.Timeout:
        print("filelock second FileLock: Timeout")
    else:
        raise AssertionError("filelock: a second FileLock got the lock")
    one.release()
    filelock.FileLock("/file.lock", timeout=0).acquire()
    os.close(b)
    print("ok")
