"""The parnrn exception tree.

Every parallel failure that reaches every rank carries ``failures``: a dict mapping each
failing rank to ``(type_name, message, traceback_text)``, so the rank that actually broke
and its own traceback are never lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "ParnrnError",
    "MPIConfigError",
    "ParallelError",
    "GidError",
    "ParallelConnectError",
    "EngineError",
    "BroadcastError",
    "TransportError",
    "RemoteRankError",
    "CollectiveMismatchError",
    "CollectiveTimeoutError",
    "HocError",
    "TaskError",
    "TaskFailure",
    "RankLostError",
]

Failures = dict[int, tuple[str, str, str]]


def error_record(exc: BaseException) -> tuple[str, str, str]:
    """(type name, message, traceback text) of ``exc``, for sending to other ranks.

    Survives any exception object: one whose ``__str__`` raises is described by its type.

    Example::

        failures = {rank: error_record(exc)}
    """
    import traceback  # here: only a failure pays for it, not every `import parnrn`

    name = type(exc).__name__
    try:
        message = str(exc)
    except Exception:  # an error report must not fail on a broken __str__
        message = f"<{name} whose str() failed>"
    try:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except Exception:
        text = f"{name}: {message}\n"
    return (name, message, text)


def describe_failures(failures: Failures, root: int = -1) -> str:
    """``rank 1 (root): TypeError: msg; rank 2: ...``, for an exception message.

    Example::

        describe_failures({0: ("TypeError", "cannot pickle", "")}, root=0)
        # 'rank 0 (root): TypeError: cannot pickle'
    """
    parts = []
    for rank, (name, message, _) in sorted(failures.items()):
        role = " (root)" if rank == root else ""
        parts.append(f"rank {rank}{role}: {name}: {message}")
    return "; ".join(parts)


class ParnrnError(Exception):
    """Base class of every parnrn error.

    Example::

        try:
            p.parallel.run(100)
        except ParnrnError as error:
            print(error)   # starts with [rank r/N]
    """


class MPIConfigError(ParnrnError):
    """MPI and NEURON disagree about the job (which library, how many ranks).

    Raised on every rank by the first parallel use; the message names the library each
    side loaded. Example::

        mpiexec -n 4 python -m parnrn doctor   # shows the same, and exits non-zero
    """


class ParallelError(ParnrnError):
    """A failure in a parallel operation.

    ``failures`` maps each failing rank to ``(type_name, message, traceback_text)``;
    it is empty for errors raised locally before any rank was asked.

    Example::

        except ParallelError as error:
            for rank, (kind, message, tb) in error.failures.items():
                print(f"rank {rank} failed with {kind}: {message}")
    """

    def __init__(self, message: str, failures: Failures | None = None):
        super().__init__(message)
        self.failures: Failures = dict(failures or {})


class GidError(ParallelError):
    """An unknown, duplicate or unowned gid, raised before NEURON sees it.

    Example::

        p.parallel.set_gid2node(7)
        p.parallel.set_gid2node(7)   # GidError: gid 7 is already registered on this rank
    """


class ParallelConnectError(ParallelError):
    """Bad arguments to ``ParallelCon``.

    Example::

        p.ParallelCon(soma, syn)   # ParallelConnectError: needs exactly one integer gid
    """


class EngineError(ParallelError):
    """The engine of ``p.parallel.run`` cannot run this model; raised on every rank before
    the run, naming each feature it cannot run and the ranks, sections or objects that
    use it.

    Example::

        p.parallel.run(100, engine="coreneuron")
        # EngineError: [rank 0/2] CoreNEURON cannot run this model; found before the run:
        #   extracellular: 2 sections on rank 1 (Cell[3].soma, Cell[3].dend): ...
    """


class BroadcastError(ParallelError):
    """A broadcast failed; raised on every rank, naming the failing rank(s).

    Example::

        broadcast(threading.Lock() if rank == 0 else None)
        # BroadcastError: [rank 1/2] broadcast failed on rank 0 (root): TypeError: ...
    """


class TransportError(ParallelError):
    """A gather, allgather, scatter or allreduce failed; raised on every rank.

    Example::

        gather(threading.Lock() if rank == 1 else rank)
        # TransportError: [rank 0/2] gather failed on rank 1: TypeError: ...
    """


class HocError(ParnrnError, RuntimeError):
    """A NEURON (hoc) error on this rank. ``hoc_text`` is what NEURON printed, ``rank``
    the rank it happened on, ``what`` the call that failed.

    Also a ``RuntimeError``, so code catching what NEURON raises keeps working.

    Example::

        p.parallel.gid_connect(3, not_a_target)  # HocError: [rank 1/4] NEURON error in ...
    """

    def __init__(self, message: str, hoc_text: str, rank: int, what: str):
        super().__init__(message)
        self.hoc_text = hoc_text
        self.rank = rank
        self.what = what

    def __reduce__(self) -> Any:
        # Sent to another rank whole (p.parallel.map's failed items): all four arguments.
        return (type(self), (str(self), self.hoc_text, self.rank, self.what))


class RemoteRankError(ParallelError):
    """Another rank failed inside a collective operation or ``collective()`` block.

    Example::

        with p.parallel.collective():
            build_cells()   # raises KeyError on rank 3: RemoteRankError on the others
    """


@dataclass(frozen=True)
class TaskFailure:
    """One item of ``p.parallel.map`` that failed: its index and ``repr``, the world rank
    and subworld that ran it, and the exception's type, message and traceback text.

    Example::

        except TaskError as error:
            for failure in error.tasks:
                print(failure.index, failure.item, failure.rank, failure.type_name)
    """

    index: int
    item: str
    rank: int
    subworld: int
    type_name: str
    message: str
    traceback: str

    def __str__(self) -> str:
        return (
            f"item {self.index} ({self.item}) on rank {self.rank} (subworld {self.subworld}): "
            f"{self.type_name}: {self.message}"
        )


class TaskError(ParallelError):
    """Items of ``p.parallel.map`` failed; raised on every rank once every item is done.

    ``tasks`` lists each failure (a ``TaskFailure``) by index; ``results`` maps the index
    of each item that succeeded to its result (on rank 0, or on every rank with
    ``results_everywhere=True``; None elsewhere); ``failures`` maps each failing rank to
    its first failure's ``(type_name, message, traceback_text)``, as for every
    ``ParallelError``.

    Example::

        try:
            results = p.parallel.map(simulate, weights)
        except TaskError as error:
            print(error)                 # names every failed item, its rank and exception
            good = error.results         # {index: result} of the items that succeeded
    """

    def __init__(
        self, message: str, tasks: list[TaskFailure], results: dict[int, Any] | None = None
    ):
        failures: Failures = {}
        for task in tasks:
            failures.setdefault(task.rank, (task.type_name, task.message, task.traceback))
        super().__init__(message, failures)
        self.tasks: list[TaskFailure] = list(tasks)
        self.results: dict[int, Any] | None = results

    def __reduce__(self) -> Any:
        return (type(self), (str(self), self.tasks, self.results))


class CollectiveMismatchError(ParallelError):
    """Ranks entered different collective operations (or the same one with other roots).

    Example::

        broadcast(x) if rank == 0 else gather(y)
        # CollectiveMismatchError: ranks entered different collectives:
        # rank 0 in broadcast(root=0) #3 at model.py:40; rank 1 in gather(root=0) #3 ...

    ``where`` maps every rank to ``(operation, root, sequence_number, call_site)``.
    """

    def __init__(
        self,
        message: str,
        failures: Failures | None = None,
        where: dict[int, tuple[str, int, int, str]] | None = None,
    ):
        super().__init__(message, failures)
        self.where: dict[int, tuple[str, int, int, str]] = dict(where or {})


class CollectiveTimeoutError(ParallelError):
    """A collective waited longer than the configured timeout.

    ``missing`` lists the ranks that never arrived. The rank that raises it gives up on
    the communicator: its ranks are out of step, so every later collective on it raises
    this error again at once, naming the call that timed out.

    Example::

        parnrn.configure(timeout=60)
        p.parallel.barrier()   # a rank never arrives: CollectiveTimeoutError after 60 s
    """

    def __init__(self, message: str, missing: list[int] | None = None):
        super().__init__(message)
        self.missing: list[int] = list(missing or [])


class RankLostError(BaseException):
    """This rank can no longer take part in a collective the other ranks are inside, so
    they would wait for it forever: it could not even allocate the memory to receive and
    drop its share, or a second thread made the call while another thread of the rank
    waited in a collective on the same communicator. Not an ``Exception``: ``except
    Exception`` lets it through, and uncaught, in any thread, it ends the whole job naming
    the rank and the cause.

    Example::

        gather(huge_list)   # the root cannot allocate the receive buffer: the job ends
    """
