"""Simulation output written by every rank: SONATA spike files and reports; it never
imports NEURON.

``files`` gives a file written under a temporary name that every rank agrees on and that
is renamed only when every rank succeeded; ``spikefile`` sorts spikes across ranks
(without gathering them) and writes them at prefix-sum offsets; ``reportfile`` adds the
rows of a SONATA report as the run goes.
"""

from .files import written_by_all
from .reportfile import ReportFile
from .spikefile import SORTING, write_spikes

__all__ = ["SORTING", "ReportFile", "written_by_all", "write_spikes"]
