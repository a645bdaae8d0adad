"""The transport on one rank: same semantics and errors as on many, no MPI traffic."""

import threading

import numpy as np
import pytest
from support.launch import run_python

from parnrn import BroadcastError, RemoteRankError, TransportError, configure, transport


def test_broadcast_returns_the_object_itself():
    obj = {"x": np.arange(5)}
    assert transport.broadcast(obj) is obj


def test_broadcast_of_unpicklable_object_raises_broadcast_error():
    with pytest.raises(BroadcastError, match=r"\[rank 0/1\].*rank 0.*TypeError.*lock") as info:
        transport.broadcast(threading.Lock())
    assert info.value.failures[0][0] == "TypeError"
    assert "Traceback" in info.value.failures[0][2]


def test_broadcast_with_a_root_that_is_not_a_rank():
    with pytest.raises(BroadcastError, match="root 3 is not a rank"):
        transport.broadcast(1, root=3)


def test_gather_allgather_scatter_with_one_rank():
    assert transport.gather("a") == ["a"]
    assert transport.allgather({"b": 2}) == [{"b": 2}]
    assert transport.scatter([[1, 2]]) == [1, 2]


def test_gather_of_unpicklable_object_raises_transport_error():
    with pytest.raises(TransportError, match=r"\[rank 0/1\] gather failed on rank 0: TypeError"):
        transport.gather(threading.Lock())


def test_scatter_needs_one_item_per_rank():
    with pytest.raises(
        TransportError, match=r"rank 0 \(root\): ValueError: .*one item per rank \(1\), got 2"
    ):
        transport.scatter([1, 2])


@pytest.mark.parametrize(
    "op, value, expected",
    [("sum", 3, 3), ("max", 2.5, 2.5), ("land", 1, 1), (lambda a, b: a + b, "s", "s")],
)
def test_allreduce_with_one_rank(op, value, expected):
    assert transport.allreduce(value, op) == expected


def test_allreduce_rejects_an_unknown_operation():
    with pytest.raises(TransportError, match=r"\[rank 0/1\] allreduce failed on rank 0: "
                       r"ValueError: unknown reduction 'mean'"):  # fmt: skip
        transport.allreduce(1, "mean")


def test_collective_block_reraises_the_local_exception():
    with pytest.raises(KeyError):
        with transport.collective():
            raise KeyError("x")

    @transport.collective()
    def fine():
        return 5

    assert fine() == 5
    assert issubclass(RemoteRankError, Exception)


def test_barrier_with_one_rank_returns():
    assert transport.barrier() is None


def test_configure_validates_timeout():
    with pytest.raises(ValueError, match="timeout must be"):
        configure(timeout=-1)
    assert configure(timeout=None).timeout is None


def test_import_is_cheap_and_starts_nothing():
    result = run_python(
        "import sys, parnrn\n"
        "assert 'neuron' not in sys.modules, 'neuron imported'\n"
        "assert 'mpi4py' not in sys.modules, 'mpi4py imported'\n"
        "print('ok')"
    )
    assert result.returncode == 0, result.output
    assert "ok" in result.stdout


def test_serial_fallback_without_mpi4py():
    result = run_python(
        "import sys\n"
        "sys.modules['mpi4py'] = None\n"
        "import threading, parnrn\n"
        "from parnrn import transport, runtime\n"
        "rt = runtime.start()\n"
        "assert (rt.MPI, rt.rank, rt.size) == (None, 0, 1)\n"
        "assert transport.broadcast({'a': 1}) == {'a': 1}\n"
        "assert transport.allreduce(4, 'sum') == 4\n"
        "try:\n"
        "    transport.broadcast(threading.Lock())\n"
        "except parnrn.BroadcastError as e:\n"
        "    print('raised', e)\n"
    )
    assert result.returncode == 0, result.output
    assert "raised [rank 0/1] broadcast failed on rank 0 (root): TypeError" in result.stdout


def test_transport_never_imports_neuron():
    result = run_python(
        "import sys\n"
        "sys.modules['neuron'] = None\n"
        "from parnrn import transport\n"
        "assert transport.allgather([1]) == [[1]]\n"
        "print('ok')"
    )
    assert result.returncode == 0, result.output
    assert "ok" in result.stdout


def test_broadcast_into_with_one_rank_checks_the_array():
    array = np.arange(4.0)
    assert transport.broadcast_into(array) is array
    with pytest.raises(
        BroadcastError, match=r"rank 0 \(root\): TypeError: .*numpy array, not list"
    ):
        transport.broadcast_into([1.0, 2.0])
    with pytest.raises(BroadcastError, match="writable C-contiguous"):
        transport.broadcast_into(np.arange(10.0)[::2])
