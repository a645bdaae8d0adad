"""``CountingComm``: an mpi4py communicator that counts what goes through it.

Wrap a communicator, hand the wrapper to code that takes ``comm=``, and read, per rank,
how many MPI calls it made and how many bytes they moved::

    counting = CountingComm(comm)
    transport.broadcast(obj, 0, counting)
    counting.calls, counting.sent, counting.received, counting.largest

The model: *bytes taken from and delivered into this rank's buffers*, not the wire traffic
of MPI's algorithm (a tree broadcast forwards data through ranks that this does not see).

- Buffer methods (``Bcast``, ``Allgather``, ``Gatherv``, ...): bytes are computed from the
  buffer specifications, a buffer (numpy array, bytes, bytearray, memoryview, anything with
  the buffer protocol) or ``[buf, datatype]``, ``[buf, count(s)]``, ``[buf, count(s),
  datatype]``, ``[buf, counts, displs, datatype]``, ``[buf, (counts, displs), datatype]``.
  Only what MPI reads or writes on this rank counts: ``Allgather`` receives P times the
  send size (this rank's own block included), a non-root rank of ``Gather``/``Gatherv``/
  ``Reduce`` receives nothing, only the root of ``Scatter``/``Scatterv`` sends, the root
  of ``Bcast`` sends its buffer and every other rank receives it. ``MPI.IN_PLACE`` counts
  this rank's own block as sent (and, for reductions, the whole buffer as received).
  ``Recv`` counts the bytes that arrived (from its status); ``Irecv`` its buffer's size.
- Pickle-based methods (``bcast``, ``gather``, ``allgather``, ``allreduce``, ``send``,
  ...): the length of ``MPI.pickle.dumps`` of what the call takes from this rank and of
  what it returns to it (``gather`` on the root: every rank's object, its own included).
- ``Barrier``, ``Ibarrier``, probes and communicator management (``Dup``, ``Split``, ...)
  count as calls that move no bytes.

Calls whose bytes cannot be known when they are made (``irecv``'s object, the persistent
``*_init`` operations, ``Alltoallw``, ...) are counted as calls and listed in
``uncounted``. Requests returned by non-blocking methods are passed through unchanged, and
every other attribute is the real communicator's: ``Get_rank``, ``Get_size``, ``handle``
(parnrn keys per-communicator state by it, so the wrapper shares it with the real
communicator), ``Create_group`` and so on.

parnrn's agreement is one persistent ``Allreduce_init`` request per communicator, made at
its first agreement and started by every later one (``parnrn.transport.guard``), so no
communicator method is called per agreement: the newest wrapper of a communicator puts a
proxy in place of that request, which counts each start as an ``Allreduce`` of its buffers.
"""

from __future__ import annotations

import numbers
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from mpi4py import MPI

# Buffer methods, by how their arguments map to bytes sent and received on this rank.
# "all": every rank sends its send buffer and receives into its receive buffer.
_ALL = (
    "Allreduce Iallreduce Scan Iscan Exscan Iexscan Reduce_scatter Ireduce_scatter "
    "Reduce_scatter_block Ireduce_scatter_block Alltoall Ialltoall Alltoallv Ialltoallv"
).split()
_ALLGATHER = "Allgather Iallgather Allgatherv Iallgatherv".split()
_TO_ROOT = "Gather Igather Gatherv Igatherv Reduce Ireduce".split()
_FROM_ROOT = "Scatter Iscatter Scatterv Iscatterv".split()
_BCAST = "Bcast Ibcast".split()
_SEND = "Send Ssend Bsend Rsend Isend Issend Ibsend Irsend".split()
_RECV = "Recv Irecv".split()
_SENDRECV = "Sendrecv Isendrecv".split()
_REDUCTIONS = {"Allreduce", "Iallreduce", "Scan", "Iscan", "Exscan", "Iexscan", "Reduce",
               "Ireduce"}  # fmt: skip
_VECTOR = {"Allgatherv", "Iallgatherv", "Gatherv", "Igatherv", "Scatterv", "Iscatterv",
           "Alltoallv", "Ialltoallv", "Reduce_scatter", "Ireduce_scatter"}  # fmt: skip
# Calls that move no user data.
_NO_DATA = (
    "Barrier Ibarrier Probe Iprobe Mprobe Improbe barrier probe iprobe mprobe improbe "
    "Dup Dup_with_info Idup Idup_with_info Split Split_type Create Create_group "
    "Create_intercomm Create_cart Create_graph Create_dist_graph Create_dist_graph_adjacent"
).split()
# Pickle-based methods: where the object sent is, and who receives the result.
_PICKLE_SEND = "send ssend bsend isend issend ibsend".split()
_PICKLE_COLLECTIVE = "bcast gather allgather scatter alltoall allreduce reduce scan exscan".split()
_PICKLE_ROOTED = {"bcast", "gather", "scatter", "reduce"}
# Communication whose bytes are not known when the call is made: counted as calls only.
_UNCOUNTED = (
    "Alltoallw Ialltoallw Sendrecv_replace Isendrecv_replace Agree Iagree irecv sendrecv "
    "Allgather_init Allgatherv_init Allreduce_init Alltoall_init Alltoallv_init "
    "Alltoallw_init Barrier_init Bcast_init Exscan_init Gather_init Gatherv_init "
    "Reduce_init Reduce_scatter_block_init Reduce_scatter_init Scan_init Scatter_init "
    "Scatterv_init Send_init Bsend_init Rsend_init Ssend_init Recv_init Psend_init Precv_init"
).split()

COUNTED = frozenset(
    _ALL + _ALLGATHER + _TO_ROOT + _FROM_ROOT + _BCAST + _SEND + _RECV + _SENDRECV + _NO_DATA
    + _PICKLE_SEND + _PICKLE_COLLECTIVE + ["recv"] + _UNCOUNTED
)  # fmt: skip


def _datatype_size(datatype: Any) -> int:
    if isinstance(datatype, str):
        from mpi4py.util.dtlib import from_numpy_dtype

        datatype = from_numpy_dtype(datatype)
    return datatype.Get_size()


def _is_datatype(x: Any) -> bool:
    return isinstance(x, (MPI.Datatype, str))


def _buffer_bytes(buf: Any) -> tuple[int, int]:
    """(bytes, item size) of a buffer."""
    if buf is None:
        return 0, 1
    nbytes = getattr(buf, "nbytes", None)
    itemsize = getattr(buf, "itemsize", None)
    if nbytes is None or itemsize is None:
        view = memoryview(buf)
        nbytes, itemsize = view.nbytes, view.itemsize
    return int(nbytes), int(itemsize) or 1


def message(spec: Any, vector: bool = False) -> tuple[int, list[int] | None]:
    """Bytes a buffer specification describes, and the bytes per rank when it is a vector
    specification with counts (else None)."""
    if spec is None or spec is MPI.IN_PLACE or spec is MPI.BOTTOM:
        return 0, None
    if not isinstance(spec, (list, tuple)):
        return _buffer_bytes(spec)[0], None
    buf, *rest = spec
    nbytes, itemsize = _buffer_bytes(buf)
    if rest and _is_datatype(rest[-1]):
        itemsize = _datatype_size(rest.pop())
    if not rest or rest[0] is None:
        return nbytes, None
    count = rest[0]
    if isinstance(count, tuple) and len(count) == 2 and not vector:  # (count, displ)
        count = count[0]
    elif vector and isinstance(count, tuple) and len(count) == 2 and not _is_int(count[0]):
        count = count[0]  # ((counts, displs))
    if _is_int(count):
        return int(count) * itemsize, None
    per_rank = [int(c) * itemsize for c in count]
    return sum(per_rank), per_rank


def _is_int(x: Any) -> bool:
    return isinstance(x, numbers.Integral)


def pickled_size(obj: Any) -> int | None:
    try:
        return len(MPI.pickle.dumps(obj))
    except Exception:
        return None


def _arg(args: Sequence[Any], kwargs: dict[str, Any], index: int, *names: str, default=None):
    """Argument ``index`` of a call, given by position or by one of ``names``."""
    if len(args) > index:
        return args[index]
    return next((kwargs[n] for n in names if n in kwargs), default)


class CountingComm:
    """A proxy for an mpi4py communicator that counts, on this rank, the MPI calls made
    through it (``calls``, per method) and the bytes taken from (``sent``) and delivered
    into (``received``) this rank's buffers; ``largest`` is the largest single receive.
    ``reset()`` starts again; ``snapshot()`` is a plain dict of the counts, in total and
    per method."""

    def __init__(self, comm: Any):
        self._comm = comm
        self._rank = comm.Get_rank()
        self._size = comm.Get_size()
        self.reset()
        self._count_agreements()

    def _count_agreements(self) -> None:
        """Count parnrn's agreements on this communicator from now on (the module's
        docstring says why). Collective: it may make the communicator's request."""
        from parnrn.transport import guard

        state = guard._states.get(self._comm.handle) or guard._new_state(self._comm)
        request = getattr(state.request, "counted", state.request)
        nbytes = state.mine.nbytes

        def record() -> None:
            self._record("Allreduce", nbytes, nbytes)

        state.request = _CountedStarts(request, record)

    def reset(self) -> None:
        self.calls: Counter[str] = Counter()
        self.uncounted: Counter[str] = Counter()
        self.sent = 0
        self.received = 0
        self.largest = 0
        self._methods: dict[str, dict[str, int]] = {}

    def snapshot(self) -> dict[str, Any]:
        """``calls``, ``sent``, ``received``, ``largest`` in total and, under
        ``methods``, for each method called; ``uncounted``: calls per method whose bytes
        could not be counted."""
        return {
            "calls": sum(self.calls.values()),
            "sent": self.sent,
            "received": self.received,
            "largest": self.largest,
            "methods": {name: dict(tally) for name, tally in self._methods.items()},
            "uncounted": dict(self.uncounted),
        }

    @property
    def comm(self) -> Any:
        """The wrapped communicator."""
        return self._comm

    def __repr__(self) -> str:
        return f"<CountingComm of {self._comm!r}: {sum(self.calls.values())} calls>"

    def _record(self, name: str, sent: int | None, received: int | None) -> None:
        self.calls[name] += 1
        if sent is None or received is None:
            self.uncounted[name] += 1
        sent, received = sent or 0, received or 0
        self.sent += sent
        self.received += received
        self.largest = max(self.largest, received)
        tally = self._methods.setdefault(name, {"calls": 0, "sent": 0, "received": 0, "largest": 0})
        tally["calls"] += 1
        tally["sent"] += sent
        tally["received"] += received
        tally["largest"] = max(tally["largest"], received)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        attr = getattr(self._comm, name)
        if name not in COUNTED or not callable(attr):
            return attr
        return self._counting(name, attr)

    def _counting(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        if name == "Recv":
            return self._recv(method)
        if name in _PICKLE_COLLECTIVE or name == "recv":
            return self._pickled(name, method)

        def call(*args: Any, **kwargs: Any) -> Any:
            sent, received = self._bytes(name, args, kwargs)
            self._record(name, sent, received)
            return method(*args, **kwargs)

        return call

    def _bytes(self, name: str, args: tuple, kwargs: dict) -> tuple[int | None, int | None]:
        """(sent, received) on this rank for a call known before it is made."""
        rank, size = self._rank, self._size
        vector = name in _VECTOR
        if name in _NO_DATA:
            return 0, 0
        if name in _UNCOUNTED:
            return None, None
        if name in _PICKLE_SEND:
            return pickled_size(_arg(args, kwargs, 0, "obj")), 0
        if name in _BCAST:
            nbytes, _ = message(_arg(args, kwargs, 0, "buf"))
            root = _arg(args, kwargs, 1, "root", default=0)
            return (nbytes, 0) if rank == root else (0, nbytes)
        if name in _SEND:
            return message(_arg(args, kwargs, 0, "buf"))[0], 0
        if name in _RECV:  # Irecv: the buffer's size
            return 0, message(_arg(args, kwargs, 0, "buf"))[0]
        if name in _SENDRECV:
            sendbuf = _arg(args, kwargs, 0, "sendbuf")
            recvbuf = _arg(args, kwargs, 3, "recvbuf")
            return message(sendbuf)[0], message(recvbuf)[0]
        sendbuf = _arg(args, kwargs, 0, "sendbuf")
        recvbuf = _arg(args, kwargs, 1, "recvbuf")
        in_place = sendbuf is MPI.IN_PLACE
        recv_bytes, recv_per_rank = message(recvbuf, vector)
        send_bytes = message(sendbuf, vector and name in _ALL)[0]
        if name in _ALL:
            if in_place:
                send_bytes = recv_bytes
            return send_bytes, recv_bytes
        if name in _ALLGATHER:
            if in_place:
                send_bytes = recv_per_rank[rank] if recv_per_rank else recv_bytes // size
            return send_bytes, recv_bytes
        if name in _TO_ROOT:
            root = _arg(args, kwargs, 3 if name in _REDUCTIONS else 2, "root", default=0)
            is_root = rank == root
            if in_place and is_root:
                if name in _REDUCTIONS:
                    send_bytes = recv_bytes
                else:
                    send_bytes = recv_per_rank[rank] if recv_per_rank else recv_bytes // size
            return send_bytes, recv_bytes if is_root else 0
        if name in _FROM_ROOT:  # at the root, an IN_PLACE receive buffer counts 0
            root = _arg(args, kwargs, 2, "root", default=0)
            if rank != root:
                return 0, recv_bytes
            return message(sendbuf, vector)[0], recv_bytes
        return None, None

    def _recv(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            status = _arg(args, kwargs, 3, "status")
            if status is None:
                status = MPI.Status()
                if len(args) > 3:
                    args = (*args[:3], status)
                else:
                    kwargs["status"] = status
            result = method(*args, **kwargs)
            self._record("Recv", 0, status.Get_count(MPI.BYTE))
            return result

        return call

    def _pickled(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            rank = self._rank
            obj = _arg(args, kwargs, 0, "obj", "sendobj")
            root = _arg(args, kwargs, 2 if name == "reduce" else 1, "root", default=0)
            sends = name not in _PICKLE_ROOTED or name in ("gather", "reduce") or rank == root
            sent: int | None = 0
            if name == "recv":
                sent = 0
            elif sends and name in ("scatter", "alltoall"):
                sizes = [pickled_size(item) for item in obj]
                sent = None if None in sizes else sum(sizes)  # type: ignore[arg-type]
            elif sends:
                sent = pickled_size(obj)
            result = method(*args, **kwargs)
            if name in ("gather", "allgather", "alltoall"):
                items = result if result is not None else []
                sizes = [pickled_size(item) for item in items]
                received = None if None in sizes else sum(sizes)  # type: ignore[arg-type]
            elif name == "bcast" and rank == root:
                received = 0
            elif name == "reduce" and rank != root:
                received = 0
            else:
                received = pickled_size(result)
            self._record(name, sent, received)
            return result

        return call


class _CountedStarts:
    """A persistent request that calls ``record()`` at each ``Start``."""

    def __init__(self, request: Any, record: Callable[[], None]):
        self.counted, self._record = request, record

    def Start(self) -> None:  # noqa: N802 (the name of mpi4py's method)
        self._record()
        self.counted.Start()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.counted, name)
