"""Array collectives on 2 and 3 ranks: the data, and the same error on every rank."""

import numpy as np
import pytest

from parnrn import TransportError
from parnrn.runtime import start
from parnrn.transport import alltoall_arrays, gather_arrays

pytestmark = pytest.mark.mpi(min_size=2)

runtime = start()
rank, size = runtime.rank, runtime.size


def mine():
    """rank r has r + 1 times and the gids r * 10 + i."""
    return np.arange(rank + 1, dtype=float), np.arange(rank + 1) + 10 * rank


def expected():
    times = np.concatenate([np.arange(r + 1, dtype=float) for r in range(size)])
    gids = np.concatenate([np.arange(r + 1) + 10 * r for r in range(size)])
    return times, gids


@pytest.mark.parametrize("root", [0, size - 1, None])
def test_gather_arrays_concatenates_in_rank_order(root):
    result = gather_arrays(mine(), root)
    if root is not None and rank != root:
        assert result is None
        return
    for got, want in zip(result, expected()):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype


def test_gather_arrays_with_other_dtypes_fails_on_every_rank():
    times, gids = mine()
    with pytest.raises(
        TransportError, match=r"failed on rank 1: ValueError: its dtype list is"
    ) as e:
        gather_arrays([times, gids.astype(np.int32) if rank == 1 else gids])
    without_tag = str(e.value).split("] ", 1)[1]
    assert len(set(runtime.MPI.COMM_WORLD.allgather(without_tag))) == 1  # the same everywhere


def test_gather_arrays_with_a_bad_root_fails_on_every_rank():
    with pytest.raises(TransportError, match=rf"root {size} is not a rank") as caught:
        gather_arrays(mine(), root=size)
    assert sorted(caught.value.failures) == list(range(size))


def test_alltoall_arrays_routes_each_part_to_its_rank():
    # every rank sends to rank d: one item (rank) and d items (rank * 100 + d)
    send, counts = [], []
    for dest in range(size):
        send += [rank] + [rank * 100 + dest] * dest
        counts.append([1, dest])
    received, received_counts = alltoall_arrays(np.array(send, dtype=np.int64), counts)
    assert received_counts.tolist() == [[1, rank]] * size
    want = []
    for source in range(size):
        want += [source] + [source * 100 + rank] * rank
    assert received.tolist() == want


def test_alltoall_arrays_with_bad_counts_fails_on_every_rank():
    counts = np.ones((size, 1)) if rank else np.ones((size + 1, 1))
    with pytest.raises(TransportError, match=r"rank 0: ValueError: alltoall_arrays needs counts"):
        alltoall_arrays(np.zeros(size, dtype=np.int64), counts)
