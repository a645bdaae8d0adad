"""NEURON's ParallelContext, automated: gids, ParallelCon, running and spike gathering.

Builds on ``parnrn.transport``; NEURON and its MPI come from ``parnrn.runtime``.
"""

from .connect import ParallelCon
from .parallel import ParallelContext
from .spikes import Spikes

__all__ = ["ParallelCon", "ParallelContext", "Spikes"]
