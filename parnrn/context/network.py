"""``Network``: everything this rank has built and run since the last ``gid_clear``.

The ``ParallelContext`` façade holds one and replaces it on ``gid_clear``; the run and the
spike gathering take it as an argument, so no helper needs the façade itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .gids import GidRegistry
from .spikes import SpikeRecords


@dataclass
class Network:
    """This rank's part of the network and what its runs have done.

    Example::

        network = p.parallel.network
        len(network.registry.owned), network.initialized, network.min_delay
    """

    registry: GidRegistry = field(default_factory=GidRegistry)
    records: SpikeRecords = field(default_factory=SpikeRecords)
    initialized: bool = False  # finitialize ran for this network
    transfer_pending: bool = False  # source_var/target_var since the last setup_transfer
    min_delay: float | None = None  # the global spike-exchange interval of the last run
    # Strong references: NEURON aborts when a NetCon's source or target is freed.
    transmitters: dict[int, tuple[Any, Any]] = field(default_factory=dict)  # gid -> (nc, src)
    receiving_netcons: list[Any] = field(default_factory=list)  # two lists: no tuple each
    targets: list[Any] = field(default_factory=list)
    warned_late_gid: bool = False
    reports: list[Any] = field(default_factory=list)  # variable reports, flushed by the run
    restored_at: float | None = None  # the time of the checkpoint restored into it
