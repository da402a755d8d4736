"""A Python portalocker.RedisLock holder or contender for the interop tests.

    python redis_lock.py hold PORT CHANNEL MODE GATE   # holds until the file GATE exists
    python redis_lock.py try PORT CHANNEL MODE         # one attempt

MODE is `exclusive` or `shared`. Prints `locked token=T` (`-` without a
token) when it holds the lock and `released` after; a failed attempt prints
`already-locked` and exits 2. Exclusive locks draw fencing tokens
(`fencing=True`).
"""

import os
import sys
import time

import portalocker


def make_lock(port, channel, mode):
    flags = (
        portalocker.LockFlags.SHARED
        if mode == 'shared'
        else portalocker.LockFlags.EXCLUSIVE
    )
    return portalocker.RedisLock(
        channel,
        redis_kwargs={'host': '127.0.0.1', 'port': int(port)},
        flags=flags,
        fencing=True,
        interrupt_on_lost=False,
    )


def locked(lock):
    token = lock.fence_token
    print(f'locked token={"-" if token is None else token}', flush=True)


def main():
    command, port, channel, mode = sys.argv[1:5]
    lock = make_lock(port, channel, mode)
    if command == 'hold':
        gate = sys.argv[5]
        lock.acquire(timeout=60)
        locked(lock)
        deadline = time.monotonic() + 120
        while not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.01)
        lost = lock.lost
        lock.release()
        print('lost' if lost else 'released', flush=True)
    elif command == 'try':
        try:
            lock.acquire(timeout=0, fail_when_locked=True)
        except portalocker.AlreadyLocked:
            print('already-locked', flush=True)
            sys.exit(2)
        locked(lock)
        lock.release()
        print('released', flush=True)
    else:
        sys.exit(f'unknown command {command}')


if __name__ == '__main__':
    main()
