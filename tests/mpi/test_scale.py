"""Bytes per rank that do not grow with the number of ranks (issue 10). Run under
mpiexec -n 2 and -n 3.

``support.counting.CountingComm`` (also used by scripts/bench/scale.py) counts the bytes
MPI takes from and delivers into each rank's buffers. The first tests pin that model on raw
mpi4py calls; the others ask that a non-root rank receive at most the payload plus a
constant for a small broadcast, a barrier and an allreduce, whatever the number of ranks.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from support.counting import CountingComm

from parnrn import transport

pytestmark = pytest.mark.mpi(min_size=2)

MB = 1 << 20
SMALL = {"name": "ring", "ncell": 100, "tstop": 250.0, "seed": 12345}
# What a non-root rank may receive per call beyond the payload, at any number of ranks.
OVERHEAD = 256 + 64


@pytest.fixture
def counting():
    return CountingComm(transport.default_comm())


def received(counting: CountingComm, call) -> int:
    """Bytes delivered into this rank's buffers by ``call()``."""
    counting.reset()
    call()
    assert not counting.uncounted
    return counting.received


def most_received(counting: CountingComm, call, root: int | None = None) -> int:
    """The most bytes ``call()`` delivered into any rank's buffers (other than ``root``'s),
    the same on every rank (so that every rank passes or fails together)."""
    mine = received(counting, call)
    everyone = counting.comm.allgather(mine)  # not counted
    return max(n for r, n in enumerate(everyone) if r != root)


def test_counts_raw_buffer_calls(counting):
    from mpi4py import MPI

    rank, size = counting.Get_rank(), counting.Get_size()
    block = np.arange(4, dtype=np.float64)
    everyone = np.empty(4 * size)
    assert received(counting, lambda: counting.Allgather(block, everyone)) == 32 * size
    assert counting.sent == 32 and counting.calls == {"Allgather": 1}
    target = [everyone, [4] * size, None, MPI.DOUBLE] if rank == 0 else None
    assert received(counting, lambda: counting.Gatherv(block, target, 0)) == (
        32 * size if rank == 0 else 0
    )
    array = np.ones(MB // 8) if rank == 0 else np.empty(MB // 8)
    assert received(counting, lambda: counting.Bcast(array, 0)) == (0 if rank == 0 else MB)
    assert counting.sent == (MB if rank == 0 else 0)
    flag = [bytearray(1), MPI.UNSIGNED_CHAR]
    assert received(counting, lambda: counting.Allreduce(MPI.IN_PLACE, flag, MPI.MAX)) == 1
    agreement = np.zeros(8, dtype=np.int64)  # the kind of fixed-size exchange issue 10 plans
    assert (
        received(counting, lambda: counting.Iallreduce(MPI.IN_PLACE, agreement, MPI.MAX).Wait())
        == 64
    )
    sizes = np.empty(size, dtype=np.int64) if rank == 0 else None
    assert received(counting, lambda: counting.Gather(np.array([rank]), sizes, 0)) == (
        8 * size if rank == 0 else 0
    )
    assert received(counting, counting.Barrier) == 0 and counting.calls == {"Barrier": 1}


def test_counts_pickled_calls(counting):
    rank, size = counting.Get_rank(), counting.Get_size()
    length = len(pickle.dumps(SMALL, 5))
    assert received(counting, lambda: counting.bcast(SMALL if rank == 0 else None, 0)) == (
        0 if rank == 0 else length
    )
    assert received(counting, lambda: counting.allgather(SMALL)) == length * size
    assert received(counting, lambda: counting.gather(SMALL, 0)) == (
        length * size if rank == 0 else 0
    )


def test_forwards_what_parnrn_uses(counting):
    comm = counting.comm
    assert counting.handle == comm.handle
    assert (counting.Get_rank(), counting.Get_size()) == (comm.Get_rank(), comm.Get_size())
    assert transport.broadcast(SMALL if counting.Get_rank() == 0 else None, 0, counting) == SMALL
    assert counting.calls


def test_broadcast_small_dict_receives_a_constant(counting):
    rank = counting.Get_rank()
    payload = len(pickle.dumps(SMALL, pickle.HIGHEST_PROTOCOL))
    got = most_received(
        counting, lambda: transport.broadcast(SMALL if rank == 0 else None, 0, counting), root=0
    )
    assert got <= payload + OVERHEAD


def test_barrier_receives_a_constant(counting):
    assert most_received(counting, lambda: transport.barrier(counting)) <= OVERHEAD


def test_allreduce_int_receives_a_constant(counting):
    value = counting.Get_rank() + 1
    payload = len(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
    got = most_received(counting, lambda: transport.allreduce(value, "sum", counting))
    assert got <= payload + OVERHEAD


def test_allreduce_1mb_array_receives_a_constant(counting):
    array = np.full(MB // 8, float(counting.Get_rank()))
    total = []
    got = most_received(counting, lambda: total.append(transport.allreduce(array, "sum", counting)))
    size = counting.Get_size()
    assert np.array_equal(total[0], np.full(MB // 8, float(size * (size - 1) // 2)))
    assert got <= array.nbytes + OVERHEAD
