"""parnrn: the MPI-parallel runtime layer for NEURON.

One import turns an ordinary NEURON script into one that runs under
``mpiexec -n N python model.py``::

    from parnrn import p

    p.ParallelCon(cell.soma, gid)           # this rank owns gid; its spikes are sent
    p.ParallelCon(source_gid, synapse, weight=0.01, delay=1)   # receive them
    p.run(100)
    spikes = p.parallel.gather_spikes()     # a Spikes on rank 0

Importing parnrn is cheap: MPI and NEURON start on first parallel use.
"""

from __future__ import annotations

import sys
from typing import Any

from .errors import (
    BroadcastError,
    CollectiveMismatchError,
    CollectiveTimeoutError,
    GidError,
    HocError,
    MPIConfigError,
    ParallelConnectError,
    ParallelError,
    ParnrnError,
    RemoteRankError,
    TransportError,
)
from .settings import configure

__version__ = "0.1.0"

__all__ = [
    "p",
    "ParallelContext",
    "Spikes",
    "configure",
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
    "HocError",
]


def __getattr__(name: str) -> Any:
    # NEURON is imported only when these are first used, and only after MPI has started
    # and NEURON has been pointed at the same MPI library.
    if name in ("p", "ParallelContext", "Spikes") and "neuron" not in sys.modules:
        from .runtime import point_neuron_at_mpi

        point_neuron_at_mpi()
    if name == "p":
        from .interpreter import p

        return p
    if name == "ParallelContext":
        from .context.parallel import ParallelContext

        return ParallelContext
    if name == "Spikes":
        from .context.spikes import Spikes

        return Spikes
    raise AttributeError(f"module 'parnrn' has no attribute {name!r}")
