"""Transport collectives on 2 and 3 ranks: every payload kind, every error on every rank."""

import os
import threading
import time

import numpy as np
import pytest

from parnrn import (
    BroadcastError,
    CollectiveMismatchError,
    CollectiveTimeoutError,
    RemoteRankError,
    TransportError,
    configure,
    transport,
)
from parnrn.runtime import start

pytestmark = pytest.mark.mpi(min_size=2)

runtime = start()
rank, size = runtime.rank, runtime.size
last = size - 1


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y


def payloads():
    offset = 10

    class Local:
        value = 42

    return {
        "small dict": {"a": 1, "b": [1.5, "x"], "c": None},
        "10k list": [float(i) for i in range(10_000)],
        "lambda": lambda v: v + offset,
        "local class": Local,
        "module class instance": Point(1, 2),
        "float64": np.random.default_rng(0).random(300_000),
        "int32 2-D": np.arange(400_000, dtype=np.int32).reshape(800, 500),
        "fortran": np.asfortranarray(np.arange(300_000.0).reshape(600, 500)),
        "non-contiguous": np.arange(600_000.0).reshape(1200, 500)[::2, ::3],
        "complex": np.ones(70_000, dtype=np.complex128) * (1 + 2j),
        "bool": np.arange(10) % 2 == 0,
        "0-d": np.array(7.25),
        "empty": np.zeros((0, 3)),
        "structured": np.zeros(40_000, dtype=[("t", "f8"), ("gid", "i8")]),
        "dict of arrays": {f"a{i}": np.full(40_000, float(i)) for i in range(6)},
        "large bytes": bytes(range(256)) * 4096,
    }


def same(a, b):
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if callable(a) and not isinstance(a, type):
        return a(1) == b(1)
    if isinstance(a, type):
        return a.__name__ == b.__name__ and a.value == b.value
    if isinstance(a, Point):
        return (a.x, a.y) == (b.x, b.y)
    return a == b


@pytest.mark.parametrize("name", list(payloads()))
@pytest.mark.parametrize("root", [0, -1])
def test_broadcast_every_payload_kind(name, root):
    root = root % size
    reference = payloads()[name]
    received = transport.broadcast(reference if rank == root else None, root=root)
    assert same(reference, received)
    if isinstance(received, np.ndarray) and rank != root:
        assert received.flags.writeable


def test_broadcast_returns_the_object_itself_on_root():
    obj = {"array": np.zeros(100_000)}
    received = transport.broadcast(obj if rank == 0 else None)
    assert (received is obj) == (rank == 0)


@pytest.mark.parametrize("root", [0, -1])
def test_gather_mixed_sizes(root):
    root = root % size
    mine = {"rank": rank, "data": np.full(100_000 * rank + 1, rank)}
    result = transport.gather(mine, root=root)
    if rank == root:
        assert [item["rank"] for item in result] == list(range(size))
        assert all(np.all(item["data"] == r) for r, item in enumerate(result))
        assert [len(item["data"]) for item in result] == [100_000 * r + 1 for r in range(size)]
    else:
        assert result is None


def test_allgather_mixed_sizes_and_kinds():
    mine = [rank] * (rank * 50_000) if rank % 2 else np.arange(rank * 200_000 + 1)
    result = transport.allgather(mine)
    for r, item in enumerate(result):
        expected = [r] * (r * 50_000) if r % 2 else np.arange(r * 200_000 + 1)
        assert same(expected, item) if isinstance(item, np.ndarray) else item == expected


@pytest.mark.parametrize("root", [0, -1])
def test_scatter(root):
    root = root % size
    items = [{"r": r, "a": np.full(r * 100_000 + 3, r)} for r in range(size)]
    received = transport.scatter(items if rank == root else None, root=root)
    assert received["r"] == rank and np.all(received["a"] == rank)
    assert len(received["a"]) == rank * 100_000 + 3


def test_allreduce():
    assert transport.allreduce(rank + 1, "sum") == size * (size + 1) // 2
    assert transport.allreduce(rank, "max") == last
    assert transport.allreduce(rank, "min") == 0
    assert transport.allreduce(rank > 0, "lor") is True
    assert transport.allreduce(rank > 0, "land") is False
    arrays = transport.allreduce(np.array([rank, -rank]), "max")
    assert arrays.tolist() == [last, 0]
    assert transport.allreduce([rank], lambda a, b: a + b) == list(range(size))


@pytest.mark.parametrize("root", [0, -1])
def test_unpicklable_object_on_root_raises_broadcast_error_everywhere(root):
    root = root % size
    with pytest.raises(BroadcastError) as info:
        transport.broadcast(threading.Lock() if rank == root else None, root=root)
    message = str(info.value)
    assert message.startswith(f"[rank {rank}/{size}] broadcast failed on rank {root} (root)")
    assert "TypeError" in message and "lock" in message
    assert list(info.value.failures) == [root]
    assert transport.broadcast("next works") == "next works"


def _fails_to_load_on_last_rank():
    def rebuild():
        if start().rank == start().size - 1:
            raise ImportError("module only_on_root is not installed here")
        return "loaded"

    class LoadsOnlySomewhere:
        def __reduce__(self):
            return (rebuild, ())

    return LoadsOnlySomewhere()


def test_broadcast_that_fails_to_load_on_one_rank_raises_everywhere():
    with pytest.raises(BroadcastError) as info:
        transport.broadcast(_fails_to_load_on_last_rank() if rank == 0 else None)
    assert f"rank {last}: ImportError: module only_on_root is not installed here" in str(info.value)
    assert list(info.value.failures) == [last]
    assert transport.allgather(rank) == list(range(size))


@pytest.mark.parametrize("bad", [0, -1])
def test_gather_with_one_unpicklable_contribution(bad):
    bad = bad % size
    with pytest.raises(TransportError) as info:
        transport.gather(threading.Lock() if rank == bad else rank)
    role = " (root)" if bad == 0 else ""
    assert f"gather failed on rank {bad}{role}: TypeError" in str(info.value)
    assert str(info.value).startswith(f"[rank {rank}/{size}]")
    assert transport.gather(rank) == (list(range(size)) if rank == 0 else None)


def test_allgather_that_fails_to_load_on_some_rank():
    mine = _fails_to_load_on_last_rank() if rank == 0 else rank
    with pytest.raises(TransportError, match=f"rank {last}: ImportError"):
        transport.allgather(mine)


def test_scatter_with_wrong_length_raises_everywhere():
    with pytest.raises(TransportError, match=rf"rank 0 \(root\): ValueError: .*got {size + 1}"):
        transport.scatter(list(range(size + 1)) if rank == 0 else None)


def test_mismatched_collectives_raise_on_every_rank():
    with pytest.raises(CollectiveMismatchError) as info:
        if rank == 0:
            transport.broadcast("x")
        else:
            transport.gather("y")
    message = str(info.value)
    assert "rank 0 in broadcast(root=0)" in message
    assert "rank 1 in gather(root=0)" in message
    assert "test_transport.py:" in message
    assert info.value.where[0][:2] == ("broadcast", 0)
    assert info.value.where[1][:2] == ("gather", 0)
    assert transport.allgather(rank) == list(range(size))


def test_mismatched_roots_raise_on_every_rank():
    with pytest.raises(CollectiveMismatchError, match=r"rank 0 in broadcast\(root=0\)"):
        transport.broadcast("x", root=0 if rank == 0 else 1)


def test_timeout_names_the_rank_that_never_arrived():
    configure(timeout=0.5)
    try:
        if rank == last:
            time.sleep(2.0)
            transport.barrier()  # completes the exchange the others gave up on
        else:
            with pytest.raises(CollectiveTimeoutError) as info:
                transport.barrier()
            assert info.value.missing == [last]
            assert f"rank(s) {last} never arrived" in str(info.value)
            assert "rank 0 waits in barrier(root=-1) at test_transport.py:" in str(info.value)
    finally:
        configure(timeout=None)
    assert transport.allgather(rank) == list(range(size))


def test_collective_block_raises_on_every_rank():
    with pytest.raises((RemoteRankError, ZeroDivisionError)) as info:
        with transport.collective():
            if rank == last:
                _ = 1 / 0
    if rank == last:
        assert info.type is ZeroDivisionError
    else:
        assert info.type is RemoteRankError
        assert f"rank {last}: ZeroDivisionError: division by zero" in str(info.value)
        assert info.value.failures[last][0] == "ZeroDivisionError"


def test_collective_as_decorator():
    @transport.collective()
    def build():
        if rank == 0:
            raise ValueError("bad cell parameters")
        return "built"

    with pytest.raises((RemoteRankError, ValueError), match="bad cell parameters"):
        build()


def test_guard_can_be_turned_off():
    configure(checks=False)
    try:
        assert transport.broadcast({"a": rank}) == {"a": 0}
        with pytest.raises(BroadcastError):
            transport.broadcast(threading.Lock() if rank == 0 else None)
    finally:
        configure(checks=True)


@pytest.mark.skipif(not os.environ.get("PARNRN_TEST_LARGE"), reason="set PARNRN_TEST_LARGE=1")
def test_broadcast_over_2_gib():
    nbytes = (1 << 31) + 4096
    data = None
    if rank == 0:
        data = np.empty(nbytes, dtype=np.uint8)
        data[:4096] = 7
        data[-4096:] = 9
    received = transport.broadcast(data)
    assert received.nbytes == nbytes
    assert received[0] == 7 and received[-1] == 9


@pytest.mark.parametrize("root", [0, -1])
def test_broadcast_into_fills_every_rank_in_place(root):
    root = root % size
    array = np.full((300, 400), float(rank))
    same_array = transport.broadcast_into(array, root=root)
    assert same_array is array
    assert np.all(array == root)


def test_broadcast_into_with_a_misfit_array_raises_everywhere():
    array = np.zeros(10 if rank != last else 11)
    with pytest.raises(BroadcastError) as info:
        transport.broadcast_into(array)
    message = str(info.value)
    assert message.startswith(f"[rank {rank}/{size}] broadcast_into failed on rank {last}")
    assert "its array is <f8 (11,), the root's <f8 (10,)" in message
    assert list(info.value.failures) == [last]
    assert np.all(array == 0)  # nothing moved


def test_broadcast_into_with_a_read_only_array_raises_everywhere():
    array = np.zeros(10)
    array.flags.writeable = rank != last
    with pytest.raises(BroadcastError, match=f"rank {last}: ValueError: .*writable C-contiguous"):
        transport.broadcast_into(array)


def test_allreduce_with_an_unknown_operation_on_one_rank_raises_everywhere():
    with pytest.raises(TransportError) as info:
        transport.allreduce(rank, "mean" if rank == last else "sum")
    assert f"allreduce failed on rank {last}: ValueError: unknown reduction 'mean'" in str(
        info.value
    )
    assert transport.allreduce(1, "sum") == size
