"""Is a rank that has not reached the end of the program still working, or stuck?

At the end of a program every rank waits for the others in the exit agreement. A rank that
is late may be busy (writing its output, say), or stuck for good inside NEURON: in
``pc.barrier()`` or ``psolve`` waiting for ranks that have ended, holding the GIL. Only the
second must end the job, and without a timeout the job would hang.

Each rank runs a small *pulse* thread that answers pings on the control communicator
whenever the GIL lets it run Python code. The ranks waiting at the end ping the others
after ``settings.exit_patience`` seconds; a rank that answers is working (or waiting too)
and the wait goes on; a rank that stays silent is stuck, and ``wait_at_exit`` names it.
The pings cost nothing until a program's end is uneven, and O(P) messages per waiting
rank per patience interval after that.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ..settings import settings

_PING, _PONG = 7101, 7102
_WORKING, _AT_EXIT = 0, 1
# How long a ping waits for its answers: a working rank's pulse answers within ~0.1 s.
_ANSWER_GRACE = 2.0
_unanswered: list[Any] = []  # pings to stuck ranks, never received: kept referenced


class StuckRanks(Exception):
    """Ranks that neither reached the end of the program nor answer."""

    def __init__(self, ranks: list[int], waited: float):
        super().__init__(ranks, waited)
        self.ranks = ranks
        self.waited = waited


class Pulse:
    """This rank's answers to pings, from a daemon thread; ``at_exit`` says which."""

    def __init__(self, MPI: Any, control: Any):
        self.MPI, self.control = MPI, control
        self.at_exit = False
        self._stop = threading.Event()
        self._sent: list[Any] = []  # answers stay referenced until MPI has sent them
        self._thread = threading.Thread(target=self._answer, name="parnrn-pulse", daemon=True)
        self._thread.start()

    def _answer(self) -> None:
        status = self.MPI.Status()
        ping = bytearray(1)
        while not self._stop.wait(0.1):
            while self.control.Iprobe(self.MPI.ANY_SOURCE, _PING, status):
                source = status.Get_source()
                self.control.Recv(ping, source, _PING)
                answer = bytearray([_AT_EXIT if self.at_exit else _WORKING])
                self._sent.append((self.control.Isend(answer, source, _PONG), answer))

    def stop(self) -> None:
        """End the thread (before MPI is finalized: it calls MPI)."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()


def start(MPI: Any, control: Any) -> Pulse | None:
    """This rank's pulse thread, or None where MPI cannot be called from a thread."""
    if MPI.Query_thread() != MPI.THREAD_MULTIPLE:
        return None
    return Pulse(MPI, control)


def wait_at_exit(request: Any, pulse: Pulse | None, MPI: Any, control: Any) -> None:
    """Complete the exit agreement's ``request``; raise ``StuckRanks`` when, after
    ``settings.exit_patience`` seconds, some ranks neither arrived nor answer a ping.
    Without a pulse (no ``MPI_THREAD_MULTIPLE``) it waits as long as it takes."""
    if pulse is not None:
        pulse.at_exit = True
    began = time.monotonic()
    next_ping = began + settings.exit_patience
    pause = 0.0
    while not request.Test():
        if pause:
            time.sleep(pause)  # and Python handles signals: Ctrl-C acts here
        pause = min(max(pause * 2, 1e-5), 0.05)
        if pulse is not None and time.monotonic() >= next_ping:
            silent = _silent_ranks(request, MPI, control)
            if silent:
                raise StuckRanks(silent, time.monotonic() - began)
            next_ping = time.monotonic() + settings.exit_patience


def _silent_ranks(request: Any, MPI: Any, control: Any) -> list[int]:
    """The ranks that do not answer a ping within ``_ANSWER_GRACE`` seconds; none once
    ``request`` completes (every rank arrived, and may have stopped answering)."""
    rank, size = control.Get_rank(), control.Get_size()
    others = [r for r in range(size) if r != rank]
    ping = bytearray(1)
    sent = [control.Isend(ping, other, _PING) for other in others]
    answered: set[int] = set()
    status, answer = MPI.Status(), bytearray(1)
    deadline = time.monotonic() + _ANSWER_GRACE
    while len(answered) < len(others) and time.monotonic() < deadline:
        if request.Test():
            answered.update(others)
        elif control.Iprobe(MPI.ANY_SOURCE, _PONG, status):
            control.Recv(answer, status.Get_source(), _PONG)
            answered.add(status.Get_source())
        else:
            time.sleep(0.005)
    _unanswered.extend(sent)  # a stuck rank never receives its ping: keep the requests
    return [r for r in others if r not in answered]
