"""`hold [--layer path|handle|pid] [--label L] [--try] [--timeout MS] [--until GATE] PATH MODE [MILLIS]`

Locks PATH (relative to the first preopened directory) in MODE (`shared` or
`exclusive`), writes `held by python` through the locked file (except for the
`pid` layer), prints `locked`, holds the lock (for MILLIS milliseconds, then
until it can take a shared lock on GATE), releases it and prints `released`.

* `--layer path` (the default) uses the path layer (`path-lock.file-lock`);
  `--layer handle` opens the file itself and locks the descriptor with the
  handle layer (`descriptor-lock`); `--layer pid` takes a PID-file lock
  (`pid-lock.pid-file-lock`, MODE must be `exclusive`), into which the host
  writes the holder record with the label given by `--label L`.
* By default it waits as long as it takes; `--try` makes one attempt and
  `--timeout MS` waits at most MS milliseconds.

On failure it prints `error: <case>` (the WIT `lock-error` case) and exits with
2 for `already-locked`, 3 for `timed-out` and 1 otherwise. A PID-file
contention first prints `holder: <pid> <instance> <label or ->` when the
holder is known.
"""
import sys
import time
from typing import List, NoReturn, Optional

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import descriptor_lock
from wit_world.imports import exit as wasi_exit

from wit_world.imports.portalocker_filelock_types import PidLockError

from locking import (EXCLUSIVE, SHARED, Lock, LockMode, PidLock, error_case, nanoseconds,
                     open_file, write_all)

USAGE = ("hold [--layer path|handle|pid] [--label L] [--try] [--timeout MS] [--until GATE] "
         "PATH MODE [MILLIS]")
LINE = b"held by python\n"
EXIT_CODES = {"already-locked": 2, "timed-out": 3}


class Run(exports.Run):
    """The `wasi:cli/run` export."""

    def run(self) -> None:
        request = parse(sys.argv[1:])
        try:
            hold(**request)
        except Err as e:
            error = e.value
            if isinstance(error, PidLockError):  # the pid layer's failure names the holder
                if error.holder is not None:
                    h = error.holder
                    print(f"holder: {h.pid} {h.instance} {'-' if h.label is None else h.label}")
                error = error.error
            case = error_case(error)
            detail = getattr(error, "value", None)  # io's error-code, limit-reached's limit
            print(f"error: {case}")
            print(f"hold: cannot lock: {case}" + (f" ({detail})" if detail else ""), file=sys.stderr)
            finish(EXIT_CODES.get(case, 1))
        print("released")
        sys.stdout.flush()


def finish(code: int) -> NoReturn:
    """Flushes stdout and stderr, then ends the program with `code`."""
    sys.stdout.flush()
    sys.stderr.flush()
    wasi_exit.exit_with_code(code)
    raise AssertionError("not reached")


def usage(message: str) -> NoReturn:
    print(f"error: {message}\nusage: {USAGE}", file=sys.stderr)
    finish(1)


def parse(args: List[str]) -> dict:
    """The keyword arguments of `hold` for the command line `args`."""
    layer, label, timeout, until, positional = "path", None, None, None, []
    args = iter(args)
    for arg in args:
        if arg == "--layer":
            layer = next(args, None)
            if layer not in ("path", "handle", "pid"):
                usage("--layer is `path`, `handle` or `pid`")
        elif arg == "--label":
            label = next(args, None)
            if label is None:
                usage("--label takes a label")
        elif arg == "--try":
            timeout = 0.0
        elif arg == "--timeout":
            ms = next(args, "")
            if not ms.isdigit():
                usage("--timeout takes a number of milliseconds")
            timeout = int(ms) / 1000
        elif arg == "--until":
            until = next(args, None)
            if until is None:
                usage("--until takes a path")
        elif arg.startswith("--"):
            usage(f"unknown option {arg}")
        else:
            positional.append(arg)
    if len(positional) not in (2, 3):
        usage("expected PATH MODE [MILLIS]")
    modes = {"shared": SHARED, "exclusive": EXCLUSIVE}
    if positional[1] not in modes:
        usage("MODE is `shared` or `exclusive`")
    if layer == "pid" and positional[1] != "exclusive":
        usage("PID files are exclusive")
    millis = positional[2] if len(positional) == 3 else "0"
    if not millis.isdigit():
        usage("MILLIS is a number of milliseconds")
    return dict(layer=layer, label=label, path=positional[0], mode=modes[positional[1]],
                timeout=timeout, hold_for=int(millis) / 1000, until=until)


def hold(layer: str, label: Optional[str], path: str, mode: LockMode, timeout: Optional[float],
         hold_for: float, until: Optional[str]) -> None:
    """Takes the lock, writes through it, holds it while `held` runs, releases it."""
    if layer == "pid":
        # The host writes the holder record into the file: nothing to write.
        with PidLock(path, label=label, timeout=timeout):
            held(hold_for, until)
    elif layer == "path":
        with Lock(path, mode, timeout=timeout) as f:
            write_all(f, LINE)
            held(hold_for, until)
    else:
        with open_file(path) as f:
            if timeout == 0:
                descriptor_lock.try_lock(f, mode)
            else:
                descriptor_lock.lock(f, mode, nanoseconds(timeout))
            write_all(f, LINE)
            held(hold_for, until)
            descriptor_lock.unlock(f)


def held(hold_for: float, until: Optional[str]) -> None:
    """Reports the lock held, then keeps it for the time and gate asked for."""
    print("locked")
    sys.stdout.flush()
    time.sleep(hold_for)
    if until is not None:
        # The caller holds GATE exclusively for as long as we must hold on.
        with Lock(until, SHARED, create=True, write=False):
            pass
