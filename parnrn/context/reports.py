"""Variable reports: record a range variable of chosen gids into NEURON Vectors and write
them, a bounded buffer at a time, to a SONATA report file during the run.

Each element (a segment) is recorded by ``Vector.record(ref, dt)`` into a NEURON-owned
Vector, so the run costs what recording into Vectors costs; ``flush``, called between
pieces of ``psolve``, copies every Vector out in one block, empties them and hands the
block to ``parnrn.output.ReportFile``. The run is cut so that the Vectors never hold more
than the buffer. The node id of a cell in the file is its gid.

Everything that would make a file a SONATA reader refuses, or one that silently misses
what was asked for, is an error on every rank naming the user's path: a gid that is a
cell on no rank, a run that ends before the report starts. A run that fails removes the
report's temporary file.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .. import transport
from ..errors import GidError
from ..output import ReportFile
from ..ranks import rank_tag
from .gids import as_gids, unowned
from .network import Network

# Units of the usual range variables; others need units=...
UNITS = {"v": "mV", "ina": "mA/cm2", "ik": "mA/cm2", "ica": "mA/cm2", "i_membrane": "mA/cm2",
         "cai": "mM", "cao": "mM", "nai": "mM", "nao": "mM", "ki": "mM", "ko": "mM"}  # fmt: skip


class Report:
    """One variable report being recorded on this rank (made by ``p.parallel.report``)."""

    def __init__(
        self,
        h: Any,
        network: Network,
        comm: Any,
        path: str,
        gids: Iterable[int],
        variable: str,
        *,
        dt: float,
        sections: str | Callable[[int], Iterable[Any]],
        start: float,
        stop: float | None,
        buffer_mib: float,
        population: str,
        units: str | None,
        overwrite: bool,
    ):
        self.h, self.comm, self.dt, self.path = h, comm, dt, path
        with transport.collective(comm):
            self._check(network, dt, start, stop, buffer_mib, sections)
            wanted = as_gids(gids)
        # After a restore the recording starts at the checkpoint's time, not at 0.
        begins = network.restored_at or 0.0
        start = max(start, math.ceil(begins / dt - 1e-6) * dt)
        self.start, self.stop = start, math.inf if stop is None else stop
        cells = np.fromiter(network.transmitters, dtype=np.int64, count=len(network.transmitters))
        _refuse_unknown(path, *unowned(comm, cells, wanted))
        with transport.collective(comm):
            mine = sorted(set(wanted.tolist()) & set(network.transmitters))
            self.vectors, counts, element_ids = [], [], []
            for gid in mine:
                refs = _references(gid, network, variable, sections)
                for ref in refs:
                    vector = h.Vector()
                    vector.record(ref, dt)
                    self.vectors.append(vector)
                counts.append(len(refs))
                element_ids.extend(range(len(refs)))
            if network.initialized:  # just restored: finitialize, which starts them, is past
                h.frecord_init()
        widest = transport.allreduce(len(self.vectors), "max", comm)
        # Rows that fit the buffer (the Vectors hold float64) on the widest rank.
        self.rows = max(1, int(buffer_mib * 2**20 // (8 * max(widest, 1))))
        self.samples = round(begins / dt)  # rows recorded (and flushed) so far, from t = 0
        self.file = ReportFile(
            path, population, mine, counts, element_ids, start=start, dt=dt,
            units=UNITS.get(variable, "") if units is None else units,
            overwrite=overwrite, comm=comm,
        )  # fmt: skip

    def _check(
        self, network: Network, dt: float, start: float, stop: float | None,
        buffer_mib: float, sections: Any,
    ) -> None:  # fmt: skip
        steps = dt / self.h.dt
        if network.initialized and network.restored_at != self.h.t:
            raise RuntimeError(
                f"{rank_tag()} p.parallel.report must come before the first run, or right "
                f"after p.parallel.restore (NEURON starts recording at finitialize)"
            )
        if steps < 1 - 1e-9 or abs(steps - round(steps)) > 1e-9:
            raise ValueError(f"{rank_tag()} report dt={dt} must be a multiple of h.dt={self.h.dt}")
        if abs(start / dt - round(start / dt)) > 1e-6:
            raise ValueError(f"{rank_tag()} report start={start} must be a multiple of dt={dt}")
        if start < 0 or (stop is not None and stop <= start) or buffer_mib <= 0:
            raise ValueError(
                f"{rank_tag()} report needs 0 <= start < stop and buffer_mib > 0, got "
                f"start={start}, stop={stop}, buffer_mib={buffer_mib}"
            )
        if not (callable(sections) or sections in ("soma", "all")):
            raise ValueError(
                f"{rank_tag()} sections must be 'soma', 'all' or a function gid -> sections, "
                f"not {sections!r}"
            )

    @property
    def span(self) -> float:
        """The longest stretch of run (ms) the buffer holds."""
        return self.rows * self.dt

    def flush(self) -> None:
        """Move what the Vectors recorded into the file and empty them. Collective."""
        recorded = int(self.vectors[0].size()) if self.vectors else 0
        recorded = transport.allreduce(recorded, "max", self.comm)
        block = np.empty((recorded, len(self.vectors)), dtype=np.float32)
        for column, vector in enumerate(self.vectors):
            block[:, column] = vector.as_numpy()
            vector.resize(0)
        times = (self.samples + np.arange(recorded)) * self.dt
        tolerance = self.dt * 1e-6
        keep = (times > self.start - tolerance) & (times < self.stop - tolerance)
        self.samples += recorded
        self.file.append(block[keep] if not keep.all() else block)

    def finish(self) -> None:
        """Flush and give the file its final name. Collective."""
        self.flush()
        self.file.finish()

    def check_run_to(self, tstop: float) -> None:
        """Raise ``ValueError`` when a run to ``tstop`` would leave this report with no
        data at all: it starts after the end of the run, and no earlier run reached it
        (SONATA readers refuse such a file: "tstart is after the end of the range")."""
        if self.file.rows == 0 and self.start > tstop - self.h.dt / 2:
            raise ValueError(
                f"{rank_tag()} report {self.path} starts at {self.start:g} ms, after the end "
                f"of this run (tstop = {tstop:g} ms): it would hold no data, a file SONATA "
                f"readers refuse. Run past {self.start:g} ms, or give the report an earlier "
                f"start"
            )

    def abandon(self) -> None:
        """Remove the temporary file, after a failed run (on any rank: the one that
        failed may be the only one that can)."""
        self.file.abandon()


def _refuse_unknown(path: str, first: list[int], total: int) -> None:
    """Raise ``GidError`` naming the gids asked for that are a cell on no rank."""
    if not total:
        return
    more = f", ... ({total} in all)" if total > len(first) else ""
    raise GidError(
        f"{rank_tag()} report {path}: gid(s) {', '.join(map(str, first))}{more} are not a "
        f"cell on any rank (no p.ParallelCon(source, gid), or set_gid2node and cell); "
        f"register every cell before the report"
    )


def _references(gid: int, network: Network, variable: str, sections: Any) -> list[Any]:
    """Pointers to ``variable`` at each element of ``gid``: its spike source's segment
    (``"soma"``), every segment of its cell's tree (``"all"``), or of ``sections(gid)``."""
    netcon, _ = network.transmitters[gid]
    source = netcon.preseg()
    if source is None and (sections in ("soma", "all")):
        raise GidError(
            f"{rank_tag()} gid {gid} has no section to report (its spike source is "
            f"{netcon.pre()}); pass sections=function(gid) -> sections"
        )
    if sections == "soma":
        segments = [source]
    else:
        chosen = source.sec.wholetree() if sections == "all" else sections(gid)
        segments = [segment for section in chosen for segment in section]
    try:
        return [getattr(segment, f"_ref_{variable}") for segment in segments]
    except (AttributeError, NameError) as exc:
        raise ValueError(
            f"{rank_tag()} gid {gid}: no range variable {variable!r} at {segments[0]} ({exc})"
        ) from exc


def report_path(name: str, path: str | os.PathLike | None) -> str:
    """The file of report ``name``: ``path``, or ``<name>.h5``."""
    return os.fspath(path) if path is not None else f"{name}.h5"
