"""`existing suite DIR`: portalocker's own test suite, run by pytest inside
the guest.

componentize-py runs the app's imports when it builds the component and
keeps the result; at run time there are no library files to import from,
only what was imported then and the guest's preopens. So this module, at
build time, imports pytest (every `_pytest` module) and the standard library
modules pytest and the tests import on the way, and reads the test files of
`portalocker_tests` (portalocker 4.4.2's, from its source release) into
`SOURCES`. At run time `run` writes them into DIR, runs pytest there and prints
`suite: P passed, F failed, E errors, S skipped, D deselected`, the counts of
pytest's own summary line.

`EXCLUDED` lists what cannot apply inside one guest, with the reason; the
rest must pass.
"""
import importlib
import importlib.util
import os
import pkgutil
import sys
from typing import Dict, List

import _pytest
import pytest

#: What cannot apply inside one guest, by reason: whole test files and single
#: tests (`file::test`, every parametrization, or `file::test[param]`, that
#: one). Each single test here fails in a guest for its reason.
EXCLUDED: Dict[str, List[str]] = {
    "other processes (multiprocessing, subprocess, fork): a guest has none": [
        "test_multiprocess.py",
        "test_combined.py",
        "test_exceptions.py::test_multiprocessing_pool_contention",
        "test_lock_lifecycle.py::test_gc_of_lock_wrapper_keeps_lock_held",
        "test_lock_lifecycle.py::test_atexit_unlinks_held_temporary_file_lock",
        "test_open_atomic.py::test_open_atomic_existing_destination_check_survives_optimization",
        "test_pidfilelock.py::test_multiprocess_locking",
        "test_pidfilelock.py::test_pidfilelock_atexit_releases_lock_acquired_in_forked_child",
        "test_rlock_behaviour.py::test_rlock_inconsistent_state_raises_optimized",
        "test_semaphore.py::test_bounded_semaphore_double_acquire_guard_survives_optimization",
        "test_temporary_file_lock.py::test_atexit_hook_releases_lock_held_at_interpreter_exit",
        "test_temporary_file_lock.py::test_atexit_hook_ignores_inherited_locks_in_forked_child",
        "test_temporary_file_lock.py::test_atexit_hook_releases_lock_acquired_in_forked_child",
    ],
    "threads: wasm32-wasip2 guests have one": [
        "test_concurrent_state.py",
        "test_pidfilelock.py::test_pidfilelock_losing_rollback_spares_winning_thread_state",
        "test_semaphore.py::test_bounded_semaphore_concurrent_acquire_takes_one_slot",
        "test_semaphore.py::test_bounded_semaphore_concurrent_release_releases_once",
    ],
    "a Redis server (RedisLock)": [
        "test_redis.py",
        "test_redis_random_sleep.py",
        "test_redis_reply_deadline.py",
        "test_optional_redis.py",
    ],
    "the source tree (README examples, pyproject.toml, typing_extensions)": [
        "test_readme.py",
        "test_version.py",
        "test_lock_mode_typing.py",
    ],
    "clearing O_APPEND with F_SETFL, which portalocker-wasi-fcntl cannot do: 'w' keeps appending": [
        "test_core_locking.py::test_truncate",
        "test_write_mode_semantics.py::test_write_mode_positioned_writes",
        "test_write_mode_semantics.py::test_write_plus_mode_positioned_writes",
        "test_write_mode_semantics.py::test_binary_write_mode_positioned_writes",
    ],
    "lockf's process-wide records: here lockf locks per open file, as flock": [
        "test_mechanisms.py::test_locker_mechanism[lockf]",
    ],
    "os.umask, and symbolic links to absolute paths, which WASI lacks": [
        "test_open_atomic.py::test_open_atomic_never_touches_the_process_umask",
        "test_open_atomic.py::test_open_atomic_fallback_refuses_dangling_symlink_destination",
    ],
}

#: Standard library modules that pytest or the tests import while running.
_STDLIB = [
    "_ast_unparse", "portalocker.__main__", "argparse", "ast", "bdb", "cmd", "code", "codeop", "contextlib", "copy", "dataclasses",
    "datetime", "decimal", "difflib", "dis", "doctest", "email", "enum", "errno", "fnmatch",
    "functools", "gc", "getpass", "glob", "gettext", "hashlib", "importlib.abc",
    "importlib.machinery", "importlib.metadata", "importlib.resources", "importlib.util",
    "inspect", "io", "json", "locale", "logging", "logging.handlers", "marshal", "math",
    "multiprocessing", "multiprocessing.queues", "multiprocessing.synchronize", "numbers", "operator", "pathlib", "pdb", "platform", "pprint", "random",
    "re", "secrets", "shlex", "shutil", "signal", "stat", "string", "struct", "subprocess",
    "sysconfig", "tempfile", "textwrap", "threading", "time", "tokenize", "tomllib",
    "traceback", "types", "typing", "unittest", "unittest.mock", "uuid", "warnings", "weakref",
    "zipfile", "zlib",
]


def _preload() -> None:
    """Imports, now (at build time), whatever the run will need."""
    for name in _STDLIB:
        try:
            importlib.import_module(name)
        except Exception:  # not on WASI: the tests that need it fail or skip
            pass
    packages = ["_pytest", "pluggy", "iniconfig", "encodings"]
    for package in map(importlib.import_module, packages):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            try:
                importlib.import_module(module.name)
            except Exception:
                pass


def _sources() -> Dict[str, str]:
    """The text of every file of the bundled `portalocker_tests`."""
    # Found, not imported: at run time the package is imported from DIR.
    folder = importlib.util.find_spec("portalocker_tests").submodule_search_locations[0]
    files = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                files[name] = f.read()
    return files


_preload()
SOURCES = _sources()


class _Outcomes:
    """A pytest plugin that leaves out the `excluded` tests and keeps the
    counts pytest's own summary line shows."""

    def __init__(self, excluded: List[str]) -> None:
        self.excluded = [name for name in excluded if "::" in name]
        self.counts: Dict[str, int] = {}

    def pytest_collection_modifyitems(self, config, items) -> None:
        def left_out(item) -> bool:
            test = item.nodeid.split("portalocker_tests/", 1)[-1]
            return any(test == name or test.startswith(name + "[") for name in self.excluded)

        deselected = [item for item in items if left_out(item)]
        items[:] = [item for item in items if not left_out(item)]
        config.hook.pytest_deselected(items=deselected)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        # What the summary line counts: tests, and skips at collection too.
        self.counts = {outcome: len(terminalreporter.stats.get(outcome, []))
                       for outcome in ("passed", "failed", "error", "skipped", "deselected")}


def run(directory: str) -> int:
    """Writes the suite into `directory`, runs it, prints the counts; 0 when
    nothing failed."""
    sys.dont_write_bytecode = True
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    os.makedirs("/tmp", exist_ok=True)
    tests = os.path.join(directory, "portalocker_tests")
    os.makedirs(tests, exist_ok=True)
    for name, text in SOURCES.items():
        with open(os.path.join(tests, name), "w", encoding="utf-8") as f:
            f.write(text)
    excluded = [name for names in EXCLUDED.values() for name in names]
    for reason, names in EXCLUDED.items():
        print(f"excluded ({len(names)}): {reason}")
    sys.path.insert(0, directory)
    outcomes = _Outcomes(excluded)
    args = [tests, "-q", "-rfEs", "--capture=sys", "--color=no", "--code-highlight=no", "-p", "no:cacheprovider",
            "-p", "no:faulthandler", "--rootdir", directory, "-o", "addopts=",
            # Without it pytest asks for os.getuid, which WASI lacks.
            f"--basetemp={os.path.join(directory, 'tmp')}",
            # logging opens os.devnull, which no guest has, unless told a file.
            "-o", f"log_file={os.path.join(directory, 'pytest.log')}"]
    args += [f"--ignore={os.path.join(tests, name)}" for name in excluded if "::" not in name]
    code = pytest.main(args, plugins=[outcomes])
    c = outcomes.counts
    print(f"suite: {c.get('passed', 0)} passed, {c.get('failed', 0)} failed, "
          f"{c.get('error', 0)} errors, {c.get('skipped', 0)} skipped, "
          f"{c.get('deselected', 0)} deselected")
    return 0 if code == 0 and c and not c["failed"] and not c["error"] else 1
