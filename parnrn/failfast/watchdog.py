"""Watchdog for blocking NEURON calls (psolve, pc.barrier) that hold the GIL.

A rank stuck inside NEURON, say in a spike exchange waiting for a rank that died, never
returns to Python, so a Python timer thread never gets to run. faulthandler's timer does:
it is a C thread. ``watchdog(what)`` arms it for ``settings.timeout`` seconds; on expiry it
writes every thread's Python stack into a pipe read by a small *relay* process (started on
first use, ``python -m parnrn.failfast.watchdog``). The relay prints the stack with a rank header
(``[rank r/N] parnrn: psolve exceeded timeout ...``), writes the error record into
``PARNRN_ERROR_DIR`` when set, and ends the stuck rank (SIGTERM, then SIGKILL), so that
``mpiexec`` ends the whole job with a non-zero status. The relay, not the rank, prints: the
rank cannot run Python code while NEURON holds the GIL.

With no timeout configured, or with one rank, ``watchdog`` does nothing.
"""

from __future__ import annotations

import faulthandler
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from ..ranks import known_rank_size, rank_tag
from ..settings import settings
from .records import write_record

# The relay reads this as "what is being watched now": it precedes each arming.
_ARM = b"\x00"
# The dump is complete once the pipe has been quiet this long.
_QUIET = 0.2
# How long the stuck rank has to die of SIGTERM before it gets SIGKILL.
_TERM_GRACE = 1.0

_relay: subprocess.Popen | None = None


@contextmanager
def watchdog(what: str) -> Iterator[None]:
    """Guard a blocking NEURON call named ``what`` with the configured timeout.

    If the block outlasts ``settings.timeout`` this rank's stack is printed with a rank
    header and the job ends with a non-zero status, even while NEURON holds the GIL.

    Example::

        with watchdog("psolve"):
            pc.psolve(tstop)
    """
    seconds = settings.timeout
    if seconds is None:
        yield
        return
    pipe = _relay_pipe()
    if pipe is None:
        yield
        return
    os.write(pipe.fileno(), _ARM + f"{what}\t{seconds:g}\n".encode())
    faulthandler.dump_traceback_later(seconds, file=pipe)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def _relay_pipe() -> BinaryIO | None:
    """The pipe to this rank's relay, started on first use; None with one rank."""
    global _relay
    rank, size = known_rank_size()
    if size == 1:
        return None
    if _relay is None or _relay.poll() is not None:
        _relay = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "parnrn.failfast.watchdog",
                str(rank),
                str(size),
                str(os.getpid()),
            ],
            stdin=subprocess.PIPE,
        )
    return _relay.stdin


def relay(rank: int, size: int, pid: int, fd: int) -> None:
    """Relay process body: read arm lines and, on expiry, the stack dump from ``fd``."""
    what, seconds = "a blocking call", "?"
    pending = dump = b""
    while True:
        ready = select.select([fd], [], [], _QUIET if dump else None)[0]
        chunk = os.read(fd, 65536) if ready else b""
        if not chunk:  # quiet after a dump, or the rank ended
            if dump:
                _report(rank, size, pid, what, seconds, dump)
            return
        pending += chunk
        while pending.startswith(_ARM) and b"\n" in pending:
            line, pending = pending[1:].split(b"\n", 1)
            what, seconds = line.decode(errors="replace").split("\t")
        if pending and not pending.startswith(_ARM):
            dump, pending = dump + pending, b""


def _report(rank: int, size: int, pid: int, what: str, seconds: str, dump: bytes) -> None:
    prefix = rank_tag(rank, size)
    header = f"{what} exceeded timeout {seconds} s"
    text = dump.decode(errors="replace").rstrip("\n")
    lines = [
        f"{prefix} parnrn: rank {rank} failed: {header}; ending all {size} ranks. "
        f"Where rank {rank} is stuck:"
    ]
    lines += [f"{prefix} {line}" for line in text.splitlines()]
    os.write(2, ("\n".join(lines) + "\n").encode())
    write_record(rank, size, header, text, int(signal.SIGTERM), "timeout", header)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        time.sleep(_TERM_GRACE)


if __name__ == "__main__":
    relay(*map(int, sys.argv[1:4]), sys.stdin.fileno())
