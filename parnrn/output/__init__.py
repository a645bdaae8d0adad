"""Simulation output written by every rank: SONATA spike files; it never imports NEURON.

``files`` gives a file written under a temporary name that every rank agrees on and that
is renamed only when every rank succeeded; ``spikefile`` sorts spikes across ranks
(without gathering them) and writes them at prefix-sum offsets.
"""

from .files import written_by_all
from .spikefile import SORTING, write_spikes

__all__ = ["SORTING", "written_by_all", "write_spikes"]
