"""Object collectives over mpi4py: broadcast, gather, allgather, scatter, allreduce, barrier.

Every call first agrees on headers (``guard.exchange``): the same exception is raised on
every rank when a rank could not serialize its part or the ranks are not in the same call.
Small payloads ride inline in the headers; larger ones follow as one *blob* per rank (the
lengths of its out-of-band buffers, then its pickle stream) and the buffers themselves, sent
as raw bytes with no copy. If an object that needs imports to load fails to load on some
rank, ``guard.agree`` makes every rank raise.

``comm`` defaults to parnrn's own duplicate of the world communicator. With one rank (or no
mpi4py) calls return at once, after the same serialization checks, so the same errors occur.
On the sending side the object itself is returned, not a copy.
"""

from __future__ import annotations

import functools
import itertools
import operator
import zlib
from collections.abc import Callable, Sequence
from contextlib import ContextDecorator
from typing import Any

import numpy as np

from .. import runtime
from ..errors import (
    BroadcastError,
    ParallelError,
    RemoteRankError,
    TransportError,
    describe_failures,
    error_record,
)
from ..ranks import rank_tag
from . import guard
from .serialize import Payload, dumps, loads

_CHUNK = 1 << 30  # bytes per MPI call: stays under 2 GiB counts with any MPI library


def default_comm() -> Any:
    """parnrn's data communicator, or None when running without MPI.

    Example::

        comm = default_comm()
        size = 1 if comm is None else comm.Get_size()
    """
    return runtime.start().data


def _size(comm: Any) -> int:
    return 1 if comm is None else comm.Get_size()


def _serialize(obj: Any) -> tuple[Payload | None, BaseException | None]:
    try:
        return dumps(obj), None
    except Exception as exc:
        return None, exc


def _blob(payload: Payload | None) -> bytes:
    if payload is None:
        return b""
    if not payload.buffers:
        return payload.stream
    lengths = np.array([b.nbytes for b in payload.buffers], dtype=np.int64)
    return lengths.tobytes() + payload.stream


def _split_blob(blob: Any, nbufs: int) -> tuple[list[int], memoryview]:
    view = memoryview(blob).cast("B")
    if not nbufs:
        return [], view
    lengths = np.frombuffer(view[: 8 * nbufs], dtype=np.int64).tolist()
    return lengths, view[8 * nbufs :]


def _chunks(buffer: Any) -> list[memoryview]:
    view = memoryview(buffer).cast("B")
    return [view[i : i + _CHUNK] for i in range(0, len(view), _CHUNK)] or [view]


def _empty(nbytes: int) -> np.ndarray:
    return np.empty(nbytes, dtype=np.uint8)


_ALIGN = 64


def _receive_buffers(lengths: list[int]) -> list[np.ndarray]:
    """Buffers of the given lengths, carved from one allocation, each 64-byte aligned.

    One large allocation gets huge pages from numpy; many separate ones would each be
    faulted in 4 KiB at a time, which costs more than moving the data. The arrays rebuilt
    from these buffers keep the whole allocation alive together.
    """
    if not lengths:
        return []
    starts = [0]
    for length in lengths:
        starts.append(starts[-1] + -(-length // _ALIGN) * _ALIGN)
    arena = _empty(starts[-1] + _ALIGN)
    offset = -arena.ctypes.data % _ALIGN
    return [arena[offset + a : offset + a + n] for a, n in zip(starts, lengths)]


def _bcast_bytes(comm: Any, buffer: Any, root: int) -> None:
    for chunk in _chunks(buffer):
        comm.Bcast(chunk, root)


def _bcast_buffers(comm: Any, buffers: list[Any], root: int) -> None:
    # One Bcast per buffer: MPICH moves an hindexed datatype over the same buffers
    # several times slower than separate contiguous messages.
    for buffer in buffers:
        _bcast_bytes(comm, buffer, root)


def _send_bytes(comm: Any, buffer: Any, dest: int, tag: int) -> None:
    for chunk in _chunks(buffer):
        comm.Send(chunk, dest, tag)


def _recv_bytes(comm: Any, buffer: Any, source: int, tag: int) -> None:
    for chunk in _chunks(buffer):
        comm.Recv(chunk, source, tag)


def _try_load(stream: Any, buffers: list[Any]) -> tuple[Any, BaseException | None]:
    try:
        return loads(stream, buffers), None
    except Exception as exc:
        return None, exc


def _root_error(root: int, size: int) -> ValueError | None:
    """The error of a ``root`` that is not a rank, or None."""
    if 0 <= root < size:
        return None
    return ValueError(f"root {root} is not a rank of this {size}-rank communicator")


def _serial_check(
    op: str,
    error: BaseException | None,
    error_class: type[ParallelError],
    root: int = -1,
) -> None:
    """With one rank: raise what every rank would raise with many."""
    if error is not None:
        failures = {0: error_record(error)}
        message = f"{rank_tag(0, 1)} {op} failed on {describe_failures(failures, root)}"
        raise error_class(message, failures) from error


def broadcast(obj: Any, root: int = 0, comm: Any = None) -> Any:
    """Send ``obj`` from ``root`` to every rank and return it there.

    Raises ``BroadcastError`` on every rank if the root cannot serialize ``obj`` or a rank
    cannot load it. numpy arrays travel as raw buffers.

    Example::

        params = broadcast({"seed": 42} if rank == 0 else None, root=0)
    """
    comm = default_comm() if comm is None else comm
    size = _size(comm)
    rank = 0 if comm is None else comm.Get_rank()
    is_root = rank == root
    payload, error = _serialize(obj) if is_root else (None, None)
    error = _root_error(root, size) or error
    if size == 1:
        _serial_check("broadcast", error, BroadcastError, root)
        return obj
    if payload is None:
        blob, nbufs, plain = b"", 0, True
    else:
        blob, nbufs, plain = _blob(payload), len(payload.buffers), payload.plain
    headers = guard.exchange(comm, "broadcast", root, blob, nbufs, plain, error, BroadcastError)
    if is_root:
        if len(blob) > guard.INLINE_CAPACITY:
            _bcast_bytes(comm, blob, root)
        if nbufs:
            _bcast_buffers(comm, payload.buffers, root)
        if not plain:
            guard.agree(comm, "broadcast", None, BroadcastError, root)
        return obj
    head = headers[root]
    if head.nbufs == 0 and head.whole_inline():
        try:  # the common small case: nothing more to receive
            result, error = loads(head.inline), None
        except Exception as exc:
            result, error = None, exc
    else:
        if head.whole_inline():
            blob = head.inline
        else:
            blob = _empty(head.blob_len)
            _bcast_bytes(comm, blob, root)
        lengths, stream = _split_blob(blob, head.nbufs)
        buffers = _receive_buffers(lengths)
        _bcast_buffers(comm, buffers, root)
        result, error = _try_load(stream, buffers)
    if not head.plain:
        guard.agree(comm, "broadcast", error, BroadcastError, root)
    return result


def broadcast_into(array: np.ndarray, root: int = 0, comm: Any = None) -> np.ndarray:
    """Overwrite ``array`` on every rank with the root's, in place, at raw MPI speed.

    Every rank passes a writable C-contiguous numpy array of the root's dtype and shape
    (allocated once and reused, as with ``comm.Bcast``). Raises ``BroadcastError`` on
    every rank, before any data moves, if a rank's array does not fit.

    Example::

        weights = np.empty((ncell, ncell))
        if rank == 0:
            weights[:] = load_weights()
        broadcast_into(weights)
    """
    comm = default_comm() if comm is None else comm
    size = _size(comm)
    error = None
    if not isinstance(array, np.ndarray):
        error = TypeError(f"broadcast_into needs a numpy array, not {type(array).__name__}")
    elif not (array.flags.c_contiguous and array.flags.writeable):
        error = ValueError("broadcast_into needs a writable C-contiguous array")
    else:
        error = _root_error(root, size)
    if size == 1:
        _serial_check("broadcast_into", error, BroadcastError, root)
        return array
    layout = "" if error else f"{array.dtype.str} {array.shape}"
    if len(layout) > guard.INLINE_CAPACITY:  # a very high-dimensional array: compare a digest
        layout = f"{array.dtype.str} {array.nbytes} bytes, shape crc {zlib.crc32(layout.encode())}"
    headers = guard.exchange(
        comm, "broadcast_into", root, layout.encode(), 0, True, error, BroadcastError
    )
    expected = bytes(headers[root].inline)
    misfits = {
        rank: (
            "ValueError",
            f"its array is {bytes(h.inline).decode()}, the root's {expected.decode()}",
            "",
        )
        for rank, h in enumerate(headers)
        if bytes(h.inline) != expected
    }
    if misfits:
        raise BroadcastError(
            f"{rank_tag(comm.Get_rank(), size)} broadcast_into failed on "
            f"{describe_failures(misfits, root)}",
            misfits,
        )
    _bcast_bytes(comm, array, root)
    return array


def _exchange_contribution(
    comm: Any, op: str, obj: Any, root: int, extra_error: BaseException | None = None
) -> tuple[guard.Headers, Payload | None, bytes]:
    payload, error = _serialize(obj)
    error = extra_error or error
    blob = _blob(payload)
    headers = guard.exchange(
        comm, op, root, blob=blob, nbufs=len(payload.buffers) if payload else 0,
        plain=payload.plain if payload else True, error=error, error_class=TransportError,
    )  # fmt: skip
    return headers, payload, blob


def _blobs_v(comm: Any, headers: guard.Headers, blob: bytes, root: int | None) -> list[Any]:
    """Every rank's blob, on every rank (``root=None``) or on root only (elsewhere: []).
    Inline blobs come from the headers; the others move in one Allgatherv or Gatherv."""
    rank = comm.Get_rank()
    receives = root is None or rank == root
    counts = [0 if h.whole_inline() else h.blob_len for h in headers]
    if not any(counts):
        return [h.inline for h in headers] if receives else []
    displs = [0, *itertools.accumulate(counts[:-1])]
    received = _empty(sum(counts) if receives else 0)
    send = blob if counts[rank] else b""
    target = [received, counts, displs, _byte()] if receives else None
    if root is None:
        comm.Allgatherv(send, target)
    else:
        comm.Gatherv(send, target, root)
    if not receives:
        return []
    view = memoryview(received)
    return [
        h.inline if not count else view[start : start + count]
        for h, count, start in zip(headers, counts, displs)
    ]


def _byte() -> Any:
    return runtime.start().MPI.BYTE


def gather(obj: Any, root: int = 0, comm: Any = None) -> list[Any] | None:
    """Collect one object from every rank: a list in rank order on ``root``, None elsewhere.

    Raises ``TransportError`` on every rank if any rank's object cannot be serialized or
    loaded.

    Example::

        counts = gather(len(my_cells), root=0)  # [12, 11, 11] on rank 0
    """
    comm = default_comm() if comm is None else comm
    size = _size(comm)
    if size == 1:
        _serial_check("gather", _root_error(root, size) or _serialize(obj)[1], TransportError, root)
        return [obj]
    rank = comm.Get_rank()
    headers, payload, blob = _exchange_contribution(
        comm, "gather", obj, root, _root_error(root, size)
    )
    blobs = _blobs_v(comm, headers, blob, root)
    error = None
    if rank == root:
        result = []
        for r, h in enumerate(headers):
            if r == rank:
                result.append(obj)
                continue
            lengths, stream = _split_blob(blobs[r], h.nbufs)
            buffers = _receive_buffers(lengths)
            for tag, buffer in enumerate(buffers):
                _recv_bytes(comm, buffer, r, tag)
            item, failure = _try_load(stream, buffers)
            error = error or failure
            result.append(item)
    else:
        for tag, buffer in enumerate(payload.buffers):
            _send_bytes(comm, buffer, root, tag)
        result = None
    if not headers.all_plain():
        guard.agree(comm, "gather", error, TransportError)
    return result


def allgather(obj: Any, comm: Any = None) -> list[Any]:
    """Collect one object from every rank on every rank, as a list in rank order.

    Raises ``TransportError`` on every rank if any rank's object cannot be serialized or
    loaded.

    Example::

        owners = allgather(set(my_gids))
    """
    return _allgather(obj, comm, "allgather")


def _allgather(obj: Any, comm: Any, op: str, extra_error: BaseException | None = None) -> list[Any]:
    """``allgather`` named ``op`` in fingerprints and errors; ``extra_error`` fails it."""
    comm = default_comm() if comm is None else comm
    if _size(comm) == 1:
        _serial_check(op, extra_error or _serialize(obj)[1], TransportError)
        return [obj]
    rank = comm.Get_rank()
    headers, payload, blob = _exchange_contribution(comm, op, obj, -1, extra_error)
    blobs = _blobs_v(comm, headers, blob, None)
    result, error = [], None
    for r, h in enumerate(headers):
        if r == rank:
            _bcast_buffers(comm, payload.buffers, r)
            result.append(obj)
            continue
        lengths, stream = _split_blob(blobs[r], h.nbufs)
        buffers = _receive_buffers(lengths)
        _bcast_buffers(comm, buffers, r)
        item, failure = _try_load(stream, buffers)
        error = error or failure
        result.append(item)
    if not headers.all_plain():
        guard.agree(comm, op, error, TransportError)
    return result


def scatter(seq: Sequence[Any] | None, root: int = 0, comm: Any = None) -> Any:
    """Send item i of ``seq`` (given on ``root``, one item per rank) to rank i.

    Raises ``TransportError`` on every rank if ``seq`` has the wrong length or an item
    cannot be serialized or loaded.

    Example::

        my_gids = scatter(np.array_split(all_gids, size) if rank == 0 else None)
    """
    comm = default_comm() if comm is None else comm
    size = _size(comm)
    rank = 0 if comm is None else comm.Get_rank()
    payloads: list[Payload] = []
    error = None
    if rank == root:
        try:
            items = list(seq)  # type: ignore[arg-type]
            if len(items) != size:
                raise ValueError(f"scatter needs one item per rank ({size}), got {len(items)}")
            payloads = [dumps(item) for item in items]
        except Exception as exc:
            error = exc
    error = _root_error(root, size) or error
    if size == 1:
        _serial_check("scatter", error, TransportError, root)
        return items[0]
    plain = all(p.plain for p in payloads)
    headers = guard.exchange(
        comm, "scatter", root, plain=plain, error=error, error_class=TransportError,
    )  # fmt: skip
    shape = np.zeros(2, dtype=np.int64)
    if rank == root:
        blobs = [_blob(p) for p in payloads]
        shapes = np.array([[len(b), len(p.buffers)] for b, p in zip(blobs, payloads)], np.int64)
        comm.Scatter(shapes, shape, root)
        counts = shapes[:, 0].tolist()
        displs = [0, *itertools.accumulate(counts[:-1])]
        comm.Scatterv([b"".join(blobs), counts, displs, _byte()], _empty(shape[0]), root)
        for dest, p in enumerate(payloads):
            if dest != root:
                for tag, buffer in enumerate(p.buffers):
                    _send_bytes(comm, buffer, dest, tag)
        result, error = items[root], None
    else:
        comm.Scatter(None, shape, root)
        blob = _empty(int(shape[0]))
        comm.Scatterv(None, blob, root)
        lengths, stream = _split_blob(blob, int(shape[1]))
        buffers = _receive_buffers(lengths)
        for tag, buffer in enumerate(buffers):
            _recv_bytes(comm, buffer, root, tag)
        result, error = _try_load(stream, buffers)
    if not headers[root].plain:
        guard.agree(comm, "scatter", error, TransportError)
    return result


def _elementwise(scalar: Callable[[Any, Any], Any], array: Callable[[Any, Any], Any]):
    def apply(a: Any, b: Any) -> Any:
        return (
            array(a, b) if isinstance(a, np.ndarray) or isinstance(b, np.ndarray) else scalar(a, b)
        )

    return apply


REDUCTIONS: dict[str, Callable[[Any, Any], Any]] = {
    "sum": operator.add,
    "prod": operator.mul,
    "min": _elementwise(min, np.minimum),
    "max": _elementwise(max, np.maximum),
    "land": _elementwise(lambda a, b: bool(a and b), np.logical_and),
    "lor": _elementwise(lambda a, b: bool(a or b), np.logical_or),
    "band": operator.and_,
    "bor": operator.or_,
}


def allreduce(value: Any, op: str | Callable[[Any, Any], Any] = "sum", comm: Any = None) -> Any:
    """Combine one value per rank with ``op`` and return the result on every rank.

    ``op`` is ``"sum"``, ``"prod"``, ``"min"``, ``"max"``, ``"land"``, ``"lor"``,
    ``"band"``, ``"bor"`` (bitwise, on integers) or a function of two values; values are
    combined in rank order, so every rank gets the identical result. numpy arrays combine
    elementwise.

    Raises ``TransportError`` on every rank if a rank's ``op`` is unknown or its value
    cannot be sent.

    Example::

        total_spikes = allreduce(len(my_spikes), "sum")
    """
    reduce_pair = REDUCTIONS.get(op) if isinstance(op, str) else op
    error = None
    if not callable(reduce_pair):
        error = ValueError(
            f"unknown reduction {op!r}; use one of {sorted(REDUCTIONS)} or a function"
        )
    values = _allgather(value, comm, "allreduce", error)
    return functools.reduce(reduce_pair, values)


def barrier(comm: Any = None) -> None:
    """Wait until every rank arrives (guarded: mismatches and timeouts are reported).

    Example::

        barrier()   # every rank has written its part of the output
    """
    comm = default_comm() if comm is None else comm
    if _size(comm) > 1:
        guard.exchange(comm, "barrier")


class collective(ContextDecorator):
    """Make a block of code collective: if any rank raises inside it, every rank raises
    at its end. The failing rank re-raises its own exception; the others raise
    ``RemoteRankError`` naming the failing ranks. Also usable as a decorator.

    Example::

        with collective():
            cells = build_my_cells()   # a failure on any rank is raised on all
    """

    def __init__(self, comm: Any = None):
        self.comm = comm

    def __enter__(self) -> collective:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        comm = default_comm() if self.comm is None else self.comm
        if _size(comm) == 1 or (exc is not None and not isinstance(exc, Exception)):
            return False
        try:
            guard.exchange(comm, "collective", error=exc, error_class=RemoteRankError)
        except RemoteRankError as remote:
            if exc is None:
                raise
            if hasattr(exc, "add_note"):
                exc.add_note(str(remote))
        return False
