"""A rank killed by a fatal signal (a segfault in NEURON or a C extension) names itself
and says where it was.

Python's ``faulthandler`` prints the Python stack of every thread when a fatal signal
arrives, from inside the signal handler, where no Python code can run. It cannot print a
``[rank r/N]`` prefix, so each rank keeps one idle thread whose function is *named* after
the rank: its stack, printed with the others, reads ``in [rank 1/4] crashed: ...``.
mpiexec names only the process id. The thread and the handler cost nothing until a crash.
The same trick names the work a rank is doing (``call_named``: ``in p.parallel.map
item 7``), and ``stacks_on_termination`` prints the stacks for the signals
that end a process without a word (SIGTERM, SIGHUP, SIGUSR1, SIGUSR2).
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import threading
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_TERMINATING = ("SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2")
_registered: list[int] = []  # the signals stacks_on_termination registered

_forever = threading.Event()


def _idle() -> None:
    _forever.wait()


def _stderr() -> Any:
    return sys.__stderr__ if sys.__stderr__ is not None else sys.stderr


def _named(function: Callable[..., Any], name: str) -> Callable[..., Any]:
    """``function`` under another name, the name a stack printed by ``faulthandler`` shows."""
    code = function.__code__.replace(co_name=name)
    if hasattr(code, "co_qualname"):  # Python 3.11+: what tracebacks print
        code = code.replace(co_qualname=name)
    return types.FunctionType(code, function.__globals__, name)


def install(rank: int, size: int) -> None:
    """Print this rank and the stacks of its threads on a fatal signal."""
    try:
        faulthandler.enable(file=_stderr(), all_threads=True)
    except (ValueError, OSError, AttributeError):  # no usable stderr: nothing to print to
        return
    name = f"[rank {rank}/{size}] crashed: the Python stack of each of its threads follows"
    threading.Thread(target=_named(_idle, name), name=f"parnrn-rank-{rank}", daemon=True).start()


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


def call_named(name: str, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` from a frame called ``name``, so that a stack printed on a crash (or
    in a traceback) says what this rank was doing. Costs about a microsecond.

    Example::

        call_named("p.parallel.map item 7", fn, item)
    """
    return _named(_call, name)(fn, *args)


@contextmanager
def stacks_on_termination() -> Iterator[None]:
    """Inside the block, the signals that end a process silently by default (SIGTERM,
    SIGHUP, SIGUSR1, SIGUSR2) first print the Python stack of each thread, as a crash
    does; a handler the script set itself is left alone.

    Example::

        with stacks_on_termination():
            run_tasks()   # killed by SIGTERM: the stacks show which task was running
    """
    for name in _TERMINATING:
        signum = getattr(signal, name, None)
        if signum is not None and signal.getsignal(signum) is signal.SIG_DFL:
            try:
                faulthandler.register(signum, file=_stderr(), all_threads=True, chain=True)
            except (ValueError, OSError, AttributeError, RuntimeError):
                continue
            _registered.append(signum)
    try:
        yield
    finally:
        _unregister()


def _unregister() -> None:
    for signum in _registered:
        faulthandler.unregister(signum)
    _registered.clear()


# A forked child (a multiprocessing pool's worker) ends by SIGTERM as a matter of course.
os.register_at_fork(after_in_child=_unregister)
