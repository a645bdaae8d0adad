"""Spike recording and gathering, and ``Spikes``: a spike train of a whole network.

``gather`` moves every rank's recorded spikes to one rank (or all) through
``transport.gather_arrays``: one ``Gatherv`` per array of raw numpy buffers, no pickling,
no Python lists. ``Spikes`` holds ``times`` (float64) and ``gids`` (int64) in
(time, gid) order; files are ``.npz`` or SONATA ``.h5`` spike files.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..output.files import check_writable, remove_temporary, temporary_name
from ..ranks import rank_tag
from ..transport import gather_arrays

# SONATA's enum for the ``sorting`` attribute of a spikes population.
SONATA_SORTING = {"none": 0, "by_id": 1, "by_time": 2}


class SpikeRecords:
    """The (time, gid) Vector pairs handed to ``spike_record`` on this rank."""

    def __init__(self) -> None:
        self.pairs: list[tuple[Any, Any]] = []
        self.record_all = False
        # Spikes of this rank's gids recorded before a restored checkpoint: (times, gids).
        self.earlier: tuple[np.ndarray, np.ndarray] | None = None

    def record(self, pc: Any, gids: Any, times: Any, gid_vector: Any) -> None:
        """``pc.spike_record(gids, times, gid_vector)``, remembered for ``gather``;
        ``gids`` -1 records every gid registered so far."""
        pc.spike_record(gids, times, gid_vector)
        self.add(times, gid_vector)
        if isinstance(gids, (int, float, np.integer)) and gids == -1:
            self.record_all = True

    def add(self, times: Any, gids: Any) -> None:
        """Gather the spikes in these two Vectors too (once, however often added)."""
        if not any(t is times and g is gids for t, g in self.pairs):
            self.pairs.append((times, gids))

    def local(self) -> tuple[np.ndarray, np.ndarray]:
        """This rank's spike times and gids (both float64, as NEURON records them; views
        of the Vectors when there is one pair), in recording order, after those restored
        from a checkpoint."""
        times = [t.as_numpy() for t, _ in self.pairs]
        gids = [g.as_numpy() for _, g in self.pairs]
        if self.earlier is not None:
            times.insert(0, self.earlier[0])
            gids.insert(0, self.earlier[1])
        if not times:
            return np.empty(0), np.empty(0)
        if len(times) == 1:
            return times[0], gids[0]
        return np.concatenate(times), np.concatenate(gids)


def gather(records: SpikeRecords, comm: Any, root: int | None = 0) -> Spikes | None:
    """Every rank's recorded spikes as a ``Spikes`` on ``root`` (None elsewhere), or on
    every rank when ``root`` is None. Collective."""
    # Both arrays move as NEURON's float64, straight from the Vectors: no copy before
    # sending; Spikes makes the gids int64 when it sorts.
    gathered = gather_arrays(records.local(), root, comm, name="gather_spikes")
    if gathered is None:
        return None
    spikes = Spikes(*gathered)
    spikes._owned = True  # new arrays from the gather: sorted in place
    spikes.ranks = 1 if comm is None else comm.Get_size()
    return spikes


class Spikes:
    """Spikes of a network: ``times`` (ms, float64) and ``gids`` (int64), sorted by
    (time, gid).

    Sorting happens on first access, so gathering costs no more than moving the data.

    Example::

        spikes = p.parallel.gather_spikes()        # on rank 0
        spikes.times[:3], spikes.gids[:3]
        spikes.save("out.h5")                      # SONATA spike file
    """

    def __init__(self, times: Any, gids: Any):
        self._times = np.asarray(times, dtype=np.float64).ravel()
        gids = np.asarray(gids)
        # NEURON's float64 gids are kept as they are until the first sort.
        self._gids = (gids if gids.dtype == np.float64 else gids.astype(np.int64)).ravel()
        if self._times.shape != self._gids.shape:
            raise ValueError(
                f"{rank_tag()} Spikes needs as many times as gids: {self._times.size} times, "
                f"{self._gids.size} gids"
            )
        self._sorted = False
        self._owned = False  # True: the arrays are this Spikes' own, to sort in place
        self.ranks: int | None = None  # the ranks they were gathered from, when known

    def _sort(self) -> None:
        if self._sorted:
            return
        # Each spike sorts as one complex number (time + 1j * gid): numpy orders complex
        # values by real, then imaginary part, which is (time, gid) order, and its stable
        # sort (timsort) merges the per-rank runs, already in time order, in near-linear
        # time; no index array, no gather of the permutation. Gids are exact in float64.
        pairs = np.empty(self._times.size, dtype=np.complex128)
        pairs.real, pairs.imag = self._times, self._gids
        pairs.sort(kind="stable")
        # Arrays this Spikes owns (gathered for it) take the result in place.
        times = self._times if self._owned else np.empty_like(self._times)
        times[...] = pairs.real
        owned_gids = self._owned and self._gids.itemsize == 8
        gids = self._gids.view(np.int64) if owned_gids else np.empty(pairs.size, np.int64)
        np.copyto(gids, pairs.imag, casting="unsafe")
        self._times, self._gids, self._sorted = times, gids, True

    @property
    def times(self) -> np.ndarray:
        """Spike times in ms, in (time, gid) order.

        Example::

            first_spike = spikes.times[0]
        """
        self._sort()
        return self._times

    @property
    def gids(self) -> np.ndarray:
        """The gid of each spike, in (time, gid) order.

        Example::

            rates = np.bincount(spikes.gids) / (tstop / 1000)   # Hz per gid
        """
        self._sort()
        return self._gids

    def __len__(self) -> int:
        return self._times.size

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Spikes):
            return NotImplemented
        return np.array_equal(self.times, other.times) and np.array_equal(self.gids, other.gids)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Spikes({len(self)} spikes, {np.unique(self._gids).size} gids)"

    def digest(self) -> str:
        """A short hash of the sorted times and gids: equal spikes, equal digest.

        Example::

            assert spikes_on_2_ranks.digest() == spikes_on_1_rank.digest()
        """
        sha = hashlib.sha256(self.times.tobytes())
        sha.update(self.gids.tobytes())
        return sha.hexdigest()[:16]

    def per_gid(self) -> dict[int, np.ndarray]:
        """Spike times of each gid that fired, in time order.

        Example::

            spikes.per_gid()[0]   # array([ 2.35, 27.1 ])
        """
        order = np.argsort(self.gids, kind="stable")  # keeps time order within a gid
        gids, starts = np.unique(self.gids[order], return_index=True)
        trains = np.split(self.times[order], starts[1:])
        return dict(zip(gids.tolist(), trains))

    def save(self, path: str | os.PathLike, population: str = "default") -> None:
        """Write ``.npz`` (``times``, ``gids``) or ``.h5`` in the SONATA spike layout:
        ``/spikes/<population>/timestamps`` and ``node_ids``, sorted by time. The file is
        written under a temporary name and renamed when complete.

        Example::

            spikes.save("spikes.h5", population="ring")
        """
        path = os.fspath(path)
        if not path.endswith((".npz", ".h5", ".hdf5")):
            raise ValueError(f"{rank_tag()} cannot save spikes to {path!r}: use a .npz or .h5 path")
        h5py = None if path.endswith(".npz") else _need("h5py", "hdf5", "save spikes to .h5")
        with _written_whole(path) as partial:
            if h5py is None:
                np.savez(partial, times=self.times, gids=self.gids)
            else:
                with h5py.File(partial, "w") as file:
                    group = file.create_group(f"spikes/{population}")
                    sorting = h5py.enum_dtype(SONATA_SORTING, basetype=np.uint8)
                    group.attrs.create("sorting", SONATA_SORTING["by_time"], dtype=sorting)
                    group.create_dataset("timestamps", data=self.times).attrs["units"] = "ms"
                    group.create_dataset("node_ids", data=self.gids.astype(np.uint64))

    @classmethod
    def load(cls, path: str | os.PathLike, population: str | None = None) -> Spikes:
        """Read a file written by ``save`` (or any SONATA spike file; ``population`` may
        be omitted when the file has only one).

        Example::

            Spikes.load("spikes.h5").per_gid()
        """
        path = os.fspath(path)
        if path.endswith(".npz"):
            with np.load(path) as data:
                return cls(data["times"], data["gids"])
        h5py = _need("h5py", "hdf5", "load spikes from .h5")
        with h5py.File(path, "r") as file:
            populations = sorted(file.get("spikes", {}))
            if population is None and len(populations) == 1:
                population = populations[0]
            if population not in populations:
                raise ValueError(
                    f"{rank_tag()} {path} has spike populations {populations}; choose one with "
                    f"population=..."
                )
            group = file["spikes"][population]
            return cls(group["timestamps"][()], group["node_ids"][()].astype(np.int64))

    def raster(
        self,
        ax: Any = None,
        *,
        cells: int | None = None,
        ranks: int | None = None,
        title: str | None = None,
        **scatter_kw: Any,
    ) -> Any:
        """Draw a raster (time against gid, one tick per spike) with matplotlib, on
        ``ax`` or on a new figure of slide proportions; returns the axes.

        The gid axis has whole-number ticks and spans gids 0 to ``cells - 1`` when
        ``cells`` is given (every cell, not only those that fired). The ticks are as tall
        as a gid's row, or sized by the spikes' density when rows are too thin, so that
        they read at 20 cells and at thousands.
        The title gives ``title``, the cells, the spikes and ``ranks`` (the ranks the
        spikes were gathered from, known after ``gather_spikes``). ``scatter_kw`` go to
        ``ax.scatter``.

        Example::

            ax = spikes.raster(cells=ncell, title="ring")   # 'ring: 20 cells, 81 spikes, 2 ranks'
            ax.figure.savefig("raster.png", dpi=150)
        """
        if ax is None:
            plt = _need("matplotlib.pyplot", "plot", "draw a raster")
            _, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
        from matplotlib.ticker import MaxNLocator  # here: matplotlib loads with the figure

        gids = self.gids
        top = cells - 1 if cells else (int(gids.max()) if gids.size else 0)
        ax.set_ylim(-0.5, top + 0.5)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        tick = _tick_points(ax, rows=top + 1, spikes=len(self))
        options = {"marker": "|", "s": tick**2, "linewidths": max(0.5, tick / 8), "color": "k"}
        ax.scatter(self.times, gids, **(options | scatter_kw))
        ax.set_xlim(left=min(0.0, float(self.times.min())) if self.times.size else 0.0)
        ax.set_xlabel("time (ms)")
        ax.set_ylabel("cell (gid)")
        ax.set_title(self._raster_title(cells, ranks, title))
        return ax

    def _raster_title(self, cells: int | None, ranks: int | None, title: str | None) -> str:
        firing = np.unique(self.gids).size
        parts = [f"{cells} cells" if cells else f"{firing} cells firing", f"{len(self)} spikes"]
        ranks = self.ranks if ranks is None else ranks
        if ranks is not None:
            parts.append(f"{ranks} rank{'s' if ranks > 1 else ''}")
        return (f"{title}: " if title else "") + ", ".join(parts)


def _tick_points(ax: Any, rows: int, spikes: int) -> float:
    """The height of a raster tick in points: most of a gid's row while rows are at
    least 3 points tall (at most 12: a tick, not a bar, with a handful of cells); with
    thinner rows a mark sized by the spikes' density instead, from 1.5 points (thousands
    of cells firing, still apart) to 8 (a few spikes among thousands of cells, still
    seen)."""
    box = ax.get_window_extent()
    width, height = box.width * 72 / ax.figure.dpi, box.height * 72 / ax.figure.dpi
    row = height / max(rows, 1)
    if row >= 3:
        return min(0.8 * row, 12.0)
    return float(np.clip(0.5 * np.sqrt(width * height / max(spikes, 1)), 1.5, 8.0))


@contextmanager
def _written_whole(path: str) -> Iterator[str]:
    """A temporary name beside ``path`` to write to, renamed to ``path`` only once the
    block ends without error (removed otherwise): no file under the final name is ever
    half written. A folder that is missing or read-only is refused first, by ``path``."""
    check_writable(path, overwrite=True)
    partial = temporary_name(path)
    try:
        yield partial
        os.replace(partial, path)
    finally:
        remove_temporary(partial)


def _need(module: str, extra: str, purpose: str) -> Any:
    """Import an optional dependency, or say which parnrn extra provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        name = module.split(".")[0]
        raise ImportError(
            f"{rank_tag()} {name} is needed to {purpose}: pip install 'parnrn[{extra}]' "
            f"(or pip install {name})"
        ) from exc
