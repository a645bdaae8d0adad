"""SONATA spike files written by every rank, no rank holding more than its own spikes.

``write_spikes`` sorts the spikes of all ranks without gathering them (as libsonatareport
does): every rank samples its keys, the samples give ``size - 1`` splitters (weighted
quantiles, so skewed firing still spreads evenly), each rank sends its spikes to the rank
owning their key range with ``alltoall_arrays`` in bounded rounds, sorts what it received,
and the ranks write their sorted parts at prefix-sum offsets. A spike travels and sorts as
one complex number (key, other): numpy sorts complex values by real then imaginary part,
which is the (time, node_id) or (node_id, time) order SONATA wants, and a splitter can fall
between spikes of equal time. With an h5py built with MPI the parts are written with the
``mpio`` driver, collectively; with the ordinary h5py the ranks write in turn, in chunks.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import transport
from ..ranks import rank_tag
from .files import rank_size, written_by_all

# SONATA's enum for the ``sorting`` attribute of a spikes population.
SORTING = {"none": 0, "by_id": 1, "by_time": 2}
# Spikes per exchange round and per write: 16 MiB of (time, node_id) pairs.
CHUNK = 1 << 20
# Samples of its keys each rank contributes to the splitters, and most samples in all
# (every rank holds them all: 1 MiB at most, whatever the number of ranks).
SAMPLES, ALL_SAMPLES = 1024, 1 << 16

Piece = Callable[[int, int], tuple[np.ndarray, np.ndarray]]


def write_spikes(
    path: str | os.PathLike,
    times: Any,
    node_ids: Any,
    *,
    sorting: str = "by_time",
    population: str = "default",
    overwrite: bool = False,
    comm: Any = None,
    chunk: int = CHUNK,
) -> int:
    """Write every rank's spikes (``times`` in ms, ``node_ids``) to one SONATA spike file
    at ``path`` (``/spikes/<population>/timestamps``, ``node_ids``, ``sorting``), sorted
    ``"by_time"`` (time, then node_id), ``"by_id"`` (node_id, then time) or ``"none"``
    (rank order, then each rank's order). Returns the number of spikes written. An existing
    ``path`` is refused unless ``overwrite``; a failure on any rank raises on every rank
    and leaves no file at ``path``. Collective.

    Example::

        write_spikes("spikes.h5", my_times, my_gids, sorting="by_time", comm=comm)
    """
    path = os.fspath(path)
    rank, size = rank_size(comm)
    with transport.collective(comm):
        times, node_ids = _checked(path, times, node_ids, sorting, chunk)
    transport.same_on_every_rank(
        f"path={path!r} sorting={sorting!r} population={population!r} overwrite={overwrite!r}",
        "save_spikes",
        comm,
    )
    with transport.collective(comm):
        import h5py  # here: only writing needs it (the hdf5 extra)
    if sorting == "none":
        n = times.size

        def piece(a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
            return times[a:b], node_ids[a:b].astype(np.uint64)
    else:
        mine = _sorted_across_ranks(times, node_ids, sorting, comm, chunk)
        n = mine.size
        key, other = (mine.real, mine.imag) if sorting == "by_time" else (mine.imag, mine.real)

        def piece(a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
            return key[a:b], other[a:b].astype(np.uint64)

    counts = transport.allgather(n, comm) if size > 1 else [n]
    offset, total = sum(counts[:rank]), sum(counts)
    parallel_hdf5 = size > 1 and h5py.get_config().mpi
    with written_by_all(path, overwrite, comm) as partial:
        layout = (partial, population, sorting, total)
        if parallel_hdf5:
            _write_collectively(h5py, layout, piece, n, offset, comm, chunk)
        else:
            _write_in_turn(h5py, layout, piece, n, offset, comm, chunk)
    return total


def _checked(
    path: str, times: Any, node_ids: Any, sorting: str, chunk: int
) -> tuple[np.ndarray, np.ndarray]:
    """Both arrays as flat float64 views when they can be (no copy of NEURON's Vectors),
    or the reason they cannot."""
    if sorting not in SORTING:
        raise ValueError(f"{rank_tag()} sorting must be one of {list(SORTING)}, not {sorting!r}")
    if not path.endswith((".h5", ".hdf5")):
        raise ValueError(f"{rank_tag()} cannot write a SONATA spike file to {path!r}: use .h5")
    if chunk < 1:
        raise ValueError(f"{rank_tag()} chunk must be at least 1, not {chunk}")
    times = np.asarray(times, dtype=np.float64).ravel()
    node_ids = np.asarray(node_ids, dtype=np.float64).ravel()
    if times.size != node_ids.size:
        raise ValueError(
            f"{rank_tag()} spike file needs as many times as node ids: {times.size} times, "
            f"{node_ids.size} node ids"
        )
    if node_ids.size and node_ids.min() < 0:
        raise ValueError(f"{rank_tag()} node ids must be >= 0, got {node_ids.min():g}")
    return times, node_ids


def _pairs(times: np.ndarray, node_ids: np.ndarray, sorting: str, a: int, b: int) -> np.ndarray:
    """Spikes ``a:b`` as complex (key, other) values, which sort in ``sorting`` order."""
    pairs = np.empty(b - a, dtype=np.complex128)
    key, other = (times, node_ids) if sorting == "by_time" else (node_ids, times)
    pairs.real, pairs.imag = key[a:b], other[a:b]
    return pairs


def _splitters(times: np.ndarray, node_ids: np.ndarray, sorting: str, comm: Any) -> np.ndarray:
    """``size - 1`` increasing keys cutting all ranks' spikes into near-equal parts: the
    weighted quantiles of every rank's evenly spaced sample of its own spikes."""
    size = comm.Get_size()
    n = times.size
    share = max(8, min(SAMPLES, ALL_SAMPLES // size))
    picks = np.linspace(0, n - 1, min(n, share)).astype(np.int64)
    sample = _pairs(times[picks], node_ids[picks], sorting, 0, picks.size)
    weight = n / max(picks.size, 1)
    samples = transport.allgather((sample, weight), comm)
    values = np.concatenate([s for s, _ in samples])
    weights = np.concatenate([np.full(s.size, w) for s, w in samples])
    order = np.argsort(values, kind="stable")
    values, cumulative = values[order], np.cumsum(weights[order])
    if not values.size:
        return np.zeros(size - 1, dtype=np.complex128)
    targets = cumulative[-1] * np.arange(1, size) / size
    return values[np.minimum(np.searchsorted(cumulative, targets), values.size - 1)]


def _sorted_across_ranks(
    times: np.ndarray, node_ids: np.ndarray, sorting: str, comm: Any, chunk: int
) -> np.ndarray:
    """This rank's part of the globally sorted spikes, as complex (key, other) values:
    every key here sorts after every key of the ranks before."""
    size = 1 if comm is None else comm.Get_size()
    n = times.size
    if size == 1:
        mine = _pairs(times, node_ids, sorting, 0, n)
        mine.sort(kind="stable")
        return mine
    splitters = _splitters(times, node_ids, sorting, comm)
    rounds = transport.allreduce(-(-n // chunk), "max", comm)

    def routed(a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        pairs = _pairs(times, node_ids, sorting, a, b)
        dest = np.searchsorted(splitters, pairs, side="right")
        return pairs, dest

    # First the counts, so what arrives is written into one preallocated array.
    sent = np.zeros(size, dtype=np.int64)
    for a in range(0, n, chunk):
        sent += np.bincount(routed(a, min(n, a + chunk))[1], minlength=size)
    arriving, _ = transport.alltoall_arrays(sent, np.ones((size, 1), dtype=np.int64), comm)
    mine = np.empty(int(arriving.sum()), dtype=np.complex128)
    filled = 0
    for r in range(rounds):
        a, b = min(n, r * chunk), min(n, (r + 1) * chunk)
        pairs, dest = routed(a, b)
        order = np.argsort(dest, kind="stable")
        counts = np.bincount(dest, minlength=size).reshape(size, 1)
        received, _ = transport.alltoall_arrays(pairs[order], counts, comm)
        mine[filled : filled + received.size] = received
        filled += received.size
    mine.sort(kind="stable")  # timsort: what arrived is a few runs already in order
    return mine


def _create(h5py: Any, file: Any, population: str, sorting: str, total: int) -> tuple:
    group = file.create_group(f"spikes/{population}")
    group.attrs.create(
        "sorting", SORTING[sorting], dtype=h5py.enum_dtype(SORTING, basetype=np.uint8)
    )
    timestamps = group.create_dataset("timestamps", (total,), dtype=np.float64)
    timestamps.attrs["units"] = "ms"
    return timestamps, group.create_dataset("node_ids", (total,), dtype=np.uint64)


def _write_piece(datasets: tuple, piece: Piece, a: int, b: int, offset: int) -> None:
    """Spikes ``a:b`` of this rank's part into the file at ``offset + a``."""
    times, node_ids = piece(a, b)
    datasets[0][offset + a : offset + b] = times
    datasets[1][offset + a : offset + b] = node_ids


def _write_in_turn(
    h5py: Any, layout: tuple, piece: Piece, n: int, offset: int, comm: Any, chunk: int
) -> None:
    """Rank 0 creates the file, then each rank in turn writes its part in chunks; each
    turn is collective, so a failing rank raises on every rank."""
    partial, population, sorting, total = layout
    rank, size = rank_size(comm)
    with transport.collective(comm):
        if rank == 0:
            with h5py.File(partial, "w") as file:
                _create(h5py, file, population, sorting, total)
    for turn in range(size):
        with transport.collective(comm):
            if rank == turn and n:
                with h5py.File(partial, "r+") as file:
                    group = file[f"spikes/{population}"]
                    datasets = group["timestamps"], group["node_ids"]
                    for a in range(0, n, chunk):
                        _write_piece(datasets, piece, a, min(n, a + chunk), offset)


def _write_collectively(
    h5py: Any, layout: tuple, piece: Piece, n: int, offset: int, comm: Any, chunk: int
) -> None:
    """Parallel HDF5: every rank opens the file with the ``mpio`` driver and writes its
    part in the same number of collective chunked writes."""
    partial, population, sorting, total = layout
    rounds = transport.allreduce(-(-n // chunk), "max", comm)
    with h5py.File(partial, "w", driver="mpio", comm=comm) as file:
        datasets = _create(h5py, file, population, sorting, total)
        for r in range(rounds):
            a, b = min(n, r * chunk), min(n, (r + 1) * chunk)
            with datasets[0].collective, datasets[1].collective:
                _write_piece(datasets, piece, a, b, offset)
