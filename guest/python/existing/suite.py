"""`existing suite DIR`: portalocker's own test suite, run by pytest inside
the guest.

componentize-py runs the app's imports when it builds the component and
keeps the result; at run time there are no library files to import from,
only what was imported then and the guest's preopens. So this module, at
build time, imports pytest (every `_pytest` module) and the standard library
modules pytest and the tests import on the way, and reads the test files of
`portalocker_tests` (portalocker 4.4.2's, from its source release) into
`SOURCES`. At run time `run` writes them into DIR and runs pytest there.

`EXCLUDED` lists what cannot apply inside one guest, with the reason; the
rest must pass.
"""
import importlib
import os
import pkgutil
import sys
from typing import Dict, List

import _pytest
import pytest

import portalocker_tests

#: Test files and tests that cannot run inside one guest, and why.
EXCLUDED: Dict[str, str] = {
    "test_multiprocess.py": "runs lockers in other processes (multiprocessing)",
    "test_redis.py": "needs a Redis server (portalocker.RedisLock)",
    "test_redis_random_sleep.py": "RedisLock",
    "test_redis_reply_deadline.py": "RedisLock",
    "test_optional_redis.py": "RedisLock",
}

#: Standard library modules that pytest or the tests import while running.
_STDLIB = [
    "argparse", "ast", "bdb", "cmd", "code", "codeop", "contextlib", "copy", "dataclasses",
    "datetime", "decimal", "difflib", "dis", "doctest", "email", "enum", "errno", "fnmatch",
    "functools", "gc", "getpass", "glob", "gettext", "hashlib", "importlib.abc",
    "importlib.machinery", "importlib.metadata", "importlib.resources", "importlib.util",
    "inspect", "io", "json", "locale", "logging", "logging.handlers", "marshal", "math",
    "multiprocessing", "numbers", "operator", "pathlib", "pdb", "platform", "pprint", "random",
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
    for package in (_pytest, importlib.import_module("pluggy"), importlib.import_module("iniconfig")):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            try:
                importlib.import_module(module.name)
            except Exception:
                pass


def _sources() -> Dict[str, str]:
    """The text of every file of the bundled `portalocker_tests`."""
    folder = os.path.dirname(portalocker_tests.__file__)
    files = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                files[name] = f.read()
    return files


_preload()
SOURCES = _sources()


class _Outcomes:
    """A pytest plugin that counts the tests' outcomes."""

    def __init__(self) -> None:
        self.counts = {"passed": 0, "failed": 0, "skipped": 0}
        self.failed: List[str] = []

    def pytest_runtest_logreport(self, report) -> None:
        if report.when == "call" or report.outcome != "passed":
            if report.outcome == "failed":
                self.failed.append(report.nodeid)
            self.counts[report.outcome] += 1


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
    for name, reason in EXCLUDED.items():
        print(f"excluded: {name}: {reason}")
    outcomes = _Outcomes()
    args = [tests, "-q", "-rfE", "--capture=sys", "--color=no", "--code-highlight=no", "-p", "no:cacheprovider",
            "-p", "no:faulthandler", "--rootdir", directory, "-o", "addopts="]
    args += [f"--ignore={os.path.join(tests, name)}" for name in EXCLUDED if name.endswith(".py")]
    args += [f"--deselect=portalocker_tests/{name}" for name in EXCLUDED if "::" in name]
    code = pytest.main(args, plugins=[outcomes])
    c = outcomes.counts
    print(f"suite: {c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped")
    return 0 if code == 0 and not outcomes.failed else 1
