"""The messages of a task farm: numbers handed out by a shared counter, results sent to
rank 0. It knows nothing of NEURON, nor of what the numbers and results stand for.

``p.parallel.map`` hands out item indices with it. The counter is an int64 in rank 0's
memory that any rank increments atomically (``MPI_Rget_accumulate``) with no action by
rank 0's program; allocated by MPI (``Win.Allocate``), on one node it lives in shared
memory. A result is bytes sent to rank 0 without waiting for it; rank 0 takes what has
arrived whenever it looks (``arrived``). Every wait is polled, so that Python handles
signals in it, and ``close`` is a guarded collective on the world: a rank that reached the
end of its program instead meets it there and every rank is told, never left waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import runtime
from ..errors import ParallelError
from ..ranks import rank_tag
from ..settings import settings
from . import guard
from .collectives import barrier, gather

_RESULTS = 1  # the tag of results on the farm's communicator
_QUICK_TESTS = range(64)  # tests before a polled wait starts to sleep
_LONGEST_PAUSE = 0.001  # seconds between tests, at most, while a wait drags on


class Farm:
    """A counter to take numbers from and a channel of results to rank 0, on ``comm``
    (which only the farm may use: its results travel there as point-to-point messages).
    ``name`` says whose farm it is in error messages. Collective over ``comm`` to make and
    over the world to ``close``.

    Example::

        farm = Farm(comm, "p.parallel.map")
        while (first := farm.take(1)) < len(items):
            farm.send(pickle.dumps(work(items[first])))   # on ranks other than 0
        farm.close(world, on_arrival=collect)             # rank 0: the rest arrive
    """

    def __init__(self, comm: Any, name: str):
        self.MPI = MPI = runtime.start().MPI
        self.comm, self.name = comm, name
        self.rank = comm.Get_rank()
        self.win = MPI.Win.Allocate(8 if self.rank == 0 else 0, 8, comm=comm)
        if self.rank == 0:
            np.frombuffer(self.win.tomemory(), dtype=np.int64)[0] = 0
        barrier(comm)  # zeroed before anyone takes a number
        self.win.Lock_all()
        self._step = np.zeros(1, dtype=np.int64)
        self._taken = np.zeros(1, dtype=np.int64)
        self._sent: list[tuple[Any, bytes]] = []  # requests and their buffers, kept alive
        self._received = np.zeros(comm.Get_size(), dtype=np.int64)  # on rank 0, by source
        self._status = MPI.Status()

    def take(self, count: int) -> int:
        """Take ``count`` consecutive numbers from the counter (which starts at 0) and
        return the first. Across nodes, an MPI library without hardware atomics moves the
        counter only while rank 0 calls MPI."""
        self._step[0] = count
        request = self.win.Rget_accumulate(self._step, self._taken, 0, op=self.MPI.SUM)
        _poll(request.Test)
        return int(self._taken[0])

    def send(self, payload: bytes) -> None:
        """Send ``payload`` to rank 0 without waiting (from any rank but 0)."""
        request = self.comm.Isend([payload, self.MPI.BYTE], 0, _RESULTS)
        self._sent.append((request, payload))

    def arrived(self) -> list[bytes]:
        """On rank 0: the results that have arrived since the last call, without waiting."""
        MPI, status = self.MPI, self._status
        payloads = []
        while (message := self.comm.Improbe(MPI.ANY_SOURCE, _RESULTS, status)) is not None:
            payload = bytearray(status.Get_count(MPI.BYTE))
            message.Recv([payload, MPI.BYTE])
            self._received[status.Get_source()] += 1
            payloads.append(payload)
        return payloads

    def close(self, world: Any, on_arrival: Callable[[bytes], None] | None) -> None:
        """End the farm, on every rank of ``world`` (the communicator the farm's was made
        from, whose ranks it numbers alike). Rank 0 hands each result still on its way to
        ``on_arrival``; the others (whose ``on_arrival`` is unused) see their results
        delivered.

        The ranks first meet in a guarded agreement on the world, waiting as long as the
        others' tasks take (the collective timeout does not apply), where a rank that
        ended its program waits too: every rank then raises ``CollectiveMismatchError``
        naming it. Then they tell rank 0 how many results each sent. A result announced
        that does not arrive (lost to a forked child that called MPI) raises
        ``ParallelError`` once none has moved for ``settings.exit_patience`` seconds (or
        the timeout, if longer).
        """
        # Tasks may run for longer than any collective timeout: the ranks that finish
        # first wait for the others without one, but polled, and a rank at the end of
        # its program meets them here.
        guard.agree(world, f"{self.name} (end)", wait=_poll_request)
        counts = gather(len(self._sent), 0, world)
        if self.rank == 0:
            expected = np.asarray(counts, dtype=np.int64)
            expected[0] = 0
            self._wait(lambda: self._receive_rest(expected, on_arrival), self._lost, expected)
        else:
            requests = [request for request, _ in self._sent]
            self._wait(lambda: _count_pending(requests), self._undelivered, len(requests))
        self._sent.clear()
        barrier(self.comm)  # every rank here: freeing the window waits for no one
        self.win.Unlock_all()
        self.win.Free()

    def _receive_rest(self, expected: np.ndarray, on_arrival: Callable[[bytes], None]) -> int:
        """Hand what has arrived to ``on_arrival``; how many results are still missing."""
        for payload in self.arrived():
            on_arrival(payload)
        return int(np.maximum(expected - self._received, 0).sum())

    def _wait(self, left: Callable[[], int], fail: Callable[[Any, float], None], what: Any):
        """Poll ``left()`` until it is 0; ``fail(what, seconds)`` once it has not moved
        for the patience: ``settings.exit_patience`` seconds, or the timeout if longer."""
        patience = max(settings.exit_patience, settings.timeout or 0.0)
        last, last_move = -1, time.monotonic()
        pause = 0.0
        while remaining := left():
            now = time.monotonic()
            if remaining != last:
                last, last_move = remaining, now
            elif now - last_move > patience:
                fail(what, now - last_move)
            if pause:
                time.sleep(pause)
            pause = min(pause * 2 or 1e-5, _LONGEST_PAUSE)

    def _lost(self, expected: np.ndarray, seconds: float) -> None:
        missing = {
            rank: int(expected[rank] - self._received[rank])
            for rank in range(len(expected))
            if self._received[rank] < expected[rank]
        }
        listed = ", ".join(f"{count} from rank {rank}" for rank, count in missing.items())
        raise ParallelError(
            f"{rank_tag()} {self.name}: result message(s) sent but never received on rank 0 "
            f"({listed}; none arrived for {seconds:.0f} s). MPI does not lose messages: "
            f"most likely a process forked from rank 0 made MPI calls and took them (it "
            f"shares rank 0's MPI state); make no MPI calls in forked children"
        )

    def _undelivered(self, _: Any, seconds: float) -> None:
        raise ParallelError(
            f"{rank_tag()} {self.name}: rank 0 has not received this rank's results for "
            f"{seconds:.0f} s after every rank announced its own; rank 0 left the farm "
            f"without them (an exception caught there?)"
        )


def _count_pending(requests: list[Any]) -> int:
    """How many of ``requests`` are not complete yet (a completed one tests true again)."""
    return sum(not request.Test() for request in requests)


def _poll_request(request: Any) -> None:
    _poll(request.Test)


def _poll(test: Callable[[], bool]) -> None:
    """Wait until ``test()`` is true: a few quick tests, then sleeps that grow to
    ``_LONGEST_PAUSE``, so that Python handles signals (Ctrl-C) while it waits."""
    for _ in _QUICK_TESTS:
        if test():
            return
    pause = 1e-5
    while not test():
        time.sleep(pause)
        pause = min(pause * 2, _LONGEST_PAUSE)
