"""End the whole job, loudly and at once, when one rank fails outside a collective.

Installed by ``runtime.start()`` when running on more than one rank. An unhandled
exception prints its traceback once, prefixed with ``[rank r/N]``, and ends every rank with
``MPI_Abort`` and a non-zero status, instead of leaving the others waiting forever.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any

_runtime: Any = None


def install(runtime: Any) -> None:
    """Take over ``sys.excepthook`` for this process."""
    global _runtime
    _runtime = runtime
    sys.excepthook = _excepthook


def _excepthook(exc_type: type, exc: BaseException, tb: Any) -> None:
    text = "".join(traceback.format_exception(exc_type, exc, tb))
    abort(f"unhandled {exc_type.__name__}", text, 1)


def abort(reason: str, detail: str, code: int) -> None:
    """Print ``detail`` tagged with this rank, then end every rank with status ``code``."""
    prefix = f"[rank {_runtime.rank}/{_runtime.size}]"
    lines = detail.rstrip("\n").splitlines() or [""]
    sys.stderr.write(f"{prefix} parnrn: {reason}; aborting all ranks\n")
    sys.stderr.write("".join(f"{prefix} {line}\n" for line in lines))
    sys.stderr.flush()
    code = min(max(int(code), 1), 255)
    _runtime.MPI.COMM_WORLD.Abort(code)
    os._exit(code)
