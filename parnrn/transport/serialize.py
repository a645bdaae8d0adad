"""Serialization for parnrn's transport: pickle protocol 5 with out-of-band buffers.

``dumps`` turns an object into a small pickle *stream* plus a list of large contiguous
*buffers* (numpy arrays and other protocol-5 buffer providers, 256 KiB and up), which
travel as raw MPI buffers without being copied. Anything pickle cannot handle by reference
(lambdas, closures, locally defined classes) goes through cloudpickle.

Objects made only of builtin containers and scalars (dict, list, tuple, set, str, bytes,
int, float, bool, None) are pickled by the C pickler directly: the bytes are the same as
cloudpickle's, it is several times cheaper for small messages, and such a stream needs no
import to load, so it cannot fail on another rank (``Payload.plain``). A bare numpy array
of a builtin dtype is not pickled at all: its stream is a short descriptor (dtype and
shape, then the data when small), which costs a fraction of pickle's round trip and is
plain too.
"""

from __future__ import annotations

import io
import pickle
import struct
import threading
from typing import Any

import cloudpickle
import numpy as np

PROTOCOL = 5
# The first byte of an array descriptor: a pickle stream of protocol 2 and up starts with
# PROTO (0x80), and builtin data is always pickled at PROTOCOL.
_ARRAY = 0
_ARRAY_KINDS = frozenset("biufcmMSU")  # dtypes that dtype.str describes completely
# Below this a buffer is copied into the stream: one more message would cost more.
OUT_OF_BAND_THRESHOLD = 256 * 1024


class Payload:
    """A serialized object: its pickle stream, its out-of-band buffers, and whether the
    stream holds only builtin data (so loading it cannot fail on any rank)."""

    __slots__ = ("stream", "buffers", "plain")

    def __init__(self, stream: bytes, buffers: list[memoryview], plain: bool):
        self.stream = stream
        self.buffers = buffers
        self.plain = plain


class _NotPlainData(Exception):
    pass


class _PlainDataPickler(pickle.Pickler):
    """The C pickler, refusing anything but builtin containers and scalars.

    The C pickler asks ``reducer_override`` about every object except exact instances of
    the builtin types, so any other object ends the attempt.
    """

    def reducer_override(self, obj: Any) -> Any:
        raise _NotPlainData


class _ReusedPlainPickler(threading.local):
    """One plain-data pickler per thread: building a pickler costs more than a small dump."""

    def __init__(self) -> None:
        self.file = io.BytesIO()
        self.pickler = _PlainDataPickler(self.file, PROTOCOL)

    def dumps(self, obj: Any) -> bytes:
        file, pickler = self.file, self.pickler
        file.seek(0)
        file.truncate()
        pickler.clear_memo()
        pickler.dump(obj)
        stream = file.getvalue()
        if len(stream) > OUT_OF_BAND_THRESHOLD:
            self.__init__()  # do not keep a large buffer alive
        return stream


_plain = _ReusedPlainPickler()


class _Busy(threading.local):
    """What this thread is pickling or unpickling for a collective, if anything: user code
    run by pickle (``__reduce__``, ``__setstate__``) must not start another collective."""

    what: str | None = None


_busy = _Busy()


def busy_with() -> str | None:
    """``"pickling"`` or ``"unpickling"`` while this thread runs pickle on user objects.

    Example::

        if busy_with():
            raise ParallelError("a collective inside __reduce__")
    """
    return _busy.what


def _describable(obj: np.ndarray) -> bool:
    """Whether the bare numpy array ``obj`` is C-contiguous, of a builtin dtype."""
    if not obj.flags.c_contiguous:
        return False
    dtype = obj.dtype
    return dtype.kind in _ARRAY_KINDS and dtype.fields is None and dtype.itemsize > 0


def _array_payload(array: np.ndarray, in_band_limit: int) -> Payload:
    """The descriptor stream of a bare array (kind byte, dtype string, shape), followed by
    the data when the two fit in ``in_band_limit`` bytes; otherwise the data goes out of
    band, not copied."""
    key = (array.dtype, array.shape)
    head = _heads.get(key)
    if head is None:
        if len(_heads) > 1024:  # shapes vary without end in some programs
            _heads.clear()
        dtype = array.dtype.str.encode()
        shape = _shape_struct(array.ndim).pack(array.ndim, *array.shape)
        head = _heads[key] = bytes((_ARRAY, len(dtype))) + dtype + shape
    if len(head) + array.nbytes <= in_band_limit:
        return Payload(head + array.tobytes(), [], True)
    return Payload(head, [array_bytes(array)], True)


def array_bytes(array: np.ndarray) -> memoryview:
    """The bytes of a C-contiguous array, as one flat buffer (no copy).

    Example::

        comm.Bcast(array_bytes(values), 0)
    """
    if array.dtype.kind in "mM":  # datetimes have no buffer protocol: their bytes do
        array = array.reshape(-1).view(np.uint8)
    return memoryview(array).cast("B")


def is_array(stream: Any) -> bool:
    """Whether ``stream`` (from ``dumps``) describes a bare array."""
    return stream[0] == _ARRAY


def empty_array(stream: Any) -> np.ndarray:
    """A new, uninitialized array of the layout an array descriptor ``stream`` gives (its
    data to be received into ``array_bytes`` of it).

    Example::

        array = empty_array(stream)
        comm.Bcast(array_bytes(array), root)
    """
    layout = _layouts.get(bytes(stream))  # the stream is the descriptor head alone
    dtype, shape, _ = layout if layout is not None else _layout(stream)
    return np.empty(shape, dtype)


_heads: dict[tuple, bytes] = {}  # descriptor heads by (dtype, shape)
_layouts: dict[bytes, tuple[np.dtype, tuple, int]] = {}  # (dtype, shape) by descriptor head
_shape_structs: dict[int, struct.Struct] = {}


def _shape_struct(ndim: int) -> struct.Struct:
    """``ndim`` (one byte) and the shape (int64 each): cached, as parsing a format costs
    more than packing."""
    packer = _shape_structs.get(ndim)
    if packer is None:
        packer = _shape_structs[ndim] = struct.Struct(f"<B{ndim}q")
    return packer


def _layout(stream: Any) -> tuple[np.dtype, tuple, int]:
    """The dtype and shape an array descriptor gives, and where its in-band data starts."""
    view = stream if type(stream) is bytes else memoryview(stream).cast("B")
    ndim_at = 2 + view[1]
    data_at = ndim_at + 1 + 8 * view[ndim_at]
    head = bytes(view[:data_at])
    layout = _layouts.get(head)
    if layout is None:
        if len(_layouts) > 1024:
            _layouts.clear()
        dtype = np.dtype(bytes(view[2:ndim_at]).decode())
        shape = _shape_struct(view[ndim_at]).unpack_from(view, ndim_at)[1:]
        layout = _layouts[head] = (dtype, shape, data_at)
    return layout


def _load_array(stream: Any, buffers: list[Any] | None) -> np.ndarray:
    """The array an ``_array_payload`` describes; on a received buffer, without a copy."""
    dtype, shape, data_at = _layout(stream)
    if buffers:
        return np.frombuffer(buffers[0], dtype).reshape(shape)
    data = memoryview(stream).cast("B")[data_at:]
    return np.frombuffer(data, dtype).copy().reshape(shape)


def plain_stream(obj: Any) -> bytes | None:
    """The pickle stream of ``obj`` if it is builtin data (``Payload.plain``), else None;
    no user code runs either way.

    Example::

        stream = plain_stream({"seed": 1})   # bytes: loading it imports nothing
    """
    try:
        return _plain.dumps(obj)
    except _NotPlainData:
        _plain.file.truncate(0)
        return None


def dumps(obj: Any, array_in_band: int = OUT_OF_BAND_THRESHOLD) -> Payload:
    """Serialize ``obj``; large buffers are returned out of band, not copied. A bare array
    travels in band only when its descriptor and data fit in ``array_in_band`` bytes (a
    broadcast asks for what fits in its agreement: anything larger moves best as one
    buffer straight into the receiver's array)."""
    if type(obj) is np.ndarray and _describable(obj):
        return _array_payload(obj, array_in_band)
    stream = plain_stream(obj)
    if stream is not None:
        return Payload(stream, [], True)
    buffers: list[memoryview] = []

    def keep_out_of_band(buffer: pickle.PickleBuffer) -> bool:
        view = buffer.raw()
        if view.nbytes < OUT_OF_BAND_THRESHOLD:
            return True
        buffers.append(view)
        return False

    if type(obj) is np.ndarray and not obj.dtype.hasobject:
        # A bare array refers only to numpy's own functions: pickle's references are
        # cloudpickle's too, and the C pickler is several times faster for small arrays.
        stream = pickle.dumps(obj, PROTOCOL, buffer_callback=keep_out_of_band)
        return Payload(stream, buffers, False)
    busy, _busy.what = _busy.what, "pickling"
    try:
        stream = cloudpickle.dumps(obj, protocol=PROTOCOL, buffer_callback=keep_out_of_band)
    finally:
        _busy.what = busy
    return Payload(stream, buffers, False)


def loads_plain(stream: bytes | memoryview) -> Any:
    """Load a stream that ``dumps`` marked plain and that has no buffers: no user code
    runs (builtin data, or an array descriptor)."""
    if stream[0] == _ARRAY:
        return _load_array(stream, None)
    return pickle.loads(stream)


def loads(stream: bytes | memoryview, buffers: list[Any] | None = None) -> Any:
    """Rebuild an object from its stream and out-of-band buffers (which it may keep)."""
    if stream[0] == _ARRAY:
        return _load_array(stream, buffers)
    busy, _busy.what = _busy.what, "unpickling"
    try:
        if not buffers:
            return pickle.loads(stream)  # measurably cheaper than passing buffers=[]
        return pickle.loads(stream, buffers=buffers)
    finally:
        _busy.what = busy
