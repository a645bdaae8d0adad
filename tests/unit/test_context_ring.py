"""The ring example against the same ring built with raw NEURON calls: identical spikes."""

from __future__ import annotations

import numpy as np
from support.ring import run_parnrn_ring, run_raw_ring

from parnrn import p


def test_ring_matches_raw_neuron():
    p.parallel.gid_clear()
    times, gids = run_raw_ring(12, 3, 60)
    spikes = run_parnrn_ring(12, 3, 60)
    assert len(times) > 30 and set(gids.tolist()) == set(range(12))
    np.testing.assert_array_equal(spikes.times, times)
    np.testing.assert_array_equal(spikes.gids, gids)


def test_ring_activity_goes_round():
    spikes = run_parnrn_ring(8, 2, 40)
    first = {gid: train[0] for gid, train in spikes.per_gid().items()}
    assert sorted(first) == list(range(8))
    assert all(first[g] < first[g + 1] for g in range(7))  # the wave travels up the ring
