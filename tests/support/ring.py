"""The ring built twice: with raw NEURON calls and with parnrn. Used by
tests/unit/test_context_ring.py (one rank) and tests/mpi/test_context_ring_ranks.py."""

from __future__ import annotations

import numpy as np

from parnrn import p
from parnrn.examples import ring
from parnrn.runtime import neuron_context


def run_raw_ring(ncell: int, fanout: int, tstop: float) -> tuple[np.ndarray, np.ndarray] | None:
    """The ring with set_gid2node, cell, gid_connect, psolve and py_gather only.
    Returns (times, gids) sorted by (time, gid) on rank 0, None elsewhere."""
    h, pc = neuron_context()
    rank, size = int(pc.id()), int(pc.nhost())
    cells = {}
    for gid in range(rank, ncell, size):
        cell = ring.make_cell(gid)
        pc.set_gid2node(gid, rank)
        nc = h.NetCon(cell.soma(0.5)._ref_v, None, sec=cell.soma)
        nc.threshold = -20
        pc.cell(gid, nc)
        cells[gid] = cell
    netcons = []
    for gid, cell in cells.items():
        for source, weight, delay in ring.inputs(gid, ncell, fanout):
            nc = pc.gid_connect(source, cell.syn)
            nc.weight[0], nc.delay = weight, delay
            netcons.append(nc)
    stim = ring.kick(cells[0]) if 0 in cells else None
    tv, gv = h.Vector(), h.Vector()
    pc.spike_record(-1, tv, gv)
    pc.set_maxstep(10)
    h.finitialize()
    pc.psolve(tstop)
    gathered = pc.py_gather((tv.to_python(), gv.to_python()), 0)
    pc.gid_clear()
    del stim, netcons
    if gathered is None:
        return None
    times = np.concatenate([t for t, _ in gathered])
    gids = np.concatenate([g for _, g in gathered]).astype(np.int64)
    order = np.lexsort((gids, times))
    return times[order], gids[order]


def run_parnrn_ring(ncell: int, fanout: int, tstop: float, **run_kw):
    p.parallel.gid_clear()
    model = ring.build(ncell, fanout)
    p.parallel.run(tstop, **run_kw)
    spikes = p.parallel.gather_spikes()
    p.parallel.gid_clear()
    del model
    return spikes
