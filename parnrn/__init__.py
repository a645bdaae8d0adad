"""parnrn: the MPI-parallel runtime layer for NEURON.

One import turns an ordinary NEURON script into one that runs under
``mpiexec -n N python model.py``::

    from parnrn import p

    p.ParallelCon(cell.soma, gid)           # this rank owns gid; its spikes are sent
    p.ParallelCon(source_gid, synapse, weight=0.01, delay=1)   # receive them
    p.parallel.run(100)
    spikes = p.parallel.gather_spikes()     # a Spikes on rank 0

Importing parnrn is cheap: MPI and NEURON start on first parallel use.
"""

from __future__ import annotations

import sys
from typing import Any

from . import runtime
from .errors import (
    BroadcastError,
    CollectiveMismatchError,
    CollectiveTimeoutError,
    EngineError,
    GidError,
    HocError,
    MPIConfigError,
    ParallelConnectError,
    ParallelError,
    ParnrnError,
    RankLostError,
    RemoteRankError,
    TaskError,
    TaskFailure,
    TransportError,
)
from .settings import configure

__version__ = "0.1.0"

__all__ = [
    "p",
    "ParallelContext",
    "ParallelCon",
    "Spikes",
    "configure",
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
    "item_rng",
]


def _arm_failfast(started: runtime.Runtime) -> None:
    """The one place the job-level failure policy is armed: as soon as MPI starts."""
    from . import failfast  # here: loaded with MPI, so that `import parnrn` stays cheap

    failfast.install(started)


runtime.on_start(_arm_failfast)
# Under mpiexec, importing parnrn is enough to make the script's NEURON parallel.
runtime.parallel_when_neuron_imported()
# A script that imports NEURON itself after parnrn starts it without the DISPLAY warning.
runtime.no_gui_without_display()

_NEEDS_NEURON = ("p", "ParallelContext", "ParallelCon")


def __getattr__(name: str) -> Any:
    # Imported on first use, so that `import parnrn` starts neither MPI nor NEURON; NEURON
    # only after MPI has started and NEURON has been pointed at the same MPI library.
    if name in _NEEDS_NEURON and "neuron" not in sys.modules:
        runtime.point_neuron_at_mpi()
    if name == "p":
        from .interpreter import p

        return p
    if name in ("ParallelContext", "ParallelCon"):
        from .context import parallel

        return getattr(parallel, name)
    if name == "item_rng":
        from .context.sweep import item_rng

        return item_rng
    if name == "Spikes":
        from .context.spikes import Spikes

        return Spikes
    raise AttributeError(f"module 'parnrn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
