"""Collectives on raw numpy arrays: no pickling, one MPI call per array.

``gather_arrays`` moves each rank's 1-D arrays to one rank (or all) with ``Gatherv``, the
lengths gathered at that rank only; ``alltoall_arrays`` routes parts of one array to every
rank with ``Alltoallv``. Both start with the same guarded agreement as the object
collectives, which also compares the dtypes, so a failure, a mismatched call or a dtype
that differs between ranks raises the same ``TransportError`` on every rank before any data
moves. Every data phase is bounded by the timeout, as the agreement is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import TransportError
from . import guard
from .collectives import _root_error, _serial_check, default_comm


def _agree(
    comm: Any, op: str, root: int, arrays: list[np.ndarray], error: Any, shape: str = ""
) -> None:
    """The same ``TransportError`` everywhere if any rank failed or the dtypes (or
    ``shape``) differ between ranks."""
    layout = ",".join(a.dtype.str for a in arrays) + shape
    guard.agree(
        comm, op, root, error=error, error_class=TransportError, layout=layout,
        layout_name="dtype list",
    )  # fmt: skip


def _as_1d(arrays: Sequence[Any]) -> tuple[list[np.ndarray], BaseException | None]:
    try:
        return [np.ascontiguousarray(a).ravel() for a in arrays], None
    except Exception as exc:
        return [], exc


def gather_arrays(
    arrays: Sequence[np.ndarray],
    root: int | None = 0,
    comm: Any = None,
    *,
    name: str = "gather_arrays",
) -> list[np.ndarray] | None:
    """Concatenate each of this rank's arrays with the same array of every other rank, in
    rank order: a list of new arrays on ``root`` (None elsewhere), or on every rank when
    ``root`` is None. Every rank passes the same number of arrays, of the same dtypes;
    lengths may differ. ``name`` is the operation named in errors. Collective.

    Example::

        times, gids = gather_arrays([my_times, my_gids], root=0) or (None, None)
    """
    comm = default_comm() if comm is None else comm
    size = 1 if comm is None else comm.Get_size()
    mine, error = _as_1d(arrays)
    if root is not None:
        error = error or _root_error(root, size)
    agreed_root = -1 if root is None else root  # -1: every rank receives
    if size == 1:
        _serial_check(name, error, TransportError, agreed_root)
        return [a.copy() for a in mine]
    _agree(comm, name, agreed_root, mine, error)
    receives = root is None or comm.Get_rank() == root
    mine_counts = np.array([a.size for a in mine], dtype=np.int64)
    counts = np.empty((comm.Get_size(), len(mine)), dtype=np.int64) if receives else None
    if root is None:
        guard.complete(comm, comm.Iallgather(mine_counts, counts), name)
    else:
        guard.complete(comm, comm.Igather(mine_counts, counts, root), name, root)
    result = []
    for i, array in enumerate(mine):
        whole = np.empty(int(counts[:, i].sum()), dtype=array.dtype) if receives else None
        target = [whole, counts[:, i].tolist()] if receives else None
        if root is None:
            guard.complete(comm, comm.Iallgatherv(array, target), name)
        else:
            guard.complete(comm, comm.Igatherv(array, target, root), name, root)
        result.append(whole)
    return result if receives else None


def alltoall_arrays(
    send: np.ndarray, counts: np.ndarray, comm: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Route parts of ``send`` to every rank: ``counts`` has one row per destination rank
    and ``k`` columns, and ``send`` holds, destination by destination, ``k`` consecutive
    parts of those lengths. Returns what every rank sent here, source by source in the
    same layout, and the matching ``(size, k)`` counts. Collective.

    Example::

        # send even numbers to rank 0, odd ones to rank 1, in one part each
        order = np.argsort(values % 2, kind="stable")
        counts = np.bincount(values % 2, minlength=2).reshape(2, 1)
        received, received_counts = alltoall_arrays(values[order], counts)
    """
    comm = default_comm() if comm is None else comm
    size = 1 if comm is None else comm.Get_size()
    send = np.ascontiguousarray(send)
    counts = np.ascontiguousarray(counts, dtype=np.int64)
    error = None
    if counts.ndim != 2 or counts.shape[0] != size or counts.sum() != send.size:
        error = ValueError(
            f"alltoall_arrays needs counts of shape ({size}, k) adding up to the "
            f"{send.size} items sent, not shape {counts.shape} adding up to {counts.sum()}"
        )
    if size == 1:
        _serial_check("alltoall_arrays", error, TransportError)
        return send.copy(), counts.copy()
    _agree(comm, "alltoall_arrays", -1, [send], error, f" in {counts.shape[-1]} parts")
    received_counts = np.empty_like(counts)
    guard.complete(comm, comm.Ialltoall(counts, received_counts), "alltoall_arrays")
    received = np.empty(int(received_counts.sum()), dtype=send.dtype)
    routing = comm.Ialltoallv([send, counts.sum(axis=1)], [received, received_counts.sum(axis=1)])
    guard.complete(comm, routing, "alltoall_arrays")
    return received, received_counts
