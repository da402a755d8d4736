"""A Python portalocker process for the on-disk compatibility tests
(tests/all/python_portalocker.rs): it locks files the way portalocker's own
classes do, in the current directory, while guests lock the same paths.

    peer.py hold CLASS PATH   takes the lock (waiting up to 30 s), prints
                              `locked`, waits for a line (or the end) on
                              stdin, releases, prints `released`
    peer.py try CLASS PATH    one attempt: prints `acquired` and releases
                              (exit 0), or prints `already-locked` and, for
                              `pid`, `holder: PID` (exit 2)

CLASS is `lock` (Lock), `rlock` (RLock), `temporary` (TemporaryFileLock),
`pid` (PidFileLock) or `semaphore` (a one-slot BoundedSemaphore named PATH's
file name, in PATH's directory). Any other failure prints `error: ...` and
exits 1.
"""

import os
import sys

import portalocker

WAIT = 30.0


def make(cls, path, wait):
    timeout = WAIT if wait else 0
    if cls == 'lock':
        return portalocker.Lock(path, 'a', timeout=timeout, fail_when_locked=not wait)
    if cls == 'rlock':
        return portalocker.RLock(path, 'a', timeout=timeout, fail_when_locked=not wait)
    if cls == 'temporary':
        return portalocker.TemporaryFileLock(path, timeout=timeout, fail_when_locked=not wait)
    if cls == 'pid':
        return portalocker.PidFileLock(path, timeout=timeout, fail_when_locked=not wait)
    if cls == 'semaphore':
        directory, name = os.path.split(path)
        return portalocker.BoundedSemaphore(
            1, name=name, directory=directory or '.', timeout=timeout, fail_when_locked=True
        )
    raise SystemExit(f'error: unknown class {cls}')


def say(line):
    print(line, flush=True)


def hold(cls, path):
    lock = make(cls, path, wait=True)
    lock.acquire()
    if cls == 'rlock':
        lock.acquire()
    say('locked')
    sys.stdin.readline()
    lock.release()
    if cls == 'rlock':
        lock.release()
    say('released')


def attempt(cls, path):
    lock = make(cls, path, wait=False)
    if cls == 'pid':
        try:
            with lock as holder:
                if holder is None:
                    say('acquired')
                    return 0
                say('already-locked')
                say(f'holder: {holder}')
                return 2
        except portalocker.AlreadyLocked:
            say('already-locked')
            say('holder: unknown')
            return 2
    try:
        lock.acquire()
    except portalocker.AlreadyLocked:
        say('already-locked')
        return 2
    say('acquired')
    lock.release()
    return 0


def main(argv):
    if len(argv) != 4 or argv[1] not in ('hold', 'try'):
        raise SystemExit(__doc__)
    _, action, cls, path = argv
    try:
        if action == 'hold':
            hold(cls, path)
            return 0
        return attempt(cls, path)
    except portalocker.LockException as error:
        say(f'error: {error!r}')
        return 1


if __name__ == '__main__':
    sys.exit(main(sys.argv))
