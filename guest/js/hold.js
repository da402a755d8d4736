/**
 * `hold [--layer path|handle|pid] [--label L] [--try] [--timeout MS] [--until GATE] PATH MODE [MILLIS]`
 *
 * The JavaScript guest of portalocker:filelock: a `wasi:cli` command, built
 * with componentize-js against the world `portalocker:filelock/command`.
 *
 * Locks PATH (relative to the first preopened directory) in MODE (`shared` or
 * `exclusive`), writes `held by javascript` into it (not with `--layer pid`),
 * prints `locked`, holds the lock for MILLIS milliseconds (default 0) and
 * then, with `--until GATE`, until it can take a shared lock on GATE; then
 * releases PATH and prints `released`.
 *
 * * `--layer path` (the default): `path-lock.file-lock.acquire`, creating the
 *   file and opening it for writing.
 * * `--layer handle`: opens the file with `wasi:filesystem` and locks the
 *   descriptor with `descriptor-lock`.
 * * `--layer pid`: `pid-lock.pid-file-lock.acquire` (MODE must be
 *   `exclusive`), publishing the label given with `--label L` (accepted for
 *   any layer, used only by this one); the host writes the holder record into
 *   the file, so nothing else is written.
 * * By default it waits as long as it takes; `--try` makes one attempt and
 *   `--timeout MS` waits at most MS milliseconds.
 *
 * On a `lock-error` it prints `error: <case>` on stdout and a message on
 * stderr, and exits with 2 for `already-locked`, 3 for `timed-out` and 1
 * otherwise. A PID-file failure that names the holder in the way first prints
 * `holder: <pid> <instance> <label or ->`. Bad usage exits with 1.
 */

import { getArguments } from 'wasi:cli/environment@0.2.12';
import { exitWithCode } from 'wasi:cli/exit@0.2.12';
import { getStdout } from 'wasi:cli/stdout@0.2.12';
import { subscribeDuration } from 'wasi:clocks/monotonic-clock@0.2.12';
import { getDirectories } from 'wasi:filesystem/preopens@0.2.12';
import { lock, tryLock, unlock } from 'portalocker:filelock/descriptor-lock@0.1.0';
import { FileLock } from 'portalocker:filelock/path-lock@0.1.0';
import { PidFileLock } from 'portalocker:filelock/pid-lock@0.1.0';

const USAGE = 'hold [--layer path|handle|pid] [--label L] [--try] [--timeout MS] [--until GATE] PATH MODE [MILLIS]';
const LINE = new TextEncoder().encode('held by javascript\n');

// The top level runs at build time (the engine is pre-initialized with
// Wizer), where imports cannot be called: every import is called from `run`.

let stdout;

/** Prints `line` on stdout and flushes it (a test reads it while we run). */
function say(line) {
  stdout ??= getStdout();
  stdout.blockingWriteAndFlush(new TextEncoder().encode(`${line}\n`));
}

/**
 * A failed lock operation: the WIT `lock-error` case, what was tried and, for
 * a PID-file lock, the holder in the way (a WIT `holder` record, or undefined).
 */
class LockFailure extends Error {
  constructor(errorCase, detail, what, holder) {
    super(`${what}: ${errorCase}${detail === undefined ? '' : ` (${detail})`}`);
    this.errorCase = errorCase;
    this.holder = holder;
  }
}

/**
 * Runs `call`, turning the error componentize-js throws for an `err` result
 * (a `ComponentError` whose `payload` is the error value) into a LockFailure.
 * A `lock-error` payload is a variant, `{ tag, val }`; a `pid-lock-error`
 * payload is a record, `{ error: { tag, val }, holder: { pid, instance, label }
 * | undefined }`; a `wasi:filesystem` `error-code` payload is an enum, a plain
 * string.
 */
function attempt(what, call) {
  try {
    return call();
  } catch (e) {
    const payload = e?.payload;
    if (typeof payload?.error?.tag === 'string') {
      throw new LockFailure(payload.error.tag, payload.error.val, what, payload.holder);
    }
    if (typeof payload?.tag === 'string') {
      throw new LockFailure(payload.tag, payload.val, what);
    }
    if (typeof payload === 'string') {
      throw new LockFailure(payload === 'no-entry' ? 'not-found' : 'io', payload, what);
    }
    throw e;
  }
}

class UsageError extends Error {}

/** Parses the arguments (after the program name) into a request. */
function parse(args) {
  const request = { layer: 'path', label: undefined, timeout: undefined, until: undefined };
  const positional = [];
  while (args.length > 0) {
    const arg = args.shift();
    if (arg === '--layer') {
      request.layer = args.shift();
      if (!['path', 'handle', 'pid'].includes(request.layer)) {
        throw new UsageError('--layer is `path`, `handle` or `pid`');
      }
    } else if (arg === '--label') {
      request.label = args.shift();
      if (request.label === undefined) throw new UsageError('--label takes a label');
    } else if (arg === '--try') {
      request.timeout = 0n;
    } else if (arg === '--timeout') {
      const ms = args.shift();
      if (!/^\d+$/.test(ms ?? '')) throw new UsageError('--timeout takes a number of milliseconds');
      request.timeout = BigInt(ms) * 1_000_000n; // a wasi:clocks duration, in nanoseconds
    } else if (arg === '--until') {
      request.until = args.shift();
      if (request.until === undefined) throw new UsageError('--until takes a path');
    } else if (arg.startsWith('--')) {
      throw new UsageError(`unknown option ${arg}`);
    } else {
      positional.push(arg);
    }
  }
  const [path, mode, millis = '0', ...rest] = positional;
  if (mode === undefined || rest.length > 0) throw new UsageError('expected PATH MODE [MILLIS]');
  if (mode !== 'shared' && mode !== 'exclusive') throw new UsageError('MODE is `shared` or `exclusive`');
  if (request.layer === 'pid' && mode !== 'exclusive') throw new UsageError('PID files are exclusive');
  if (!/^\d+$/.test(millis)) throw new UsageError('MILLIS is a number of milliseconds');
  return { ...request, path, mode, holdFor: BigInt(millis) * 1_000_000n };
}

/** Writes LINE at offset 0 of the descriptor `file`. */
function writeLine(file) {
  let done = 0;
  while (done < LINE.length) {
    done += Number(attempt('write', () => file.write(LINE.subarray(done), BigInt(done))));
  }
}

/** Reports the lock held, then keeps it for the time and gate asked for. */
function held(dir, request) {
  say('locked');
  if (request.holdFor > 0n) subscribeDuration(request.holdFor).block();
  if (request.until !== undefined) {
    const options = { mode: 'shared', timeout: undefined, create: true, write: false, truncate: false, append: false };
    const gate = attempt(`lock ${request.until}`, () => FileLock.acquire(dir, request.until, options));
    attempt(`release ${request.until}`, () => gate.release());
  }
}

/** Locks the file through the path layer (`file-lock`). */
function holdPath(dir, request) {
  const options = { mode: request.mode, timeout: request.timeout, create: true, write: true, truncate: false, append: false };
  const fileLock = attempt(`lock ${request.path} (${request.mode})`, () =>
    FileLock.acquire(dir, request.path, options));
  writeLine(attempt('file', () => fileLock.file()));
  held(dir, request);
  attempt(`release ${request.path}`, () => fileLock.release());
}

/** Opens the file itself and locks the descriptor (`descriptor-lock`). */
function holdHandle(dir, request) {
  const file = attempt(`open ${request.path}`, () =>
    dir.openAt({ symlinkFollow: true }, request.path, { create: true }, { read: true, write: true }));
  attempt(`lock ${request.path} (${request.mode})`, () => request.timeout === 0n
    ? tryLock(file, request.mode)
    : lock(file, request.mode, request.timeout));
  writeLine(file);
  held(dir, request);
  attempt(`unlock ${request.path}`, () => unlock(file));
}

/** Locks the file as a PID file (`pid-file-lock`); the host writes the record. */
function holdPid(dir, request) {
  const options = { mode: 'exclusive', timeout: request.timeout, create: true, write: true, truncate: false, append: false };
  const pidLock = attempt(`lock ${request.path} (pid)`, () =>
    PidFileLock.acquire(dir, request.path, request.label, options));
  held(dir, request);
  attempt(`release ${request.path}`, () => pidLock.release());
  pidLock[Symbol.dispose]?.(); // drops the resource (releasing again does nothing)
}

const LAYERS = { path: holdPath, handle: holdHandle, pid: holdPid };

/** Exit codes: 2 for `already-locked`, 3 for `timed-out`, 1 otherwise. */
const EXIT_CODES = { 'already-locked': 2, 'timed-out': 3 };

export const run = {
  run() {
    let request;
    try {
      request = parse(getArguments().slice(1));
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      console.error(`error: ${e.message}\nusage: ${USAGE}`);
      exitWithCode(1);
    }
    const [preopen] = getDirectories();
    if (preopen === undefined) {
      console.error('error: no preopened directory');
      exitWithCode(1);
    }
    const [dir] = preopen;
    try {
      LAYERS[request.layer](dir, request);
    } catch (e) {
      if (!(e instanceof LockFailure)) throw e;
      if (e.holder !== undefined && e.holder !== null) {
        const { pid, instance, label } = e.holder;
        say(`holder: ${pid} ${instance} ${label ?? '-'}`);
      }
      say(`error: ${e.errorCase}`);
      console.error(e.message);
      exitWithCode(EXIT_CODES[e.errorCase] ?? 1);
    }
    say('released');
  },
};
