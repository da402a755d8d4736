"""Existing Python code, unmodified, locking through portalocker for WASI.

`portalocker` 4.4.2 and `filelock` 4.3.1 come from PyPI as they are; the
only addition is the `portalocker-wasi-fcntl` package, whose `fcntl` module
they import. Commands (paths are guest paths; `/` is preopened):

* `portalocker [--shared] [--try | --timeout MS] [--until GATE] PATH`:
  `portalocker.Lock(PATH, ...)` (exclusive, or `LockFlags.SHARED`), writes
  `held by portalocker` in exclusive mode, prints `locked`, holds the lock
  until it can take a shared lock on GATE, releases, prints `released`.
* `filelock [--try | --timeout MS] [--until GATE] PATH`: the same with
  `filelock.FileLock(PATH)` (always exclusive); prints the class in use
  first (`backend: UnixFileLock`).
* `fcntl [--shared] [--try] [--lockf] [--until GATE] PATH`: plain
  `fcntl.flock` (or `fcntl.lockf`) on `os.open(PATH)`.
* `checks`: the `fcntl` module's semantics, checked inside the guest.
* `suite DIR`: runs portalocker's own tests (bundled by the build) with
  pytest in DIR, and prints `suite: P passed, F failed, E errors, S skipped,
  D deselected`.

Failures print `error: already-locked` (exit 2), `error: timed-out` (exit 3)
or `error: <exception>` (exit 1).
"""
import os
import sys
from typing import List, NoReturn, Optional

import fcntl

import checks
import filelock
import suite
import portalocker
from wit_world import exports
from wit_world.imports import exit as wasi_exit

USAGE = ("existing portalocker|filelock|fcntl [--shared] [--try | --timeout MS] [--lockf] "
         "[--until GATE] PATH | checks | suite DIR")


class Run(exports.Run):
    """The `wasi:cli/run` export."""

    def run(self) -> None:
        args = sys.argv[1:]
        if not args:
            usage("expected a command")
        command, rest = args[0], args[1:]
        if command == "checks":
            checks.run()
        elif command == "suite":
            if len(rest) != 1:
                usage("suite takes a directory")
            finish(suite.run(rest[0]))
        elif command in ("portalocker", "filelock", "fcntl"):
            hold(command, **parse(rest))
        else:
            usage(f"unknown command {command}")
        finish(0)


def finish(code: int) -> NoReturn:
    """Flushes stdout and stderr, then ends the program with `code`."""
    sys.stdout.flush()
    sys.stderr.flush()
    wasi_exit.exit_with_code(code)
    raise AssertionError("not reached")


def usage(message: str) -> NoReturn:
    print(f"error: {message}\nusage: {USAGE}", file=sys.stderr)
    finish(1)


def fail(case: str, detail: object) -> NoReturn:
    print(f"error: {case}")
    print(f"existing: {detail!r}", file=sys.stderr)
    finish({"already-locked": 2, "timed-out": 3}.get(case, 1))


def parse(args: List[str]) -> dict:
    shared, lockf, timeout, until, positional = False, False, None, None, []
    it = iter(args)
    for arg in it:
        if arg == "--shared":
            shared = True
        elif arg == "--lockf":
            lockf = True
        elif arg == "--try":
            timeout = 0.0
        elif arg == "--timeout":
            ms = next(it, "")
            if not ms.isdigit():
                usage("--timeout takes a number of milliseconds")
            timeout = int(ms) / 1000
        elif arg == "--until":
            until = next(it, None)
            if until is None:
                usage("--until takes a path")
        elif arg.startswith("--"):
            usage(f"unknown option {arg}")
        else:
            positional.append(arg)
    if len(positional) != 1:
        usage("expected PATH")
    return dict(path=positional[0], shared=shared, lockf=lockf, timeout=timeout, until=until)


def hold(library: str, path: str, shared: bool, lockf: bool, timeout: Optional[float],
         until: Optional[str]) -> None:
    """Takes the lock with `library`, holds it while `held` runs, releases it."""
    if library == "portalocker":
        flags = portalocker.LockFlags.SHARED if shared else portalocker.LockFlags.EXCLUSIVE
        if timeout is not None:
            flags |= portalocker.LockFlags.NON_BLOCKING
        lock = portalocker.Lock(path, mode="a", flags=flags,
                                timeout=timeout, check_interval=0.02,
                                fail_when_locked=timeout == 0)
        try:
            fh = lock.acquire()
        except portalocker.AlreadyLocked as e:
            fail("already-locked" if timeout == 0 else "timed-out", e)
        if not shared:
            fh.write("held by portalocker\n")
            fh.flush()
        held(until)
        lock.release()
    elif library == "filelock":
        print(f"backend: {filelock.FileLock.__name__}")
        lock = filelock.FileLock(path, timeout=-1 if timeout is None else timeout)
        try:
            lock.acquire(poll_interval=0.02)
        except filelock.Timeout as e:
            fail("already-locked" if timeout == 0 else "timed-out", e)
        held(until)
        lock.release()
    else:
        fd = os.open(path, os.O_RDWR | os.O_CREAT)
        locker = fcntl.lockf if lockf else fcntl.flock
        operation = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        try:
            locker(fd, operation | (fcntl.LOCK_NB if timeout == 0 else 0))
        except BlockingIOError as e:
            fail("already-locked", e)
        held(until)
        locker(fd, fcntl.LOCK_UN)
        os.close(fd)
    print("released")


def held(until: Optional[str]) -> None:
    """Reports the lock held, then keeps it until a shared lock on `until`
    can be taken (the caller holds it exclusively while we must hold on)."""
    print("locked")
    sys.stdout.flush()
    if until is not None:
        fd = os.open(until, os.O_RDONLY | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_SH)
        os.close(fd)

