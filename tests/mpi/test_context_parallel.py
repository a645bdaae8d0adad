"""The ParallelContext wrapper on several ranks: distribute, broadcast, collectives, gid
checks, min_delay, transfer set-up and gather_spikes. Run under mpiexec -n 2 and -n 3."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from parnrn import BroadcastError, GidError, TransportError, p
from parnrn.log import logger

pytestmark = pytest.mark.mpi(min_size=2)


def prefix(pc) -> str:
    return f"[rank {pc.rank}/{pc.size}]"


@pytest.mark.parametrize("strategy", ["round_robin", "block", "balanced"])
def test_distribute_partitions_identically(pc, strategy):
    gids = np.arange(50, 91)
    weights = (gids % 7) + 1.0
    mine = pc.distribute(gids, strategy, weights)
    shares = pc.allgather(mine)
    assert sorted(np.concatenate(shares).tolist()) == gids.tolist()
    assert pc.allgather([s.tolist() for s in shares]) == [[s.tolist() for s in shares]] * pc.size
    if strategy == "round_robin":
        assert mine.tolist() == gids[pc.rank :: pc.size].tolist()


def test_distribute_refuses_non_integral_gids_on_every_rank(pc):
    with pytest.raises(GidError) as caught:
        pc.distribute([0.5, 1.5, 2.5])
    assert str(caught.value) == (
        f"{prefix(pc)} gid must be an integer from 0 to 2**31 - 1, not 0.5 (item 0 of 3)"
    )


def test_broadcast_vector_in_place(pc):
    root = pc.size - 1
    vec = p.Vector([1.0, 2.0, 3.0]) if pc.rank == root else p.Vector(7)
    assert pc.broadcast(vec, root=root) is vec
    assert list(vec) == [1.0, 2.0, 3.0]
    fresh = pc.broadcast(p.Vector([4.0]) if pc.rank == 0 else None)
    assert list(fresh) == [4.0]


def test_broadcast_objects_and_refused_hocobjects(pc):
    data = {"w": np.arange(4.0), "f": lambda x: x + 1} if pc.rank == 0 else None
    got = pc.broadcast(data)
    assert got["w"].tolist() == [0, 1, 2, 3] and got["f"](1) == 2
    cell = p.IntFire1()
    with pytest.raises(BroadcastError) as caught:
        pc.broadcast(cell)
    message = str(caught.value)
    assert message.startswith(prefix(pc) + " broadcast failed on rank 0 (root): TypeError: ")
    assert "cannot be broadcast: only Vectors can" in message


def test_object_collectives(pc):
    rank, size = pc.rank, pc.size
    assert pc.gather(rank * 10, root=1) == ([r * 10 for r in range(size)] if rank == 1 else None)
    assert pc.allgather({"r": rank}) == [{"r": r} for r in range(size)]
    assert pc.scatter([f"item{r}" for r in range(size)] if rank == 0 else None) == f"item{rank}"
    assert pc.allreduce(rank + 1) == size * (size + 1) // 2
    assert pc.allreduce(rank, 2) == size - 1 and pc.allreduce(rank, "min") == 0
    vec = pc.allreduce(p.Vector([rank, 1]), 1)
    assert list(vec) == [sum(range(size)), size]
    assert list(pc.allgather(rank * 0.5, p.Vector())) == [r * 0.5 for r in range(size)]
    pc.barrier()


def test_duplicate_gid_on_two_ranks_is_an_error_on_every_rank(pc):
    cell = p.IntFire1()
    p.ParallelCon(cell, 1000 + pc.rank)
    if pc.rank < 2:
        p.ParallelCon(p.IntFire1(), 5)
    with pytest.raises(GidError) as caught:
        p.parallel.run(1, strict=True)
    message = str(caught.value)
    assert message.startswith(prefix(pc) + " 1 gid problem(s) found before the run")
    assert "gid 5 is registered on ranks 0, 1" in message


def test_missing_source_warns_on_rank_0_only(pc):
    handler = logging.Handler(logging.WARNING)  # not the run report, logged at INFO
    seen: list[str] = []
    handler.emit = lambda record: seen.append(record.getMessage())
    logger.addHandler(handler)
    try:
        cell = p.IntFire1()
        p.ParallelCon(cell, pc.rank)
        p.ParallelCon((pc.rank + 1) % pc.size, cell, weight=0.1, delay=1)
        if pc.rank == pc.size - 1:
            p.ParallelCon(77, cell, weight=0.1, delay=1)
        p.parallel.run(2)
    finally:
        logger.removeHandler(handler)
    if pc.rank == 0:
        assert len(seen) == 1
        assert f"gid 77 has receivers on rank(s) {pc.size - 1} but no rank registered" in seen[0]
    else:
        assert seen == []


def test_strict_missing_source_names_receiving_ranks(pc):
    p.ParallelCon(p.IntFire1(), pc.rank)
    p.ParallelCon(99, p.IntFire1(), delay=1)
    with pytest.raises(GidError) as caught:
        p.parallel.run(1, strict=True)
    ranks = ", ".join(map(str, range(pc.size)))
    assert str(caught.value).startswith(prefix(pc) + " 1 gid problem(s)")
    assert f"gid 99 has receivers on rank(s) {ranks} but no rank registered it" in str(caught.value)


def test_min_delay_is_global(pc):
    cell = p.IntFire1()
    p.ParallelCon(cell, pc.rank)
    # rank r hears from the next rank with delay 2 + r: the minimum, 2, is on rank 0
    p.ParallelCon((pc.rank + 1) % pc.size, cell, weight=0.1, delay=2 + pc.rank)
    p.parallel.run(1)
    assert pc.allgather(pc.min_delay) == [2.0] * pc.size


def test_transfer_set_up_on_every_rank_when_one_declares(pc):
    # Only ranks 0 and 1 declare transfer variables; any others must still take part.
    source = p.Section(name="source")
    target = p.Section(name="target")
    clamp = p.IClamp(target(0.5))
    if pc.rank == 0:
        pc.source_var(source(0.5)._ref_v, 0, sec=source)
    if pc.rank == 1:
        pc.target_var(clamp, clamp._ref_amp, 0)
    p.parallel.run(0.1, v_init=-42)
    v = pc.broadcast(source(0.5).v)
    if pc.rank == 1:
        assert clamp.amp == pytest.approx(v, abs=1e-9) and v == pytest.approx(-42, abs=0.5)
    assert not pc.network.transfer_pending


def test_gather_spikes(pc):
    rank, size = pc.rank, pc.size
    cell = p.IntFire1()
    p.ParallelCon(cell, 10 + rank)
    stim = p.NetStim()
    stim.start, stim.number, stim.interval = 1 + rank, 2, 10
    nc = p.NetCon(stim, cell)
    nc.weight[0] = 2
    p.parallel.run(25)
    expected_times = sorted([2.0 + r for r in range(size)] + [12.0 + r for r in range(size)])
    expected_gids = [10 + int(t - 2) % 10 for t in expected_times]
    for root in (0, size - 1):
        spikes = pc.gather_spikes(root)
        if rank == root:
            assert spikes.times.tolist() == expected_times
            assert spikes.gids.tolist() == expected_gids
        else:
            assert spikes is None
    everywhere = pc.gather_spikes(None)
    assert everywhere.times.tolist() == expected_times and len(everywhere) == 2 * size
    assert everywhere.ranks == size  # for the raster's title
    with pytest.raises(TransportError) as caught:
        pc.gather_spikes(size)
    assert str(caught.value).startswith(prefix(pc) + " gather_spikes failed on rank")
    assert f"root {size} is not a rank of this {size}-rank communicator" in str(caught.value)
    del nc
