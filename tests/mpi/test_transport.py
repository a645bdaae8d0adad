"""Transport collectives on 2 and 3 ranks: every payload kind, every error on every rank.

A test that takes ``comm`` runs twice: on ``MPI.COMM_SELF`` (one rank: the serial paths)
and on parnrn's default communicator (every rank), so one body states the semantics that
must hold for any size; its expected values are built from ``comm``. The tests without
``comm`` need several ranks: mismatches, timeouts, a rank other than the root failing
to load.
"""

import _thread
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


@pytest.fixture(params=["self", "world"])
def comm(request):
    """One rank (``MPI.COMM_SELF``), then every rank (parnrn's default communicator)."""
    return runtime.MPI.COMM_SELF if request.param == "self" else transport.default_comm()


def shape(comm) -> tuple[int, int, int]:
    """(rank, size, last rank) on ``comm``."""
    return comm.Get_rank(), comm.Get_size(), comm.Get_size() - 1


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
        "1 KB": np.arange(128.0),
        "big-endian": np.arange(1000, dtype=">f8"),
        "float16": np.arange(50, dtype=np.float16),
        "datetime": np.arange(40_000).astype("datetime64[ns]"),
        "text 0-d": np.array("x" * 100),
        "text": np.array(["spike", "train"] * 5000),
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
def test_broadcast_every_payload_kind(name, root, comm):
    rank, size, _ = shape(comm)
    root = root % size
    reference = payloads()[name]
    received = transport.broadcast(reference if rank == root else None, root=root, comm=comm)
    assert same(reference, received)
    if isinstance(received, np.ndarray) and rank != root:
        assert received.flags.writeable


def test_broadcast_returns_the_object_itself_on_root(comm):
    rank, _, _ = shape(comm)
    obj = {"array": np.zeros(100_000)}
    received = transport.broadcast(obj if rank == 0 else None, comm=comm)
    assert (received is obj) == (rank == 0)


@pytest.mark.parametrize("op", ["broadcast", "broadcast_into", "gather", "scatter"])
def test_a_root_that_is_not_a_rank_is_refused(op, comm):
    rank, size, _ = shape(comm)
    root = size + 2
    call = {
        "broadcast": lambda: transport.broadcast(1, root=root, comm=comm),
        "broadcast_into": lambda: transport.broadcast_into(np.zeros(3), root=root, comm=comm),
        "gather": lambda: transport.gather(1, root=root, comm=comm),
        "scatter": lambda: transport.scatter(None, root=root, comm=comm),
    }[op]
    error = BroadcastError if op.startswith("broadcast") else TransportError
    expected = (
        rf"^\[rank {rank}/{size}\] {op} failed on rank 0: ValueError: root {root} is not a rank"
    )
    with pytest.raises(error, match=expected):
        call()
    assert transport.allgather(rank, comm=comm) == list(range(size))


def test_gather_allgather_scatter_small_objects(comm):
    rank, size, _ = shape(comm)
    gathered = transport.gather(f"a{rank}", comm=comm)
    assert gathered == ([f"a{r}" for r in range(size)] if rank == 0 else None)
    assert transport.allgather({"b": rank}, comm=comm) == [{"b": r} for r in range(size)]
    items = [[r, r + 1] for r in range(size)] if rank == 0 else None
    assert transport.scatter(items, comm=comm) == [rank, rank + 1]


@pytest.mark.parametrize("root", [0, -1])
def test_gather_mixed_sizes(root, comm):
    rank, size, _ = shape(comm)
    root = root % size
    mine = {"rank": rank, "data": np.full(100_000 * rank + 1, rank)}
    result = transport.gather(mine, root=root, comm=comm)
    if rank == root:
        assert [item["rank"] for item in result] == list(range(size))
        assert all(np.all(item["data"] == r) for r, item in enumerate(result))
        assert [len(item["data"]) for item in result] == [100_000 * r + 1 for r in range(size)]
    else:
        assert result is None


def test_allgather_mixed_sizes_and_kinds(comm):
    rank, size, _ = shape(comm)
    mine = [rank] * (rank * 50_000) if rank % 2 else np.arange(rank * 200_000 + 1)
    result = transport.allgather(mine, comm=comm)
    assert len(result) == size
    for r, item in enumerate(result):
        expected = [r] * (r * 50_000) if r % 2 else np.arange(r * 200_000 + 1)
        assert same(expected, item) if isinstance(item, np.ndarray) else item == expected


@pytest.mark.parametrize("root", [0, -1])
def test_scatter(root, comm):
    rank, size, _ = shape(comm)
    root = root % size
    items = [{"r": r, "a": np.full(r * 100_000 + 3, r)} for r in range(size)]
    received = transport.scatter(items if rank == root else None, root=root, comm=comm)
    assert received["r"] == rank and np.all(received["a"] == rank)
    assert len(received["a"]) == rank * 100_000 + 3


def test_allreduce(comm):
    rank, size, last = shape(comm)
    assert transport.allreduce(rank + 1, "sum", comm=comm) == size * (size + 1) // 2
    assert transport.allreduce(rank, "max", comm=comm) == last
    assert transport.allreduce(rank, "min", comm=comm) == 0
    assert transport.allreduce(rank > 0, "lor", comm=comm) is (size > 1)
    assert transport.allreduce(rank > 0, "land", comm=comm) is False
    arrays = transport.allreduce(np.array([rank, -rank]), "max", comm=comm)
    assert arrays.tolist() == [last, 0]
    assert transport.allreduce([rank], lambda a, b: a + b, comm=comm) == list(range(size))


@pytest.mark.parametrize(
    "op, value, expected",
    [
        ("sum", 3, lambda n: 3 * n),
        ("max", 2.5, lambda n: 2.5),
        ("land", 1, lambda n: 1),
        (lambda a, b: a + b, "s", lambda n: "s" * n),
    ],
)
def test_allreduce_of_the_same_value_on_every_rank(op, value, expected, comm):
    assert transport.allreduce(value, op, comm=comm) == expected(comm.Get_size())


def test_barrier_returns(comm):
    assert transport.barrier(comm=comm) is None


@pytest.mark.parametrize("root", [0, -1])
def test_unpicklable_object_on_root_raises_broadcast_error_everywhere(root, comm):
    rank, size, _ = shape(comm)
    root = root % size
    with pytest.raises(BroadcastError) as info:
        transport.broadcast(threading.Lock() if rank == root else None, root=root, comm=comm)
    message = str(info.value)
    assert message.startswith(f"[rank {rank}/{size}] broadcast failed on rank {root} (root)")
    assert "TypeError" in message and "lock" in message
    assert list(info.value.failures) == [root]
    assert info.value.failures[root][0] == "TypeError"
    assert "Traceback" in info.value.failures[root][2]
    assert transport.broadcast("next works", comm=comm) == "next works"


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
def test_gather_with_one_unpicklable_contribution(bad, comm):
    rank, size, _ = shape(comm)
    bad = bad % size
    with pytest.raises(TransportError) as info:
        transport.gather(threading.Lock() if rank == bad else rank, comm=comm)
    role = " (root)" if bad == 0 else ""
    assert str(info.value).startswith(
        f"[rank {rank}/{size}] gather failed on rank {bad}{role}: TypeError"
    )
    assert transport.gather(rank, comm=comm) == (list(range(size)) if rank == 0 else None)


def test_allgather_that_fails_to_load_on_some_rank():
    mine = _fails_to_load_on_last_rank() if rank == 0 else rank
    with pytest.raises(TransportError, match=f"rank {last}: ImportError"):
        transport.allgather(mine)


def test_scatter_with_wrong_length_raises_everywhere(comm):
    rank, size, _ = shape(comm)
    expected = rf"rank 0 \(root\): ValueError: .*one item per rank \({size}\), got {size + 1}"
    with pytest.raises(TransportError, match=expected):
        transport.scatter(list(range(size + 1)) if rank == 0 else None, comm=comm)


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


def test_timeout_names_the_rank_that_never_arrived_and_gives_up_on_the_communicator():
    """The ranks that time out name the late rank, then refuse every later call on that
    communicator; the late rank's own next wait names them as having given up. On a
    communicator of its own: the ranks are out of step on it afterwards."""
    comm = runtime.MPI.COMM_WORLD.Dup()
    configure(timeout=0.5)
    try:
        if rank == last:
            time.sleep(2.0)
            transport.barrier(comm)  # completes the agreement the others gave up on
            with pytest.raises(CollectiveTimeoutError) as info:
                transport.barrier(comm)
            assert info.value.missing == list(range(last))
            assert "rank 0 gave up on this communicator earlier, when barrier(root=-1)" in str(
                info.value
            )
        else:
            with pytest.raises(CollectiveTimeoutError) as info:
                transport.barrier(comm)
            assert info.value.missing == [last]
            assert f"rank(s) {last} never arrived" in str(info.value)
            assert "rank 0 waits in barrier(root=-1) at test_transport.py:" in str(info.value)
            assert "gives up on this communicator" in str(info.value)
            with pytest.raises(CollectiveTimeoutError, match=r"allgather refused: .* barrier #1"):
                transport.allgather(rank, comm)
            assert transport.gave_up(comm) == f"barrier #1 timed out (rank(s) {last} never arrived)"
    finally:
        configure(timeout=None)
    assert transport.gave_up(transport.default_comm()) is None
    assert transport.allgather(rank) == list(range(size))


def test_a_timeout_inside_a_collective_block_leaves_it_as_itself():
    """A collective that times out inside ``collective()``: the block's end cannot agree
    on a communicator given up on, so the timeout itself leaves the block, not a refusal;
    the late rank's own block end times out naming the ranks that gave up."""
    comm = runtime.MPI.COMM_WORLD.Dup()
    configure(timeout=0.5)
    try:
        with pytest.raises(CollectiveTimeoutError) as info:
            with transport.collective(comm):
                if rank == last:
                    time.sleep(1.5)
                transport.barrier(comm)
    finally:
        configure(timeout=None)
    if rank == last:
        assert "collective #" in str(info.value), info.value  # the block's end
        assert "rank 0 gave up on this communicator earlier" in str(info.value), info.value
    else:
        assert "barrier #1 timed out after 0.5 s" in str(info.value)
        assert f"rank(s) {last} never arrived" in str(info.value)
    assert transport.allgather(rank) == list(range(size))


def test_a_caught_ctrl_c_in_a_wait_gives_up_on_the_communicator():
    """Ctrl-C while waiting for a late rank, caught: the ranks are out of step, and the
    next call on the communicator says so at once instead of being matched with a call
    the late rank makes for another."""
    comm = runtime.MPI.COMM_WORLD.Dup()
    if rank == last:
        time.sleep(1.0)
        transport.barrier(comm)  # completes the agreement the others gave up on
    else:
        threading.Timer(0.3, _thread.interrupt_main).start()
        with pytest.raises(KeyboardInterrupt):
            transport.barrier(comm)
        message = r"broadcast refused: .* when barrier #1 was interrupted by KeyboardInterrupt"
        with pytest.raises(CollectiveTimeoutError, match=message):
            transport.broadcast("decoy", 0, comm)
    assert transport.allgather(rank) == list(range(size))


class SlowToPickleOnTheLastRank:
    def __reduce__(self):
        if rank == last:
            time.sleep(1.5)
        return (int, (rank,))


def test_a_new_communicator_never_inherits_the_state_of_a_freed_one():
    """MPI gives a new communicator the handle of one freed before (Open MPI at once): its
    calls count from #1, not on from the freed one's (whose ranks may be out of step, or
    have given up on it)."""
    old = runtime.MPI.COMM_WORLD.Dup()
    transport.barrier(old)
    old.Free()
    new = runtime.MPI.COMM_WORLD.Dup()
    with pytest.raises(CollectiveMismatchError, match=r"rank 0 in broadcast\(root=0\) #1 at"):
        if rank == 0:
            transport.broadcast("fresh", 0, new)
        else:
            transport.gather(rank, 0, new)
    new.Free()


def test_timeout_bounds_the_data_phase_and_counts_ranks_waiting_further_on():
    """The last rank is slow to send its part of an allreduce, past the agreement: rank 0
    waits for it in the data phase, ranks in between already wait in the next collective,
    and every waiting rank names the last one alone. On a communicator of its own: the
    ranks are out of step on it afterwards."""
    comm = runtime.MPI.COMM_WORLD.Dup()
    configure(timeout=0.5)
    try:
        with pytest.raises(CollectiveTimeoutError) as info:
            transport.allreduce(SlowToPickleOnTheLastRank(), lambda a, b: a + b, comm)
        if rank != last:
            assert info.value.missing == [last], str(info.value)
            assert f"rank(s) {last} never arrived" in str(info.value)
        if rank == 0:
            assert "allreduce (data) #1 timed out after 0.5 s" in str(info.value)
            assert "out of step" in str(info.value)
    finally:
        configure(timeout=None)
    assert transport.allgather(rank) == list(range(size))


def test_a_late_rank_never_takes_a_later_call_for_the_one_it_was_late_for():
    """The last rank is late in an allreduce; the others time out and go on to a broadcast
    that matches, call for call, the broadcast of the result the late rank waits in.
    The broadcast is refused, and the late rank raises instead of returning the decoy."""
    comm = runtime.MPI.COMM_WORLD.Dup()
    configure(timeout=0.5)
    try:
        if rank == last:
            with pytest.raises(CollectiveTimeoutError) as info:
                transport.allreduce(SlowToPickleOnTheLastRank(), lambda a, b: a + b, comm)
            assert "broadcast #2 timed out after 0.5 s" in str(info.value)
            assert "rank 0 gave up on this communicator earlier" in str(info.value)
            assert info.value.missing == list(range(last))
        else:
            with pytest.raises(CollectiveTimeoutError):
                transport.allreduce(SlowToPickleOnTheLastRank(), lambda a, b: a + b, comm)
            with pytest.raises(CollectiveTimeoutError, match=r"broadcast refused: this rank"):
                transport.broadcast("decoy", 0, comm)
    finally:
        configure(timeout=None)
    assert transport.allgather(rank) == list(range(size))


def test_collective_block_raises_on_every_rank(comm):
    rank, _, last = shape(comm)
    assert issubclass(RemoteRankError, Exception)
    with pytest.raises((RemoteRankError, ZeroDivisionError)) as info:
        with transport.collective(comm):
            if rank == last:
                _ = 1 / 0
    if rank == last:
        assert info.type is ZeroDivisionError
    else:
        assert info.type is RemoteRankError
        assert f"rank {last}: ZeroDivisionError: division by zero" in str(info.value)
        assert info.value.failures[last][0] == "ZeroDivisionError"


def test_collective_as_decorator(comm):
    rank, _, _ = shape(comm)

    @transport.collective(comm)
    def build():
        if rank == 0:
            raise ValueError("bad cell parameters")
        return "built"

    with pytest.raises((RemoteRankError, ValueError), match="bad cell parameters") as info:
        build()
    assert info.type is (ValueError if rank == 0 else RemoteRankError)

    @transport.collective(comm)
    def fine():
        return 5

    assert fine() == 5


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
def test_broadcast_into_fills_every_rank_in_place(root, comm):
    rank, size, _ = shape(comm)
    root = root % size
    array = np.full((300, 400), float(rank))
    same_array = transport.broadcast_into(array, root=root, comm=comm)
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


def _read_only():
    array = np.zeros(10)
    array.flags.writeable = False
    return array


@pytest.mark.parametrize(
    "unfit, expected",
    [
        (lambda: [0.0] * 10, "TypeError: broadcast_into needs a numpy array, not list"),
        (_read_only, "ValueError: broadcast_into needs a writable C-contiguous array"),
        (lambda: np.zeros(20)[::2], "ValueError: broadcast_into needs a writable C-contiguous"),
    ],
    ids=["list", "read-only", "strided"],
)
def test_broadcast_into_with_an_unfit_array_on_one_rank_raises_everywhere(unfit, expected, comm):
    rank, size, last = shape(comm)
    array = unfit() if rank == last else np.zeros(10)
    role = " (root)" if last == 0 else ""
    with pytest.raises(BroadcastError) as info:
        transport.broadcast_into(array, comm=comm)
    message = str(info.value)
    assert message.startswith(f"[rank {rank}/{size}] broadcast_into failed on rank {last}{role}: ")
    assert expected in message
    assert list(info.value.failures) == [last]


def test_allreduce_with_an_unknown_operation_on_one_rank_raises_everywhere(comm):
    rank, size, last = shape(comm)
    with pytest.raises(TransportError) as info:
        transport.allreduce(rank, "mean" if rank == last else "sum", comm=comm)
    assert str(info.value).startswith(
        f"[rank {rank}/{size}] allreduce failed on rank {last}: "
        "ValueError: unknown reduction 'mean'"
    )
    assert transport.allreduce(1, "sum", comm=comm) == size


def test_a_failure_before_an_inner_call_of_a_collective_block_leaves_the_ranks_in_step():
    with pytest.raises((ZeroDivisionError, RemoteRankError)) as info:
        with transport.collective():
            if rank == last:
                raise ZeroDivisionError("before the broadcast the others are already in")
            transport.broadcast("inner")
    if rank == last:
        assert info.type is ZeroDivisionError
    else:
        assert info.type is RemoteRankError
        assert f"rank {last}: ZeroDivisionError: before the broadcast" in str(info.value)
        assert "abandoned" in str(info.value)
    assert transport.allgather(rank) == list(range(size))  # still in step
    assert transport.broadcast("after", root=last) == "after"


@pytest.mark.parametrize("bad_root", [None, "0", 0.0])
def test_a_root_that_is_not_an_int_on_one_rank_is_an_error_on_every_rank(bad_root):
    with pytest.raises((BroadcastError, CollectiveMismatchError)) as info:
        transport.broadcast("x", root=bad_root if rank == last else 0)
    assert str(info.value).startswith(f"[rank {rank}/{size}]")
    assert f"rank {last}" in str(info.value)
    assert transport.allgather(rank) == list(range(size))  # still in step


def test_a_user_function_failing_on_one_rank_fails_allreduce_on_every_rank():
    def concatenate(a, b):
        if last in b:  # fails on the one rank that combines the last rank's value
            raise ArithmeticError(f"cannot combine on rank {rank}")
        return a + b

    with pytest.raises(TransportError, match=r"allreduce failed on rank \d+: ArithmeticError"):
        transport.allreduce([rank], concatenate)
    assert transport.allreduce([rank], lambda a, b: a + b) == list(range(size))


class StrRaises(Exception):
    def __str__(self):
        raise RuntimeError("no text")


class PicklingRaises:
    def __reduce__(self):
        raise StrRaises()


def test_an_exception_whose_str_raises_while_pickling_is_reported_everywhere():
    with pytest.raises(BroadcastError, match=r"rank 0 \(root\): StrRaises: <StrRaises whose"):
        transport.broadcast(PicklingRaises() if rank == 0 else None)
    assert transport.allgather(rank) == list(range(size))


def test_builtin_data_that_fails_to_load_raises_there_never_a_value(monkeypatch):
    from parnrn.transport import collectives

    def out_of_memory(*args, **kwargs):
        raise MemoryError("simulated: the receiver is short of memory")

    if rank == last:
        monkeypatch.setattr(collectives, "loads", out_of_memory)
        monkeypatch.setattr(collectives, "loads_plain", out_of_memory)
    if rank == last:
        with pytest.raises(BroadcastError, match=rf"rank {last}: MemoryError: simulated"):
            transport.broadcast({"plain": [1, 2, 3]})
        with pytest.raises(TransportError, match=rf"rank {last}: MemoryError: simulated"):
            transport.gather({"plain": rank}, root=last)
    else:
        assert transport.broadcast({"plain": [1, 2, 3]}) == {"plain": [1, 2, 3]}
        assert transport.gather({"plain": rank}, root=last) is None
    monkeypatch.undo()
    assert transport.allgather(rank) == list(range(size))


@pytest.mark.parametrize("op, combine", [("sum", np.sum), ("max", np.max), ("min", np.min)])
def test_allreduce_into_combines_in_place(comm, op, combine):
    rank, size, _ = shape(comm)
    array = np.arange(6, dtype=np.float64).reshape(2, 3) * (rank + 1)
    assert transport.allreduce_into(array, op, comm) is array
    every = np.stack([np.arange(6.0).reshape(2, 3) * (r + 1) for r in range(size)])
    np.testing.assert_array_equal(array, combine(every, axis=0))


def test_allreduce_into_with_an_unfit_array_on_one_rank_fails_everywhere():
    array = np.zeros(11 if rank == last else 10)
    with pytest.raises(TransportError, match=rf"failed on rank {last}: ValueError: its array is"):
        transport.allreduce_into(array)
    with pytest.raises(TransportError, match=r"allreduce_into takes sum, prod"):
        transport.allreduce_into(np.zeros(3), "land" if rank == 0 else "sum")
    assert transport.allgather(rank) == list(range(size))
