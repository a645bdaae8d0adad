"""Checkpoints on several ranks, in one job: a restore into the same job gives the
uninterrupted spikes; a fault on one rank (sections without a cell, a cell BBSaveState
fails to write) is an error on every rank, and no checkpoint is left, not even half."""

from __future__ import annotations

import gc
import os
import shutil
import tempfile

import numpy as np
import pytest
from neuron import h

from parnrn import ParallelError, RemoteRankError, p
from parnrn.examples import ring

pytestmark = pytest.mark.mpi(min_size=2)


@pytest.fixture
def shared_dir():
    """A directory every rank sees, and no gids or sections before or after."""
    p.parallel.gid_clear()
    gc.collect()
    path = p.parallel.broadcast(tempfile.mkdtemp() if p.parallel.rank == 0 else None)
    yield path
    p.parallel.gid_clear()
    gc.collect()
    for sec in list(h.allsec()):
        h.delete_section(sec=sec)
    p.parallel.barrier()
    if p.parallel.rank == 0:
        shutil.rmtree(path)


def test_restored_in_the_same_job_gives_the_uninterrupted_spikes(shared_dir):
    path = os.path.join(shared_dir, "ckpt")
    model = ring.build(16, 3)
    p.parallel.run(30)
    p.parallel.checkpoint(path)
    p.parallel.run(60)
    full = p.parallel.gather_spikes(root=None)
    del model
    p.parallel.gid_clear()
    model = ring.build(16, 3)  # noqa: F841 (kept alive for the run)
    assert p.parallel.restore(path) == pytest.approx(30)
    p.parallel.run(60)
    restored = p.parallel.gather_spikes(root=None)
    assert len(full) > 20
    np.testing.assert_array_equal(restored.gids, full.gids)
    np.testing.assert_allclose(restored.times, full.times, rtol=0, atol=1e-9)


def test_sections_without_a_cell_on_one_rank_are_an_error_on_every_rank(shared_dir):
    model = ring.build(8, 2)  # noqa: F841
    last = p.parallel.rank == p.parallel.size - 1
    stray = h.Section(name="stray") if last else None  # noqa: F841
    p.parallel.run(5)
    raised = ParallelError if last else RemoteRankError
    with pytest.raises(raised, match=rf"\[rank {p.parallel.size - 1}/\d+\] checkpoint .*: 1 "
                       r"section\(s\) on this rank belong to no cell \(stray\)"):  # fmt: skip
        p.parallel.checkpoint(os.path.join(shared_dir, "ckpt"))
    p.parallel.barrier()
    assert os.listdir(shared_dir) == []


def test_a_rank_failing_to_write_leaves_no_checkpoint(shared_dir):
    class Twins:
        def __init__(self):
            self.a = h.Section(name="soma", cell=self)
            self.b = h.Section(name="soma", cell=self)

    model = ring.build(8, 2)  # noqa: F841
    twins = Twins() if p.parallel.rank == p.parallel.size - 1 else None
    if twins is not None:
        p.ParallelCon(twins.a, 100)
    p.parallel.run(5)
    with pytest.raises(Exception, match="not unique"):
        p.parallel.checkpoint(os.path.join(shared_dir, "ckpt"))
    p.parallel.barrier()
    assert os.listdir(shared_dir) == []
