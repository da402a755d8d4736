"""`fcntl` for Python guests of portalocker for WASI.

CPython for WASI has no `fcntl` module; this one locks through the host's
`portalocker:filelock` interfaces. See `portalocker_wasi_fcntl` for what it
does and what it cannot do.
"""
from portalocker_wasi_fcntl import *  # noqa: F401,F403
from portalocker_wasi_fcntl import __all__  # noqa: F401
