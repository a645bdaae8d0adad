"""SONATA report files (soma and compartment reports) written by every rank as the run goes.

The layout libsonata reads: ``/report/<population>/data`` float32 [steps x elements] with
``units``, and under ``mapping/``: ``node_ids`` (uint64, sorted), ``index_pointers``
(uint64, one more than the nodes), ``element_ids`` (uint32) and ``time`` = [start, stop,
dt] with ``units``. Columns are in node id order whatever the ranks, so the data are the
same for any number of ranks. ``append`` adds rows (collective: every rank adds the same
number): each rank sends its cells' columns (``alltoall_arrays``) to the rank that writes
them, so that every rank writes one contiguous block of columns, the ranks in turn (the
``mpio`` driver is not used for reports yet). The file keeps a temporary name while rows
are added and takes its final name at ``finish`` (again after each later ``finish``).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .. import transport
from ..ranks import rank_tag
from .files import check_writable, rank_size, remove_temporary, temporary_name


class ReportFile:
    """One SONATA report being written by every rank. Collective to create.

    ``node_ids`` are this rank's cells (each on one rank only), ``counts`` the elements
    of each, ``element_ids`` all their element ids, in the same order.

    Example::

        report = ReportFile("v.h5", "default", [0, 2], [1, 1], [0, 0], start=0, dt=0.1,
                            units="mV", overwrite=False, comm=comm)
        report.append(block)   # float32 [rows x 2]: this rank's columns
        report.finish()
    """

    def __init__(
        self,
        path: str | os.PathLike,
        population: str,
        node_ids: Any,
        counts: Any,
        element_ids: Any,
        *,
        start: float,
        dt: float,
        units: str,
        overwrite: bool,
        comm: Any,
    ):
        self.path = os.fspath(path)
        self.comm, self.start, self.dt, self.rows = comm, start, dt, 0
        self.finished = False
        self.rank, self.size = rank_size(comm)
        with transport.collective(comm):
            import h5py  # here: only writing needs it (the hdf5 extra)

            self._h5py = h5py
            node_ids = np.asarray(node_ids, dtype=np.int64).ravel()
            counts = np.asarray(counts, dtype=np.int64).ravel()
            element_ids = np.asarray(element_ids, dtype=np.int64).ravel()
            if node_ids.size != counts.size or counts.sum() != element_ids.size:
                raise ValueError(
                    f"{rank_tag()} report mapping needs one count per node and one element id "
                    f"per element: {node_ids.size} nodes, {counts.size} counts, "
                    f"{element_ids.size} element ids for {counts.sum()} elements"
                )
            if not self.path.endswith((".h5", ".hdf5")):
                raise ValueError(f"{rank_tag()} cannot write a SONATA report to {self.path!r}")
        every = transport.allgather((node_ids, counts), comm) if self.size > 1 else None
        all_nodes = np.concatenate([n for n, _ in every]) if every else node_ids
        all_counts = np.concatenate([c for _, c in every]) if every else counts
        order = np.argsort(all_nodes, kind="stable")
        sorted_nodes = all_nodes[order]
        with transport.collective(comm):
            if np.any(sorted_nodes[1:] == sorted_nodes[:-1]):
                repeated = np.unique(sorted_nodes[1:][sorted_nodes[1:] == sorted_nodes[:-1]])
                raise ValueError(f"{rank_tag()} report lists node ids twice: {repeated[:5]}")
        pointers = np.concatenate([[0], np.cumsum(all_counts[order])])
        # This rank's columns: each of its cells' elements, where its node id sorts.
        where = np.searchsorted(sorted_nodes, node_ids)
        self.columns = np.concatenate(
            [np.arange(pointers[w], pointers[w + 1]) for w in where] or [np.empty(0, np.int64)]
        ).astype(np.int64)
        # This rank's elements in file order: how to permute the caller's columns.
        self.order = np.argsort(self.columns, kind="stable")
        self.columns = self.columns[self.order]
        self.total = int(pointers[-1])
        self._plan_blocks()
        transport.same_on_every_rank(
            f"path={self.path!r} population={population!r} start={start!r} dt={dt!r} "
            f"units={units!r} overwrite={overwrite!r}",
            "report",
            comm,
        )
        self.group = f"report/{population}"
        self._created(overwrite, sorted_nodes, pointers, element_ids, units)

    def _plan_blocks(self) -> None:
        """Each rank writes one contiguous block of columns (near-equal widths): which of
        its columns go to which rank, and where the columns it receives belong."""
        size = self.size
        bounds = [self.total * r // size for r in range(size + 1)]
        self.block = (bounds[self.rank], bounds[self.rank + 1])
        dest = np.searchsorted(bounds[1:-1], self.columns, side="right")
        self.sent = np.bincount(dest, minlength=size).astype(np.int64)
        arriving, _ = transport.alltoall_arrays(self.columns, self.sent.reshape(size, 1), self.comm)
        self.place = arriving - self.block[0]

    def _to_block(self, values: np.ndarray) -> np.ndarray:
        """This rank's block of columns from every rank's ``values`` (rows x own columns,
        in file order). Collective."""
        rows = values.shape[0]
        send = np.ascontiguousarray(values.T).ravel()  # column by column: grouped by rank
        counts = (self.sent * rows).reshape(self.size, 1)
        received, _ = transport.alltoall_arrays(send, counts, self.comm)
        block = np.empty((rows, self.block[1] - self.block[0]), dtype=values.dtype)
        block[:, self.place] = received.reshape(self.place.size, rows).T
        return block

    def _created(self, overwrite: bool, nodes: Any, pointers: Any, elements: Any, units: str):
        """Rank 0 refuses a path it cannot write, then creates the file under a temporary
        name; each rank writes its element ids in turn."""
        partial = temporary_name(self.path) if self.rank == 0 else None
        self.partial = transport.broadcast(partial, 0, self.comm)
        with transport.collective(self.comm):
            if self.rank == 0:
                check_writable(self.path, overwrite)
                with self._h5py.File(self.partial, "w") as file:
                    group = file.create_group(self.group)
                    data = group.create_dataset(
                        "data", (0, self.total), maxshape=(None, self.total), dtype=np.float32,
                        chunks=True,
                    )  # fmt: skip
                    data.attrs["units"] = units
                    mapping = group.create_group("mapping")
                    mapping.create_dataset("node_ids", data=nodes.astype(np.uint64))
                    mapping["node_ids"].attrs["sorted"] = np.uint8(1)  # libsonata reads 1 byte
                    mapping.create_dataset("index_pointers", data=pointers.astype(np.uint64))
                    mapping.create_dataset("element_ids", (self.total,), dtype=np.uint32)
                    time = mapping.create_dataset("time", data=self._time())
                    time.attrs["units"] = "ms"
        mine = self._to_block(elements[self.order].astype(np.uint32).reshape(1, -1))[0]
        first, last = self.block

        def write(mapping: Any) -> None:
            mapping["element_ids"][first:last] = mine

        self._in_turn(write, "mapping")

    def _time(self) -> np.ndarray:
        return np.array([self.start, self.start + self.rows * self.dt, self.dt])

    def _in_turn(self, write: Any, subgroup: str) -> None:
        """``write(group)`` on each rank in turn (collective: a failure raises everywhere,
        and the temporary file is removed)."""
        try:
            for turn in range(self.size):
                with transport.collective(self.comm):
                    if self.rank == turn:
                        with self._h5py.File(self.partial, "r+") as file:
                            write(file[f"{self.group}/{subgroup}".rstrip("/")])
        except Exception:  # raised on every rank
            self.abandon()
            transport.barrier(self.comm)  # removed before any rank ends the job
            raise

    def append(self, block: np.ndarray) -> None:
        """Add ``block`` (float32 [rows x this rank's elements, in the caller's order])
        as the next rows. Collective: every rank adds the same number of rows."""
        rows = block.shape[0]
        if not rows:
            return
        if self.finished:  # back under a temporary name while rows are added
            partial = temporary_name(self.path) if self.rank == 0 else None
            self.partial = transport.broadcast(partial, 0, self.comm)
            with transport.collective(self.comm):
                if self.rank == 0:
                    os.replace(self.path, self.partial)
            self.finished = False
        first = self.rows
        self.rows += rows
        mine = self._to_block(np.asarray(block, dtype=np.float32)[:, self.order])
        start, stop = self.block

        def write(group: Any) -> None:
            data = group["data"]
            if data.shape[0] < first + rows:  # the first writer grows the dataset
                data.resize(first + rows, axis=0)
                group["mapping/time"][...] = self._time()
            _write_rows(data, first, start, stop, mine)

        self._in_turn(write, "")

    def finish(self) -> None:
        """Give the file its final name (until the next ``append``). Collective."""
        if self.finished:
            return
        with transport.collective(self.comm):
            if self.rank == 0:
                os.replace(self.partial, self.path)
        self.finished = True

    def abandon(self) -> None:
        """Remove the temporary file, after a failure; any rank may (its name is known on
        every rank), so that a rank that fails alone leaves nothing behind."""
        if not self.finished:
            remove_temporary(self.partial)


def _write_rows(data: Any, row: int, start: int, stop: int, block: np.ndarray) -> None:
    """``block`` into rows ``row`` onwards, columns ``start:stop`` of ``data``."""
    if stop > start:
        data[row : row + block.shape[0], start:stop] = block
