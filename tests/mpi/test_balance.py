"""Balance and the run report on several ranks: the same cost distribution on every rank,
the same spikes whatever the strategy, a collective balance file, and a run report whose
numbers add up. Run under mpiexec -n 2 and -n 3."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from parnrn import p
from parnrn.context import gids
from parnrn.examples import mixed

pytestmark = pytest.mark.mpi(min_size=2)
NCELL = 30


@pytest.fixture
def shared_dir():
    """A directory made by rank 0, named on every rank, removed after the test (pytest's
    tmp_path is one per rank, and its clean-up races between ranks)."""
    pc = p.parallel
    path = pc.broadcast(tempfile.mkdtemp() if pc.rank == 0 else None)
    yield path
    pc.barrier()
    if pc.rank == 0:
        shutil.rmtree(path)


def test_every_rank_gets_the_same_cost_distribution():
    pc = p.parallel
    costs = mixed.type_costs()
    cost = [costs[mixed.cell_type(gid, NCELL)] for gid in range(NCELL)]
    mine = pc.distribute(range(NCELL), "cost", cost=cost)
    everyone = pc.allgather(mine.tolist())
    # What this rank computes for every rank is what each rank took.
    assert everyone == [
        gids.distribute(range(NCELL), rank, pc.size, "cost", cost=cost).tolist()
        for rank in range(pc.size)
    ]
    assert sorted(sum(everyone, [])) == list(range(NCELL))
    assert pc.allgather(costs) == [costs] * pc.size


def run_mixed(strategy: str, tstop: float = 40.0):
    pc = p.parallel
    pc.gid_clear()
    model = mixed.build(NCELL, strategy)
    pc.run(tstop, quiet=True)
    spikes = pc.gather_spikes()
    report = pc.run_report()
    pc.gid_clear()
    del model
    return spikes, report


def test_spikes_do_not_depend_on_the_strategy():
    results = {strategy: run_mixed(strategy)[0] for strategy in mixed.STRATEGIES}
    if p.parallel.rank == 0:
        assert len(results["cost"]) > 50
        assert results["cost"] == results["round_robin"] == results["block"]
    else:
        assert set(results.values()) == {None}


def test_run_report_adds_up():
    pc = p.parallel
    spikes, report = run_mixed("cost")
    if pc.rank != 0:
        assert report is None and spikes is None
        return
    assert report.ranks == pc.size and report.t_stop == pytest.approx(40)
    assert report.cells.sum() == NCELL and np.all(report.cells > 0)
    for times in (report.setup, report.computation, report.wait, report.psolve):
        assert times.shape == (pc.size,) and np.all(times >= 0)
    assert np.all(report.computation + report.wait <= report.psolve * 1.01 + 1e-3)
    assert np.all(report.computation > 0)
    # Every spike is sent once by its owner and received by every rank.
    assert report.spikes_sent.sum() == len(spikes)
    assert report.spikes_received.tolist() == [len(spikes)] * pc.size
    assert 0 < report.load_balance <= 1 and report.imbalance >= 0
    assert report.speedup == pytest.approx(1 / report.load_balance)


def test_compartments_per_rank():
    pc = p.parallel
    pc.gid_clear()
    model = mixed.build(NCELL, "block")
    pc.run(5, quiet=True)
    mine = sum(sec.nseg for sec in p.allsec())
    report = pc.run_report()
    counted = pc.gather(mine)
    pc.gid_clear()
    del model
    if pc.rank == 0:
        assert report.compartments.tolist() == counted


def test_save_balance_then_distribute_from_the_file(shared_dir):
    pc = p.parallel
    path = os.path.join(shared_dir, "balance.json")
    pc.gid_clear()
    model = mixed.build(NCELL, "round_robin")
    pc.save_balance(path, {gid: pc.cell_cost(cell) for gid, (cell, *_) in model.items()})
    del model
    costs = mixed.type_costs()
    by_type = pc.distribute(range(NCELL), "cost", cost=lambda g: costs[mixed.cell_type(g, NCELL)])
    from_file = pc.distribute(range(NCELL), "cost", cost=path)
    assert from_file.tolist() == by_type.tolist()
    with pytest.raises(ValueError, match=r"does not match the model's 31 gids.*first: 30"):
        pc.distribute(range(NCELL + 1), "cost", cost=path)


def test_save_balance_refuses_a_gid_from_two_ranks(shared_dir):
    pc = p.parallel
    from parnrn.errors import GidError, RemoteRankError

    path = Path(shared_dir) / "b.json"
    with pytest.raises((GidError, RemoteRankError), match=r"more than one rank \(first: 0\)"):
        pc.save_balance(str(path), {0: 1.0, pc.rank + 1: 2.0})
    assert not path.exists()
