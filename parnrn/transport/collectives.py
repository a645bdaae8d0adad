"""Object collectives over mpi4py: broadcast, gather, allgather, scatter, barrier.

Every call first agrees (``guard.agree``, fixed-size whatever the number of ranks): the same
exception is raised on every rank when a rank could not serialize its part or the ranks are
not in the same call. A small broadcast rides inline in the agreement; larger payloads
follow as one *blob* per rank (the lengths of its out-of-band buffers, then its pickle
stream) and the buffers themselves, sent as raw bytes with no copy. Only a gather's root
receives the sizes of every rank (one ``Gather``). If an object that needs imports to load
fails to load on some rank, ``guard.confirm`` makes every rank raise; builtin data, whose
loading can fail only for want of memory, raises on the rank where it failed: never a value
in place of the data.

``comm`` defaults to parnrn's own duplicate of the world communicator. With one rank (or no
mpi4py) calls return at once, after the same serialization checks, so the same errors occur.
On the sending side the object itself is returned, not a copy.
"""

from __future__ import annotations

import functools
import itertools
import struct
from collections.abc import Sequence
from contextlib import ContextDecorator
from typing import Any

import numpy as np

from .. import runtime
from ..errors import (
    BroadcastError,
    CollectiveMismatchError,
    ParallelError,
    RankLostError,
    RemoteRankError,
    TransportError,
    describe_failures,
    error_record,
)
from ..ranks import rank_tag
from . import guard
from .serialize import (
    Payload,
    array_bytes,
    dumps,
    empty_array,
    is_array,
    loads,
    loads_plain,
    plain_stream,
)

# Bytes per MPI call of a large buffer: under 2 GiB counts with any MPI library, and small
# enough that a rank that cannot allocate its receive buffer can drain the data through a
# scratch buffer of this size, keeping the others in step (the per-call cost is < 1 %).
_CHUNK = 1 << 24


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


def _lengths_struct(nbufs: int) -> struct.Struct:
    packer = _lengths_structs.get(nbufs)
    if packer is None:
        packer = _lengths_structs[nbufs] = struct.Struct(f"<{nbufs}q")
    return packer


_lengths_structs: dict[int, struct.Struct] = {}


def _blob(payload: Payload | None) -> bytes:
    if payload is None:
        return b""
    buffers = payload.buffers
    if not buffers:  # the common case: the stream is the blob
        return payload.stream
    lengths = [b.nbytes for b in buffers]
    return _lengths_struct(len(lengths)).pack(*lengths) + payload.stream


def _split_blob(blob: Any, nbufs: int) -> tuple[list[int], memoryview]:
    view = memoryview(blob).cast("B")
    if not nbufs:
        return [], view
    return list(_lengths_struct(nbufs).unpack_from(view)), view[8 * nbufs :]


def _chunks(buffer: Any) -> list[Any]:
    view = memoryview(buffer).cast("B")
    if len(view) <= _CHUNK:
        return [view]
    return [view[i : i + _CHUNK] for i in range(0, len(view), _CHUNK)]


def _chunk_lengths(nbytes: int) -> list[int]:
    """The lengths of ``_chunks`` of an ``nbytes`` buffer."""
    return [min(_CHUNK, nbytes - i) for i in range(0, nbytes, _CHUNK)] or [0]


def _empty(nbytes: int) -> np.ndarray:
    return np.empty(nbytes, dtype=np.uint8)


def _empty_or_lost(nbytes: int, op: str, comm: Any) -> np.ndarray:
    """A receive buffer for a one-call collective (``Gatherv`` and the like), which cannot
    be drained piecewise: without it this rank cannot take part, and the others would
    wait in the call forever."""
    try:
        return _empty(nbytes)
    except MemoryError as exc:
        raise RankLostError(
            f"{rank_tag(comm.Get_rank(), comm.Get_size())} {op}: out of memory allocating "
            f"{nbytes} bytes to receive into; the other ranks are inside the {op} and would "
            f"wait for this one forever"
        ) from exc


_ALIGN = 64


def _receive_buffers(lengths: list[int]) -> list[np.ndarray]:
    """Buffers of the given lengths, carved from one allocation, each 64-byte aligned.

    One large allocation gets huge pages from numpy; many separate ones would each be
    faulted in 4 KiB at a time, which costs more than moving the data. The arrays rebuilt
    from these buffers keep the whole allocation alive together.
    """
    if len(lengths) < 2:  # numpy's own alignment serves one buffer
        return [_empty(length) for length in lengths]
    starts = [0]
    for length in lengths:
        starts.append(starts[-1] + -(-length // _ALIGN) * _ALIGN)
    arena = _empty(starts[-1] + _ALIGN)
    offset = -arena.__array_interface__["data"][0] % _ALIGN
    return [arena[offset + a : offset + a + n] for a, n in zip(starts, lengths)]


# Every data phase is a non-blocking call completed by ``guard.complete``: polled like the
# agreement, so that signals act and the timeout bounds it (as fast as the blocking calls).


def _bcast_bytes(comm: Any, buffer: Any, root: int, op: str = "broadcast") -> None:
    for chunk in _chunks(buffer):
        guard.complete(comm, comm.Ibcast(chunk, root), op, root)


def _bcast_array(comm: Any, array: np.ndarray, root: int, op: str = "broadcast") -> None:
    """Broadcast a C-contiguous array's bytes into the same layout on every rank. An
    array of one chunk goes as ``[array, BYTE]``: mpi4py reads its buffer directly, ~0.7 us
    cheaper than building a byte view of it and chunking that."""
    if array.nbytes <= _CHUNK and array.dtype.kind not in "mM":  # datetimes: no buffer
        guard.complete(comm, comm.Ibcast([array, _byte()], root), op, root)
    else:
        _bcast_bytes(comm, array_bytes(array), root, op)


def _bcast_buffers(comm: Any, buffers: list[Any], root: int, op: str = "broadcast") -> None:
    # One Bcast per buffer: MPICH moves an hindexed datatype over the same buffers
    # several times slower than separate contiguous messages.
    for buffer in buffers:
        _bcast_bytes(comm, buffer, root, op)


def _send_bytes(comm: Any, buffer: Any, dest: int, tag: int, op: str) -> None:
    for chunk in _chunks(buffer):
        guard.complete(comm, comm.Isend(chunk, dest, tag), op)


def _recv_bytes(comm: Any, chunk: Any, source: int, tag: int, op: str) -> None:
    guard.complete(comm, comm.Irecv(chunk, source, tag), op)


def _drain(comm: Any, lengths: list[int], move: Any, op: str) -> bytes:
    """Take part in the data movement of buffers of ``lengths`` without keeping them, after
    their allocation failed: each chunk lands in one scratch buffer (``move(n, chunk)``
    receives a chunk of buffer ``n``). Returns the first bytes of the first buffer (up to
    a chunk), where a blob keeps its buffer lengths."""
    scratch = _empty_or_lost(min(_CHUNK, max(lengths, default=0)), op, comm)
    head = b""
    for n, length in enumerate(lengths):
        for chunk in _chunk_lengths(length):
            move(n, scratch[:chunk])
            if n == 0 and not head:
                head = scratch[:chunk].tobytes()
    return head


def _out_of_memory(exc: MemoryError, nbytes: int) -> MemoryError:
    error = MemoryError(f"out of memory allocating {nbytes} bytes to receive into")
    error.__cause__ = exc
    return error


def _receive_from(
    comm: Any, blob: Any, nbufs: int, move: Any, op: str
) -> tuple[Any, list[Any], BaseException | None]:
    """Receive the buffers a blob announces, through ``move(n, chunk)`` (one MPI call per
    chunk of buffer ``n``). Returns (stream, buffers, None), or (None, [], MemoryError)
    when they could not be allocated: they were drained then, and the others went on."""
    lengths, stream = _split_blob(blob, nbufs)
    try:
        buffers = _receive_buffers(lengths)
    except MemoryError as exc:
        _drain(comm, lengths, move, op)
        return None, [], _out_of_memory(exc, sum(lengths))
    for n, buffer in enumerate(buffers):
        for chunk in _chunks(buffer):
            move(n, chunk)
    return stream, buffers, None


def _try_load(stream: Any, buffers: list[Any]) -> tuple[Any, BaseException | None]:
    try:
        return loads(stream, buffers), None
    except Exception as exc:
        return None, exc


def _root_error(root: Any, size: int) -> Exception | None:
    """The error of a ``root`` that is not a rank, or None."""
    if type(root) is int and 0 <= root < size:  # the common case, first
        return None
    if isinstance(root, bool) or not isinstance(root, (int, np.integer)):
        return TypeError(f"root must be a rank number (an int), not {root!r}")
    if 0 <= root < size:
        return None
    return ValueError(f"root {root} is not a rank of this {size}-rank communicator")


def _local_load_error(
    comm: Any, op: str, error: BaseException, error_class: type[ParallelError]
) -> ParallelError:
    """This rank could not receive (out of memory) or load builtin data; the others have
    returned."""
    rank = comm.Get_rank()
    failures = {rank: error_record(error)}
    message = (
        f"{rank_tag(rank, comm.Get_size())} {op} failed on {describe_failures(failures)} "
        f"(receiving or loading its data; the other ranks have returned)"
    )
    exc = error_class(message, failures)
    exc.__cause__ = error
    return exc


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


# A bare array's blob (its byte length and descriptor), by (dtype, shape), on the root; the
# layout a blob announces, on the receivers: the second broadcast of a layout skips dumps
# and the descriptor's parsing (a few microseconds, most of a small array's cost).
_array_blobs: dict[tuple, bytes] = {}
_array_layouts: dict[bytes, tuple] = {}
_LAYOUTS_KEPT = 1024
# The last blob a receiver found there, and its layout: comparing the agreement's bytes with
# it costs less than copying them to look them up (programs repeat one layout).
_last_layout: list = [b"", None]


def _remember_layout(cache: dict, key: Any, value: Any) -> None:
    if len(cache) >= _LAYOUTS_KEPT:  # programs whose shapes never repeat
        cache.clear()
    cache[key] = value


def _array_blob(obj: Any) -> bytes | None:
    """The blob of a bare array that travels as one out-of-band buffer; None for anything
    else (it goes through ``dumps``)."""
    if type(obj) is not np.ndarray or not obj.flags.c_contiguous:
        return None
    key = (obj.dtype, obj.shape)
    blob = _array_blobs.get(key)
    if blob is None:
        payload = dumps(obj, guard.INLINE_CAPACITY)
        one_buffer = payload.plain and len(payload.buffers) == 1
        blob = _blob(payload) if one_buffer else b""  # b"": not this way, for this layout
        _remember_layout(_array_blobs, key, blob)
    return blob or None


def _known_array(blob: memoryview) -> np.ndarray | None:
    """A new array of the layout a bare array's ``blob`` announces, if seen before; None
    otherwise, or without the memory for it (the general path drains)."""
    last_blob, layout = _last_layout
    if blob != last_blob:
        layout = _array_layouts.get(bytes(blob))
        if layout is None:
            return None
        _last_layout[:] = bytes(blob), layout
    try:
        return np.empty(layout[1], layout[0])
    except MemoryError:
        return None


def _broadcast_blob(obj: Any) -> tuple[Any, list[Any], bool, BaseException | None]:
    """What the root of a broadcast sends: (blob, buffers, whether loading it needs a
    confirmation, the error serializing it). Builtin data skip the ``Payload``."""
    try:
        stream = None if type(obj) is np.ndarray else plain_stream(obj)
        if stream is not None:
            return stream, [], False, None
        payload = dumps(obj, guard.INLINE_CAPACITY)
    except Exception as exc:
        return b"", [], False, exc
    return _blob(payload), payload.buffers, not payload.plain, None


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
    error = _root_error(root, size)
    is_root = error is None and rank == root
    blob, buffers, confirm, nbufs = b"", [], False, 0
    if is_root:
        blob = _array_blob(obj)
        if blob is not None:  # a bare array: its data follow in one buffer, the array
            nbufs = 1
        else:
            blob, buffers, confirm, error = _broadcast_blob(obj)
            nbufs = len(buffers)
    if size == 1:
        _serial_check("broadcast", error, BroadcastError, root)
        return obj
    agreed = guard.agree(
        comm, "broadcast", root, blob=blob, nbufs=nbufs, confirm=confirm, error=error,
        error_class=BroadcastError,
    )  # fmt: skip
    if is_root:
        if len(blob) > guard.INLINE_CAPACITY:
            _bcast_bytes(comm, blob, root)
        if buffers:
            _bcast_buffers(comm, buffers, root)
        elif nbufs:
            _bcast_array(comm, obj, root)
        if agreed.confirm:
            guard.confirm(comm, "broadcast", None, BroadcastError, root)
        return obj
    nbufs, whole = agreed.nbufs, agreed.whole_inline()
    if whole and nbufs == 0 and not agreed.confirm:  # the common small case: builtin data
        try:
            return loads_plain(agreed.inline)  # no user code runs: nothing to mark
        except Exception as exc:
            raise _local_load_error(comm, "broadcast", exc, BroadcastError) from exc
    if whole and nbufs == 1:  # a bare array seen before
        array = _known_array(agreed.inline)
        if array is not None:
            _bcast_array(comm, array, root)
            return array
    if whole and nbufs == 0:
        result, error = _try_load(agreed.inline, [])
    else:
        result, error = _receive_broadcast(comm, agreed, root)
    _settle(comm, "broadcast", agreed, error, BroadcastError, root)
    return result


def _receive_broadcast(comm: Any, agreed: Any, root: int) -> tuple[Any, BaseException | None]:
    """The root's object from its blob and buffers; (None, MemoryError) when they could not
    be allocated (then drained, so that every rank stays in step)."""

    def move(n: int, chunk: Any) -> None:
        guard.complete(comm, comm.Ibcast(chunk, root), "broadcast", root)

    blob = agreed.inline
    if agreed.nbufs == 1 and agreed.whole_inline() and is_array(blob[8:]):
        try:  # a bare array: received straight into its own memory
            array = empty_array(blob[8:])  # after the buffer's length: the descriptor
        except MemoryError:
            pass  # the general path drains it
        else:
            _remember_layout(_array_layouts, bytes(blob), (array.dtype, array.shape))
            _bcast_array(comm, array, root)
            return array, None
    if not agreed.whole_inline():
        try:
            blob = _empty(agreed.blob_len)
        except MemoryError as exc:
            head = _drain(comm, [agreed.blob_len], move, "broadcast")  # starts with lengths
            lengths, _ = _split_blob(head, agreed.nbufs)
            _drain(comm, lengths, move, "broadcast")
            return None, _out_of_memory(exc, agreed.blob_len + sum(lengths))
        _bcast_bytes(comm, blob, root)
    stream, buffers, error = _receive_from(comm, blob, agreed.nbufs, move, "broadcast")
    if error is not None:
        return None, error
    return _try_load(stream, buffers)


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
    layout = None if error else f"{array.dtype.str} {array.shape}"
    guard.agree(
        comm, "broadcast_into", root, error=error, error_class=BroadcastError,
        layout=layout, layout_name="array",
    )  # fmt: skip
    _bcast_array(comm, array, root, "broadcast_into")
    return array


def _sizes_of(blob: Any, payload: Payload | None) -> np.ndarray:
    """What a rank tells the receiver of its blob: its length and its buffer count."""
    return np.array([len(blob), len(payload.buffers) if payload else 0], dtype=np.int64)


def _displacements(counts: list[int]) -> list[int]:
    return [0, *itertools.accumulate(counts[:-1])]


def _settle(
    comm: Any, op: str, agreed: Any, error: Any, error_class: type[ParallelError], root: int = -1
) -> None:
    """After loading: when the payload needs it, every rank learns whether any rank failed
    to load; otherwise a rank that failed (builtin data, out of memory) raises alone."""
    if agreed.confirm:
        guard.confirm(comm, op, error, error_class, root)
    elif error is not None:
        raise _local_load_error(comm, op, error, error_class)


def _load_every_rank(
    comm: Any,
    obj: Any,
    received: Any,
    counts: list[int],
    sizes: np.ndarray,
    move: Any,
    own: Any = None,
) -> tuple[list[Any], BaseException | None]:
    """Every rank's object in rank order, from the blobs in ``received`` (``counts`` bytes
    each) and the buffers ``move(source, n, chunk)`` brings; this rank's own is ``obj``
    (``own()`` runs at its turn). Everything is received before anything is loaded, so
    that a slow load (a ``__setstate__``) never holds up a sender. Returns the objects and
    the first failure to receive or load."""
    rank = comm.Get_rank()
    parts: list[Any] = []
    error = None
    view, start = memoryview(received), 0
    for source, count in enumerate(counts):
        part = None
        if source == rank:
            if own is not None:
                own()
        else:

            def from_source(n: int, chunk: Any, source: int = source) -> None:
                move(source, n, chunk)

            blob = view[start : start + count]
            stream, buffers, failure = _receive_from(
                comm, blob, int(sizes[source, 1]), from_source, "gather"
            )
            error = error or failure
            part = None if failure else (stream, buffers)
        parts.append(part)
        start += count
    result = []
    for source, part in enumerate(parts):
        item = obj if source == rank else None
        if part is not None:
            item, failure = _try_load(*part)
            error = error or failure
        result.append(item)
    return result, error


def gather(obj: Any, root: int = 0, comm: Any = None) -> list[Any] | None:
    """Collect one object from every rank: a list in rank order on ``root``, None elsewhere.

    Raises ``TransportError`` on every rank if any rank's object cannot be serialized or
    loaded. Only the root receives anything of the other ranks, sizes included.

    Example::

        counts = gather(len(my_cells), root=0)  # [12, 11, 11] on rank 0
    """
    comm = default_comm() if comm is None else comm
    size = _size(comm)
    root_error = _root_error(root, size)
    payload, error = _serialize(obj)
    error = root_error or error
    if size == 1:
        _serial_check("gather", error, TransportError, root)
        return [obj]
    rank = comm.Get_rank()
    agreed = guard.agree(
        comm, "gather", root, confirm=payload is not None and not payload.plain,
        error=error, error_class=TransportError,
    )  # fmt: skip
    blob = _blob(payload)
    if rank != root:
        guard.complete(comm, comm.Igather(_sizes_of(blob, payload), None, root), "gather", root)
        guard.complete(comm, comm.Igatherv(blob, None, root), "gather", root)
        for tag, buffer in enumerate(payload.buffers):
            _send_bytes(comm, buffer, root, tag, "gather")
        if agreed.confirm:
            guard.confirm(comm, "gather", None, TransportError)
        return None
    sizes = np.empty((size, 2), dtype=np.int64)
    guard.complete(comm, comm.Igather(_sizes_of(blob, payload), sizes, root), "gather", root)
    counts = sizes[:, 0].tolist()
    counts[rank] = 0  # the root keeps its own object
    displs = _displacements(counts)
    received = _empty_or_lost(sum(counts), "gather", comm)
    gathering = comm.Igatherv(b"", [received, counts, displs, _byte()], root)
    guard.complete(comm, gathering, "gather", root)

    def move(source: int, n: int, chunk: Any) -> None:
        _recv_bytes(comm, chunk, source, n, "gather")

    result, error = _load_every_rank(comm, obj, received, counts, sizes, move)
    _settle(comm, "gather", agreed, error, TransportError)
    return result


def allgather(obj: Any, comm: Any = None) -> list[Any]:
    """Collect one object from every rank on every rank, as a list in rank order.

    Raises ``TransportError`` on every rank if any rank's object cannot be serialized or
    loaded.

    Example::

        owners = allgather(set(my_gids))
    """
    comm = default_comm() if comm is None else comm
    payload, error = _serialize(obj)
    if _size(comm) == 1:
        _serial_check("allgather", error, TransportError)
        return [obj]
    size, rank = comm.Get_size(), comm.Get_rank()
    agreed = guard.agree(
        comm, "allgather", confirm=payload is not None and not payload.plain, error=error,
        error_class=TransportError,
    )  # fmt: skip
    blob = _blob(payload)
    sizes = np.empty((size, 2), dtype=np.int64)  # P of them: the result is P objects anyway
    guard.complete(comm, comm.Iallgather(_sizes_of(blob, payload), sizes), "allgather")
    counts = sizes[:, 0].tolist()
    displs = _displacements(counts)
    received = _empty_or_lost(sum(counts), "allgather", comm)
    gathering = comm.Iallgatherv(blob, [received, counts, displs, _byte()])
    guard.complete(comm, gathering, "allgather")

    def move(source: int, n: int, chunk: Any) -> None:
        guard.complete(comm, comm.Ibcast(chunk, source), "allgather", source)

    def own() -> None:
        _bcast_buffers(comm, payload.buffers, rank, "allgather")

    result, error = _load_every_rank(comm, obj, received, counts, sizes, move, own)
    _settle(comm, "allgather", agreed, error, TransportError)
    return result


@functools.cache
def _byte() -> Any:
    return runtime.start().MPI.BYTE


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
    error = _root_error(root, size)
    if error is None and rank == root:
        try:
            items = list(seq)  # type: ignore[arg-type]
            if len(items) != size:
                raise ValueError(f"scatter needs one item per rank ({size}), got {len(items)}")
            payloads = [dumps(item) for item in items]
        except Exception as exc:
            error = exc
    if size == 1:
        _serial_check("scatter", error, TransportError, root)
        return items[0]
    agreed = guard.agree(
        comm, "scatter", root, confirm=not all(p.plain for p in payloads), error=error,
        error_class=TransportError,
    )  # fmt: skip
    shape = np.zeros(2, dtype=np.int64)
    if rank == root:
        blobs = [_blob(p) for p in payloads]
        shapes = np.array([[len(b), len(p.buffers)] for b, p in zip(blobs, payloads)], np.int64)
        guard.complete(comm, comm.Iscatter(shapes, shape, root), "scatter", root)
        counts = shapes[:, 0].tolist()
        sendbuf = [b"".join(blobs), counts, _displacements(counts), _byte()]
        guard.complete(comm, comm.Iscatterv(sendbuf, _empty(shape[0]), root), "scatter", root)
        for dest, p in enumerate(payloads):
            if dest != root:
                for tag, buffer in enumerate(p.buffers):
                    _send_bytes(comm, buffer, dest, tag, "scatter")
        result, error = items[root], None
    else:
        guard.complete(comm, comm.Iscatter(None, shape, root), "scatter", root)
        blob = _empty_or_lost(int(shape[0]), "scatter", comm)
        guard.complete(comm, comm.Iscatterv(None, blob, root), "scatter", root)

        def move(n: int, chunk: Any) -> None:
            _recv_bytes(comm, chunk, root, n, "scatter")

        stream, buffers, error = _receive_from(comm, blob, int(shape[1]), move, "scatter")
        result = None
        if error is None:
            result, error = _try_load(stream, buffers)
    _settle(comm, "scatter", agreed, error, TransportError)
    return result


def same_on_every_rank(description: str, what: str, comm: Any = None) -> None:
    """Raise ``ParallelError`` on every rank, naming each rank's ``description`` that
    differs from rank 0's, unless every rank passes the same. Costs one fixed-size
    agreement; ``what`` names the step in messages.

    Example::

        same_on_every_rank(f"tstop={tstop} dt={h.dt}", "run")
        # ParallelError: [rank 0/2] run failed on rank 1: ValueError: its run is
        # tstop=50.0 dt=0.025, rank 0's tstop=100.0 dt=0.025
    """
    comm = default_comm() if comm is None else comm
    if _size(comm) > 1:
        guard.agree(comm, what, layout=description, layout_name=what)


def barrier(comm: Any = None) -> None:
    """Wait until every rank arrives (guarded: mismatches and timeouts are reported).

    Example::

        barrier()   # every rank has written its part of the output
    """
    comm = default_comm() if comm is None else comm
    if _size(comm) > 1:
        guard.agree(comm, "barrier")


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
        if getattr(exc, "ended_block", False):  # an inner call already agreed for us
            return False
        if exc is not None and guard.gave_up(comm):
            return False  # its agreement would only be refused: the block's own error stands
        try:
            guard.agree(comm, guard.BLOCK_END, error=exc, error_class=RemoteRankError)
        except (RemoteRankError, CollectiveMismatchError) as remote:
            inner = isinstance(remote, CollectiveMismatchError) and exc is not None
            if exc is None or (inner and not _others_inside_the_block(remote)):
                raise
            if hasattr(exc, "add_note"):
                exc.add_note(str(remote))
        return False


def _others_inside_the_block(mismatch: CollectiveMismatchError) -> bool:
    """Whether some ranks wait in a call inside the block: they learn there that this rank
    failed, and leave the block without agreeing again (``guard`` marks their error)."""
    return any(op != guard.BLOCK_END for op, *_ in mismatch.where.values())
