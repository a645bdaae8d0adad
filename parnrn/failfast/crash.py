"""A rank killed by a fatal signal (a segfault in NEURON or a C extension) names itself
and says where it was.

Python's ``faulthandler`` prints the Python stack of every thread when a fatal signal
arrives, from inside the signal handler, where no Python code can run. It cannot print a
``[rank r/N]`` prefix, so each rank keeps one idle thread whose function is *named* after
the rank: its stack, printed with the others, reads ``in [rank 1/4] crashed: ...``.
mpiexec names only the process id. The thread and the handler cost nothing until a crash.
"""

from __future__ import annotations

import faulthandler
import sys
import threading
import types

_forever = threading.Event()


def _idle() -> None:
    _forever.wait()


def install(rank: int, size: int) -> None:
    """Print this rank and the stacks of its threads on a fatal signal."""
    stream = sys.__stderr__ if sys.__stderr__ is not None else sys.stderr
    try:
        faulthandler.enable(file=stream, all_threads=True)
    except (ValueError, OSError, AttributeError):  # no usable stderr: nothing to print to
        return
    name = f"[rank {rank}/{size}] crashed: the Python stack of each of its threads follows"
    named = types.FunctionType(_idle.__code__.replace(co_name=name), globals(), name)
    threading.Thread(target=named, name=f"parnrn-rank-{rank}", daemon=True).start()
