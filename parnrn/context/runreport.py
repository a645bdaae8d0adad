"""The run report: where each rank's time went in a run, and how balanced the ranks were.

NEURON measures, per rank, the time spent integrating (``pc.step_time``) and the time spent
in the spike exchange (``pc.wait_time``), which is mostly waiting for the slowest rank.
``counters`` reads those counters (and ``pc.spike_statistics``) before ``psolve``,
``finish`` reads them after, gathers one small row per rank to rank 0 in a single
collective, and returns a ``RunReport`` there (None on the other ranks). Rank 0 logs one
line per run on several ranks (none on one, where there is no balance to report), and
the table per rank at DEBUG; runs inside a task of ``p.parallel.map`` (``map_task``) log
nothing. NEURON's advice: load balance = mean computation / max(computation + wait);
keep the imbalance (max / mean - 1 of computation) under 20 %.

CoreNEURON keeps none of NEURON's counters: under it, ``computation`` is the wall time of
each rank's psolve (the model's transfer, the integration and the spike exchange: it
counts its wait nowhere, so ``wait``, the load balance and the imbalance are NaN), and the
spikes sent are the spikes this rank recorded in the run, as NEURON counts them (none on
one rank, where nothing is exchanged); every rank receives all of them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import transport
from ..log import logger

# Ranks shown one per line; more are summarised as min, mean and max.
TABLE_RANKS = 8
# Whether this process is running a task of p.parallel.map (see map_task).
_in_map_task = False
_COLUMNS = (
    "set-up s",
    "computation s",
    "wait s",
    "spikes sent",
    "received",
    "cells",
    "compartments",
)


def imbalance(loads: Any) -> float:
    """max / mean - 1 of per-rank loads (0 when they are all zero).

    Example::

        imbalance([10, 12])  # 0.0909...
    """
    values = np.asarray(loads, dtype=float).ravel()
    mean = values.mean() if values.size else 0.0
    return float(values.max() / mean - 1) if mean > 0 else 0.0


@dataclass(frozen=True)
class RunReport:
    """One run, per rank (arrays indexed by rank; times in seconds of wall clock).

    ``computation`` is NEURON's ``pc.step_time()`` during the run, ``wait`` its
    ``pc.wait_time()`` (the spike exchange, mostly waiting for slower ranks), ``setup`` the
    run's preparation (gid check, ``set_maxstep``, transfer set-up, ``finitialize``),
    ``psolve`` the wall time of ``psolve``; ``spikes_sent`` and ``spikes_received`` come
    from ``pc.spike_statistics()``; ``cells`` are the gids a rank owns, ``compartments``
    its segments. ``engine`` is the run's: under ``"coreneuron"`` (see the module
    docstring) ``computation`` is psolve's wall time and ``wait`` is NaN.

    Example::

        p.parallel.run(100)
        report = p.parallel.run_report()
        if report is not None:  # rank 0
            print(f"imbalance {report.imbalance:.1%}")
    """

    t_start: float
    t_stop: float
    setup: np.ndarray
    computation: np.ndarray
    wait: np.ndarray
    psolve: np.ndarray
    spikes_sent: np.ndarray
    spikes_received: np.ndarray
    cells: np.ndarray
    compartments: np.ndarray
    engine: str = "neuron"

    @property
    def ranks(self) -> int:
        return int(self.computation.size)

    @property
    def load_balance(self) -> float:
        """mean computation / max(computation + wait): the share of the run the ranks
        spent computing, on average; 1 is perfect. Waiting lowers it, whether for a
        busier rank (imbalance) or for the spike exchange itself (communication, cores
        shared with other work)."""
        if self.engine == "coreneuron":
            return math.nan
        busiest = float((self.computation + self.wait).max())
        return float(self.computation.mean()) / busiest if busiest > 0 else 1.0

    @property
    def imbalance(self) -> float:
        """max / mean - 1 of the computation times: how much more the busiest rank
        computed than the mean; 0 is perfect. Balancing the cells gains at most this."""
        if self.engine == "coreneuron":
            return math.nan
        return imbalance(self.computation)

    @property
    def speedup(self) -> float:
        """How much faster the run's integration would be, at most, if no rank waited at
        all (every rank computing the mean, the spike exchange free): 1 /
        ``load_balance``. Only the ``imbalance`` part of it is balance's to gain."""
        balance = self.load_balance
        return 1.0 / balance if balance > 0 or math.isnan(balance) else 1.0

    def summary(self) -> str:
        """The run in one line: its span, ranks and psolve time, the load balance and the
        imbalance, each said for what it measures.

        Example::

            report.summary()
            # 'run 0 -> 100 ms on 4 ranks in 1.52 s: load balance 0.34 (the ranks computed
            # 34% of the time and waited the rest in the spike exchange; with no wait at
            # all, at most 2.93x faster), imbalance 2.5% (the busiest rank's computation
            # over the mean: what balancing the cells can gain)'
        """
        ranks = f"{self.ranks} rank{'s' if self.ranks > 1 else ''}"
        if self.engine == "coreneuron":
            return (
                f"run {self.t_start:g} -> {self.t_stop:g} ms on {ranks} with CoreNEURON in "
                f"{self.psolve.max():.3g} s (the model's transfer included): load balance "
                f"not measured (CoreNEURON counts no computation or wait per rank)"
            )
        return (
            f"run {self.t_start:g} -> {self.t_stop:g} ms on {ranks} in "
            f"{self.psolve.max():.3g} s: load balance {self.load_balance:.2f} (the ranks "
            f"computed {self.load_balance:.0%} of the time and waited the rest in the spike "
            f"exchange; with no wait at all, at most {self.speedup:.2f}x faster), imbalance "
            f"{self.imbalance:.1%} (the busiest rank's computation over the mean: what "
            f"balancing the cells can gain)"
        )

    def table(self) -> str:
        """``summary()`` and the report per rank as a short text table (every rank up to
        ``TABLE_RANKS``, otherwise the min, mean and max of each column).

        Example::

            print(p.parallel.run_report().table())
        """
        return f"{self.summary()}\n{self.per_rank()}"

    def per_rank(self) -> str:
        """The table of ``table()`` without its summary line."""
        columns = np.column_stack(
            [
                self.setup,
                self.computation,
                self.wait,
                self.spikes_sent,
                self.spikes_received,
                self.cells,
                self.compartments,
            ]
        )
        if self.ranks <= TABLE_RANKS:
            rows = [(str(rank), row) for rank, row in enumerate(columns)]
        else:
            rows = [
                ("min", columns.min(axis=0)),
                ("mean", columns.mean(axis=0)),
                ("max", columns.max(axis=0)),
            ]
        lines = [f"{'rank':>5}" + "".join(f"{name:>15}" for name in _COLUMNS)]
        for label, row in rows:
            times = "".join(f"{value:>15.3f}" for value in row[:3])
            counts = "".join(f"{value:>15.0f}" for value in row[3:])
            lines.append(f"{label:>5}{times}{counts}")
        return "\n".join(lines)

    def plot(self, path: str | Path | None = None, ax: Any = None) -> Any:
        """A bar chart of each rank's computation and wait (stacked), drawn on ``ax`` or
        on a new figure, saved to ``path`` when given. Returns the matplotlib Axes; needs
        the ``plot`` extra.

        Example::

            p.parallel.run_report().plot("balance.png")
        """
        import matplotlib  # here: matplotlib costs seconds to import and only plot needs it

        if path is not None and ax is None:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(max(4.0, 0.5 * self.ranks + 2), 3.2))
        ranks = np.arange(self.ranks)
        ax.bar(ranks, self.computation, label="computation (step_time)")
        ax.bar(ranks, self.wait, bottom=self.computation, label="wait (wait_time)")
        ax.set_xlabel("rank")
        ax.set_ylabel("seconds")
        ax.set_xticks(ranks)
        ax.set_title(f"load balance {self.load_balance:.2f}, imbalance {self.imbalance:.1%}")
        top = float((self.computation + self.wait).max())
        if top > 0:
            ax.set_ylim(0, 1.35 * top)  # room for the legend above the bars
        ax.legend(loc="upper left", fontsize="small")
        if path is not None:
            ax.figure.tight_layout()
            ax.figure.savefig(path, dpi=120)
        return ax


def counters(h: Any, pc: Any, records: Any) -> tuple[float, ...]:
    """This rank's counters now: wall clock, NEURON's step time, wait time, spikes sent
    and received, and the spikes ``records`` (the ``SpikeRecords``) hold."""
    sent, received, useful = h.ref(0), h.ref(0), h.ref(0)
    pc.spike_statistics(sent, received, useful)
    recorded = sum(int(times.size()) for times, _ in records.pairs)
    return (time.perf_counter(), pc.step_time(), pc.wait_time(), sent[0], received[0], recorded)


def finish(
    network: Any,
    h: Any,
    pc: Any,
    comm: Any,
    started: float,
    before: tuple[float, ...],
    t_start: float,
    quiet: bool = False,
    engine: str = "neuron",
) -> RunReport | None:
    """Gather the run's counters (taken ``before`` psolve; the run began at ``started``)
    to rank 0 in one collective; return the report there, None elsewhere. Rank 0 logs
    the report (see ``log``) unless ``quiet``. Collective."""
    after = counters(h, pc, network.records)
    psolve, computation, wait, sent, received, recorded = (
        now - then for now, then in zip(after, before)
    )
    several = comm is not None and comm.Get_size() > 1
    if engine == "coreneuron":  # it counts into none of NEURON's counters
        computation, wait = psolve, math.nan
        sent, received = (recorded if several else 0), 0  # received: every rank's sent
    compartments = sum(sec.nseg for sec in h.allsec())
    row = (before[0] - started, computation, wait, psolve, sent, received)
    row += (len(network.registry.owned), compartments)
    rows = transport.gather(row, 0, comm) if several else [row]
    if rows is None:
        return None
    table = np.asarray(rows, dtype=float)
    if engine == "coreneuron":
        table[:, 5] = table[:, 4].sum()
    times = table[:, :4]
    report = RunReport(
        t_start=t_start,
        t_stop=float(h.t),
        setup=times[:, 0],
        computation=times[:, 1],
        wait=times[:, 2],
        psolve=times[:, 3],
        spikes_sent=table[:, 4].astype(np.int64),
        spikes_received=table[:, 5].astype(np.int64),
        cells=table[:, 6].astype(np.int64),
        compartments=table[:, 7].astype(np.int64),
        engine=engine,
    )
    if not quiet:
        log(report)
    return report


def log(report: RunReport) -> None:
    """Log ``report``: its ``summary()`` at INFO on several ranks (one rank has no balance
    to report), the table per rank at DEBUG; nothing inside a ``map_task``."""
    if _in_map_task:
        return
    if report.ranks > 1:
        logger.info("%s", report.summary())
    logger.debug("run report per rank:\n%s", report.per_rank())


@contextmanager
def map_task() -> Iterator[None]:
    """The runs inside are tasks of ``p.parallel.map``: they log no report (a sweep of
    1000 items would log 1000); ``p.parallel.run_report()`` still returns each one. Also
    a decorator, ``@map_task()``.

    Example::

        with map_task():
            result = fn(item)   # its p.parallel.run logs nothing
    """
    global _in_map_task
    outer, _in_map_task = _in_map_task, True
    try:
        yield
    finally:
        _in_map_task = outer
