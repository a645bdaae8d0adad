"""The parnrn exception tree.

Every parallel failure that reaches every rank carries ``failures``: a dict mapping each
failing rank to ``(type_name, message, traceback_text)``, so the rank that actually broke
and its own traceback are never lost.
"""

from __future__ import annotations

__all__ = [
    "ParnrnError",
    "MPIConfigError",
    "ParallelError",
    "GidError",
    "ParallelConnectError",
    "BroadcastError",
    "TransportError",
    "RemoteRankError",
    "CollectiveMismatchError",
    "CollectiveTimeoutError",
]

Failures = dict[int, tuple[str, str, str]]


class ParnrnError(Exception):
    """Base class of every parnrn error."""


class MPIConfigError(ParnrnError):
    """MPI and NEURON disagree about the job (which library, how many ranks)."""


class ParallelError(ParnrnError):
    """A failure in a parallel operation.

    ``failures`` maps each failing rank to ``(type_name, message, traceback_text)``;
    it is empty for errors raised locally before any rank was asked.
    """

    def __init__(self, message: str, failures: Failures | None = None):
        super().__init__(message)
        self.failures: Failures = dict(failures or {})


class GidError(ParallelError):
    """An unknown, duplicate or unowned gid."""


class ParallelConnectError(ParallelError):
    """Bad arguments to ``ParallelCon``."""


class BroadcastError(ParallelError):
    """A broadcast failed; raised on every rank."""


class TransportError(ParallelError):
    """A gather, allgather, scatter or allreduce failed; raised on every rank."""


class RemoteRankError(ParallelError):
    """Another rank failed inside a collective operation or ``collective()`` block."""


class CollectiveMismatchError(ParallelError):
    """Ranks entered different collective operations (or the same one with other roots)."""


class CollectiveTimeoutError(ParallelError):
    """A collective waited longer than the configured timeout.

    ``missing`` lists the ranks that never arrived.
    """

    def __init__(self, message: str, missing: list[int] | None = None):
        super().__init__(message)
        self.missing: list[int] = list(missing or [])
