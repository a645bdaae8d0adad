"""The transport without MPI traffic, each in a fresh interpreter: importing parnrn starts
nothing, the transport never imports NEURON, and without mpi4py it falls back to one rank.
The semantics on one rank (``MPI.COMM_SELF``) and on many are tests/mpi/test_transport.py."""

from support.launch import run_python


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
