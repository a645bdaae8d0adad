"""The ring on several ranks: bit-identical to the raw NEURON build, and unchanged by
progress chunks or by running in pieces. Run under mpiexec -n 2 and -n 3."""

from __future__ import annotations

import numpy as np
import pytest
from support.ring import run_parnrn_ring, run_raw_ring

from parnrn import p

pytestmark = pytest.mark.mpi(min_size=2)


def test_ring_matches_raw_neuron():
    p.parallel.gid_clear()
    raw = run_raw_ring(15, 4, 80)
    spikes = run_parnrn_ring(15, 4, 80)
    if p.parallel.rank == 0:
        times, gids = raw
        assert len(times) > 40 and set(gids.tolist()) == set(range(15))
        np.testing.assert_array_equal(spikes.times, times)
        np.testing.assert_array_equal(spikes.gids, gids)
    else:
        assert raw is None and spikes is None


def test_progress_and_pieces_do_not_change_spikes():
    plain = run_parnrn_ring(15, 4, 80)
    shown = run_parnrn_ring(15, 4, 80, progress=True)
    p.parallel.gid_clear()
    from parnrn.examples import ring

    model = ring.build(15, 4)
    for tstop in (13.3, 50, 80):
        p.parallel.run(tstop)
    pieces = p.parallel.gather_spikes()
    p.parallel.gid_clear()
    del model
    if p.parallel.rank == 0:
        assert shown == plain and pieces == plain
