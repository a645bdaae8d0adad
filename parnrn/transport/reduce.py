"""``allreduce``: combine one value per rank, in O(size) memory per rank.

After the agreement (which also tells whether every rank holds the same kind of value),
numbers and numeric numpy arrays with a built-in operation go through ``comm.Allreduce``
with the matching MPI operation: O(log P) messages of the value's size, and the identical
result on every rank. Anything else (other objects, numpy scalars, user functions, ranks
whose values differ in kind) is combined along a binomial tree towards rank 0, then
broadcast: O(log P) steps, each rank holding at most two values at a time. A failure on any
rank, in its value or in the function, raises the same ``TransportError`` on every rank.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import runtime
from ..errors import BroadcastError, TransportError, describe_failures, error_record
from ..ranks import rank_tag
from . import guard
from .collectives import _serial_check, _serialize, broadcast, default_comm
from .serialize import dumps, loads


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
_MPI_OPS = {
    "sum": "SUM",
    "prod": "PROD",
    "min": "MIN",
    "max": "MAX",
    "land": "LAND",
    "lor": "LOR",
    "band": "BAND",
    "bor": "BOR",
}
# Python ints this small cannot overflow int64 in a sum over any number of ranks MPI allows.
_SMALL_INT = 2**31
_INT, _FLOAT = 1, 2  # the agreed "value": a float on any rank makes the sum a float
_TREE_TAG = 7201  # the tree's point-to-point messages, apart from the user's


def _mpi_layout(value: Any, op: str) -> tuple[str, int] | None:
    """How ``value`` can be reduced with MPI's ``op``: (layout every rank must share, kind),
    or None when it must go along the tree."""
    kind = type(value)
    if kind is int and op != "prod" and -_SMALL_INT < value < _SMALL_INT:
        return "number", _INT
    if kind is float and op not in ("band", "bor"):
        return "number", _FLOAT
    if kind is np.ndarray and value.dtype.kind in "iuf":
        if op in ("band", "bor") and value.dtype.kind == "f":
            return None
        return f"array {value.dtype.str} {value.shape}", 0
    return None


def allreduce(value: Any, op: str | Callable[[Any, Any], Any] = "sum", comm: Any = None) -> Any:
    """Combine one value per rank with ``op`` and return the result on every rank.

    ``op`` is ``"sum"``, ``"prod"``, ``"min"``, ``"max"``, ``"land"``, ``"lor"``,
    ``"band"``, ``"bor"`` (bitwise, on integers) or a function of two values; numpy arrays
    combine elementwise. Every rank gets the identical result. Python ints and floats and
    numeric arrays of the same dtype and shape on every rank go through MPI's own
    reduction (a float on any rank makes a sum a float); anything else is combined along
    a binomial tree in rank order, ``op(op(v0, v1), op(v2, v3))`` for four ranks: for an
    associative ``op`` the same as combining left to right.

    Raises ``TransportError`` on every rank if a rank's ``op`` is unknown, its value
    cannot be sent, or ``op`` fails on any rank.

    Example::

        total_spikes = allreduce(len(my_spikes), "sum")
    """
    comm = default_comm() if comm is None else comm
    combine = REDUCTIONS.get(op) if isinstance(op, str) else op
    error = None
    if not callable(combine):
        error = ValueError(
            f"unknown reduction {op!r}; use one of {sorted(REDUCTIONS)} or a function"
        )
    via_mpi = _mpi_layout(value, op) if error is None and isinstance(op, str) else None
    if comm is None or comm.Get_size() == 1:
        _serial_check("allreduce", error or (None if via_mpi else _serialize(value)[1]),
                      TransportError)  # fmt: skip
        return value
    layout, kind = via_mpi if via_mpi is not None else ("along the tree", 0)
    agreed = guard.agree(
        comm, "allreduce", error=error, error_class=TransportError, layout=layout,
        layout_must_match=False, value=kind,
    )  # fmt: skip
    if agreed.same_layout and via_mpi is not None:
        return _mpi_allreduce(value, op, agreed.value, comm)
    return _tree_allreduce(value, combine, comm)


def allreduce_into(array: np.ndarray, op: str = "sum", comm: Any = None) -> np.ndarray:
    """Combine ``array`` elementwise across ranks with MPI's ``op``, in place, at raw
    ``comm.Allreduce`` speed: every rank passes a writable C-contiguous numeric array of
    the same dtype and shape (allocated once and reused) and gets the result in it.
    Raises ``TransportError`` on every rank, before any data moves, if a rank's array or
    ``op`` does not fit.

    Example::

        rates = np.zeros(ncell)
        rates[my_gids] = my_rates
        allreduce_into(rates)   # every rank now has every cell's rate
    """
    comm = default_comm() if comm is None else comm
    error = None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "iuf":
        error = TypeError(f"allreduce_into needs a numeric numpy array, not {array!r:.60}")
    elif not (array.flags.c_contiguous and array.flags.writeable):
        error = ValueError("allreduce_into needs a writable C-contiguous array")
    elif op not in _MPI_OPS or op in ("land", "lor"):
        error = ValueError(f"allreduce_into takes sum, prod, min, max, band or bor, not {op!r}")
    elif op in ("band", "bor") and array.dtype.kind == "f":
        error = ValueError(f"{op} needs an integer array, not {array.dtype}")
    if comm is None or comm.Get_size() == 1:
        _serial_check("allreduce_into", error, TransportError)
        return array
    layout = None if error else f"{array.dtype.str} {array.shape}"
    guard.agree(
        comm, "allreduce_into", error=error, error_class=TransportError, layout=layout,
        layout_name="array",
    )  # fmt: skip
    MPI = runtime.start().MPI
    reducing = comm.Iallreduce(MPI.IN_PLACE, array, getattr(MPI, _MPI_OPS[op]))
    guard.complete(comm, reducing, "allreduce_into")
    return array


def _mpi_allreduce(value: Any, op: str, kind: int, comm: Any) -> Any:
    MPI = runtime.start().MPI
    mpi_op = getattr(MPI, _MPI_OPS[op])
    if isinstance(value, np.ndarray):
        logical = op in ("land", "lor")
        send = np.ascontiguousarray(value != 0 if logical else value)
        send = send.view(np.uint8) if logical else send
        result = _reduced_copy(comm, send, mpi_op)
        return result.view(bool) if logical else result.reshape(value.shape)
    as_float = kind == _FLOAT
    buffer = np.array([value], dtype=np.float64 if as_float else np.int64)
    guard.complete(comm, comm.Iallreduce(MPI.IN_PLACE, buffer, mpi_op), "allreduce")
    if op in ("land", "lor"):
        return bool(buffer[0])
    return float(buffer[0]) if as_float else int(buffer[0])


# Arrays up to this size are reduced into a kept scratch buffer and copied out: MPI
# libraries register (pin) the memory they receive into, which for a new buffer on every
# call costs more than the copy (1 MB: 1.34 ms into a new buffer, 0.63 ms this way).
_SCRATCH_LIMIT = 16 << 20
_scratch: dict[int, np.ndarray] = {}  # per communicator (one thread uses it at a time)
guard.per_communicator.append(_scratch)


def _reduced_copy(comm: Any, send: np.ndarray, mpi_op: Any) -> np.ndarray:
    """A new array holding ``send`` combined across ranks."""
    if send.nbytes > _SCRATCH_LIMIT:
        result = np.empty_like(send)
        guard.complete(comm, comm.Iallreduce(send, result, mpi_op), "allreduce")
        return result
    scratch = _scratch.get(comm.handle)
    if scratch is None or scratch.dtype != send.dtype or scratch.shape != send.shape:
        scratch = _scratch[comm.handle] = np.empty_like(send)
    guard.complete(comm, comm.Iallreduce(send, scratch, mpi_op), "allreduce")
    return scratch.copy()


class _Failed:
    """What travels up the tree once a rank has failed: every failure so far."""

    def __init__(self, failures: dict[int, tuple[str, str, str]]):
        self.failures = failures


def _tree_allreduce(value: Any, combine: Callable[[Any, Any], Any], comm: Any) -> Any:
    """Combine along a binomial tree to rank 0 in rank order, then broadcast the result."""
    rank, size = comm.Get_rank(), comm.Get_size()
    held: Any = value
    step = 1
    while step < size:
        if rank % (2 * step):  # this rank's block is complete: send it to its partner
            _send_value(comm, held, rank - step, rank)
            break
        if rank + step < size:
            theirs = _receive_value(comm, rank + step, rank)
            held = _combined(held, theirs, combine, rank)
        step *= 2
    if rank != 0:
        held = None
    try:
        result = broadcast(held, 0, comm)
    except BroadcastError as exc:  # the result itself cannot be sent
        raise TransportError(str(exc), exc.failures) from exc
    if isinstance(result, _Failed):
        message = f"allreduce failed on {describe_failures(result.failures)}"
        raise TransportError(f"{rank_tag(rank, size)} {message}", result.failures)
    return result


def _combined(mine: Any, theirs: Any, combine: Callable[[Any, Any], Any], rank: int) -> Any:
    if isinstance(mine, _Failed) or isinstance(theirs, _Failed):
        failures = {}
        for held in (mine, theirs):
            if isinstance(held, _Failed):
                failures.update(held.failures)
        return _Failed(failures)
    try:
        return combine(mine, theirs)
    except Exception as exc:
        return _Failed({rank: error_record(exc)})


def _send_value(comm: Any, value: Any, dest: int, rank: int) -> None:
    """Send a value (or a failure) with parnrn's pickling, buffers copied: the tree is the
    path for objects, not for large arrays."""
    try:
        payload = dumps(value)
        message = (payload.stream, [bytes(memoryview(b).cast("B")) for b in payload.buffers])
    except Exception as exc:
        message = _Failed({rank: error_record(exc)})
    guard.complete(comm, comm.isend(message, dest, _TREE_TAG), "allreduce")


class _Arrival:
    """A message to be received, as a request: ``Test()`` says whether it has arrived."""

    def __init__(self, comm: Any, source: int, tag: int):
        self.comm, self.source, self.tag = comm, source, tag
        self.message = None

    def Test(self) -> bool:  # the name of an MPI request's own method
        self.message = self.message or self.comm.improbe(self.source, self.tag)
        return self.message is not None


def _receive_value(comm: Any, source: int, rank: int) -> Any:
    arrival = _Arrival(comm, source, _TREE_TAG)
    guard.complete(comm, arrival, "allreduce")
    message = arrival.message.recv()
    if isinstance(message, _Failed):
        return message
    stream, buffers = message
    try:
        return loads(stream, buffers)
    except Exception as exc:
        return _Failed({rank: error_record(exc)})
