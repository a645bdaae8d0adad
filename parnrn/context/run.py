"""Running a network: the steps NEURON needs before ``psolve``, in the right order.

``run`` agrees with the other ranks on what must happen (one bitmask ``allreduce``), checks
the gids when they changed, calls ``set_maxstep(10)`` (whose answer is the global minimum
delay), ``setup_transfer()`` on every rank when any rank declared transfer variables (a
run hangs when only some ranks call it: NEURON issue #1002), ``finitialize`` on the first
run, then ``psolve``. Later runs continue from the current time, like ``continuerun``.

Every function takes what it works on: the rank's ``Network``, NEURON's ``h`` and
ParallelContext, and parnrn's communicator (None with one rank).
"""

from __future__ import annotations

import gc
import math
import numbers
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .. import failfast, transport
from ..errors import EngineError, GidError, ParallelError
from ..failfast.watchdog import watchdog
from ..hocerror import hoc_error, is_hoc_error
from ..log import logger, warn_once
from ..ranks import known_rank_size, rank_tag
from ..settings import settings
from . import engine as engines
from . import gids, randomness, runreport
from .network import Network

# Most progress-bar chunks a run is cut into: psolve's fixed cost stays far below 1 %.
PROGRESS_CHUNKS = 100
# Bits of the run's agreement: what any rank needs every rank to do before the run, and
# whether it owns a cell.
_TRANSFER, _GIDS_CHANGED, _HAS_CELLS = 1, 2, 4
# The latest time NEURON's psolve accepts (ms).
MAX_TSTOP = 1e9


def run(
    network: Network,
    h: Any,
    pc: Any,
    comm: Any,
    tstop: float,
    v_init: float | None = None,
    progress: bool = False,
    strict: bool | None = None,
    quiet: bool = False,
    engine: str | None = None,
) -> runreport.RunReport | None:
    """Run (or continue) the simulation to ``tstop`` ms on every rank. Collective.
    Returns the run report on rank 0 (None elsewhere), logged there (``runreport.log``)
    unless ``quiet``.

    An exception out of ``finitialize`` or ``psolve`` on one rank (a hoc error, a Python
    callback failing) ends the whole job, naming the rank: the other ranks may be waiting
    inside NEURON for this one, where no exception can reach them. Ranks that disagree on
    the run (``tstop`` or ``dt`` read on one rank only, say) would wait for each other
    inside NEURON forever: they raise ``ParallelError`` first, every rank naming the
    values that differ. A ``tstop`` NEURON cannot run to, or a bad ``v_init`` or ``h.dt``,
    is a ``ValueError`` on every rank before NEURON sees it (the ranks agreed on the
    values, so each finds the same fault). ``engine`` is ``engine.chosen``'s; a model it
    cannot run is an ``EngineError`` on every rank before psolve."""
    engine = engines.chosen(engine)
    if comm is not None and comm.Get_size() > 1:
        first = "" if network.initialized else f" v_init={v_init!r} (first run)"
        agreed = f"tstop={tstop!r} dt={h.dt!r} t={h.t!r} engine={engine}{first}"
        transport.same_on_every_rank(agreed, "run", comm)
    check_run(network, h, tstop, v_init)
    started, t_start = time.perf_counter(), h.t
    with _collection_paused(not network.initialized), engines.running(engine, h):
        prepare(network, h, pc, comm, strict, quiet)  # raises the same on every rank
        try:
            if not network.initialized:
                finitialize(network, h, v_init)
                t_start = h.t
            engines.check(network, h, comm, engine)
            before = runreport.counters(h, pc, network.records)
            if progress or network.reports:
                _psolve_with_progress(network, h, pc, tstop, progress)
            elif tstop > h.t:  # NEURON refuses a tstop before t, by any rounding
                with watchdog("psolve"):
                    pc.psolve(tstop)
        except Exception as exc:
            _abandon_reports(network)
            if isinstance(exc, EngineError):  # raised alike on every rank: none is in NEURON
                raise
            error = exc
            if is_hoc_error(exc):
                error = hoc_error(f"run({tstop})", exc)
                error.__cause__ = exc
            if comm is not None and comm.Get_size() > 1:
                # The other ranks may be inside NEURON, where nothing can reach them.
                reason = f"{type(error).__name__} escaped p.parallel.run on this rank"
                failfast.fail(f"{reason} (the others may wait in NEURON's psolve)", error)
            if error is exc:
                raise
            raise error from exc
    return runreport.finish(network, h, pc, comm, started, before, t_start, quiet, engine)


def check_run(network: Network, h: Any, tstop: Any, v_init: Any = None) -> None:
    """Raise ``ValueError`` for a run NEURON would refuse with a hoc error (a string
    ``tstop``, a time already passed, past ``MAX_TSTOP``) or end in an assertion abort
    (``nan``), for a bad ``v_init`` or ``h.dt``, naming the value and the current time,
    or for a run that ends before a report that has no data yet starts.

    A run continues from ``t`` (from 0 when it initializes); a ``tstop`` within half a time
    step of that start is the start itself, as NEURON's fixed step cannot tell them apart
    (``t`` after a run is ``tstop`` up to rounding)."""
    check_dt(h)
    if not network.initialized:
        check_v_init(v_init)
    start = h.t if network.initialized else 0.0
    now = f"t = {h.t:g} ms" if network.initialized else "t = 0 ms (this run initializes)"
    if not _is_real(tstop) or math.isnan(tstop) or tstop > MAX_TSTOP:
        raise ValueError(
            f"{rank_tag()} run: tstop must be a number of ms from the current time to "
            f"{MAX_TSTOP:g} (NEURON's limit), not {_shown(tstop)}; now {now}"
        )
    if tstop < start - h.dt / 2:
        why = (
            "a run continues from where the last one stopped (p.parallel.gid_clear() starts "
            "a new network from t = 0)"
            if network.initialized
            else "the first run of a network starts at t = 0"
        )
        raise ValueError(
            f"{rank_tag()} run: tstop = {float(tstop):g} ms is before the current time, "
            f"{now}: {why}"
        )
    for report in network.reports:
        report.check_run_to(tstop)


def check_v_init(v_init: Any) -> None:
    """Raise ``ValueError`` unless ``v_init`` is None or a finite number (mV)."""
    if v_init is not None and not (_is_real(v_init) and math.isfinite(v_init)):
        raise ValueError(
            f"{rank_tag()} v_init must be a finite number of mV or None (NEURON's default), "
            f"not {_shown(v_init)}"
        )


def check_dt(h: Any) -> None:
    """Raise ``ValueError`` unless ``h.dt`` is a finite number of ms above 0."""
    if not (math.isfinite(h.dt) and h.dt > 0):
        raise ValueError(f"{rank_tag()} h.dt must be a finite number of ms above 0, not {h.dt}")


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _shown(value: Any) -> str:
    """``value`` for a message: numbers as numbers (not ``np.float64(...)``), anything
    else by its repr and type."""
    if _is_real(value):
        return f"{float(value):g}"
    return f"{gids.shown(value)} (a {type(value).__name__})"


def _abandon_reports(network: Network) -> None:
    """After a failed run, remove the reports' temporary files and forget the reports:
    their files would have a hole (on several ranks the job is about to end)."""
    for report in network.reports:
        report.abandon()
        logger.warning(f"report {report.path} abandoned: the run failed; its file is removed")
    network.reports.clear()


@contextmanager
def _collection_paused(collect_first: bool) -> Iterator[None]:
    """No Python garbage collection during a run.

    Collecting a forgotten (cyclic) Section or point process changes the model under the
    events NEURON has queued, which ends in an assertion abort in the next psolve. Such
    garbage is collected before a run that initializes, and never during one.
    """
    if collect_first:
        gc.collect()
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def prepare(
    network: Network, h: Any, pc: Any, comm: Any, strict: bool | None = None, quiet: bool = False
) -> None:
    """Everything before ``finitialize``: random streams (on the first run), gid check,
    maxstep, transfer set-up, and spike recording of every gid when ``spike_record`` was
    not called; a warning when no rank has a cell. Collective."""
    if not network.initialized:
        randomness.check_streams(h, pc, comm, settings.strict if strict is None else strict, quiet)
    registry = network.registry
    needs = (
        (_TRANSFER if network.transfer_pending else 0)
        | (_GIDS_CHANGED if registry.changed() else 0)
        | (_HAS_CELLS if registry.owned else 0)
    )
    parallel = comm is not None and comm.Get_size() > 1
    if parallel:
        needs = transport.allreduce(needs, "bor", comm)
    if not needs & _HAS_CELLS and (comm is None or comm.Get_rank() == 0):
        warn_once(
            "run-without-cells",
            "no rank has a cell (a gid registered with p.ParallelCon(source, gid), or "
            "set_gid2node and cell): p.parallel.run records no spikes, and gather_spikes() "
            "will be empty (warned once)",
        )
    if needs & _GIDS_CHANGED:
        _report(*gids.check(comm, registry), settings.strict if strict is None else strict)
    with watchdog("set_maxstep"):
        min_delay = float(pc.set_maxstep(10))
    # NEURON answers with this rank's minimum; the exchange interval is the global one.
    network.min_delay = transport.allreduce(min_delay, "min", comm) if parallel else min_delay
    if parallel and not _usable(network.min_delay, h):
        _raise_unusable_min_delay(network.min_delay, min_delay, h, comm)
    if needs & _TRANSFER:
        with watchdog("setup_transfer"):
            pc.setup_transfer()
        network.transfer_pending = False
    if not network.records.pairs:
        network.records.record(pc, -1, h.Vector(), h.Vector())


def _usable(min_delay: float, h: Any) -> bool:
    """Whether NEURON can exchange spikes every ``min_delay`` ms: at least one time step
    with the fixed step method (as NEURON rounds it), more than zero with CVode."""
    if h.CVode().active():
        return min_delay > 0
    return math.floor(min_delay * 1.0000001 / h.dt) > 0


def _raise_unusable_min_delay(global_min: float, mine: float, h: Any, comm: Any) -> None:
    """NEURON raises "usable mindelay is 0" in ``finitialize`` on rank 0 alone, and the
    other ranks wait for it in the spike exchange: every rank raises here instead, naming
    the ranks whose NetCons are too short (every rank takes this path, so the gather of
    one number per rank costs O(P) only when the run cannot go on)."""
    mins = transport.allgather(mine, comm)
    ranks = ", ".join(str(r) for r, d in enumerate(mins) if not _usable(d, h))
    need = "more than 0 ms with CVode" if h.CVode().active() else f"at least dt = {h.dt} ms"
    raise ParallelError(
        f"{rank_tag()} usable mindelay is {global_min} ms: on rank(s) {ranks} a NetCon that "
        f"receives spikes from another rank has a shorter delay than NEURON can keep (it "
        f"exchanges spikes between ranks once per minimum delay, which must be {need})"
    )


def finitialize(network: Network, h: Any, v_init: float | None = None) -> None:
    """``h.finitialize(v_init)`` (NEURON's default without one), and remember it.
    Watched like psolve: NEURON initializes the spike exchange, a collective."""
    with watchdog("finitialize"):
        if v_init is None:
            h.finitialize()
        else:
            h.finitialize(v_init)
    network.initialized = True


def _report(lines: list[str], total: int, strict: bool) -> None:
    if not total:
        return
    more = f"\n  ... and {total - len(lines)} more" if total > len(lines) else ""
    message = f"{total} gid problem(s) found before the run:\n  " + "\n  ".join(lines) + more
    if strict:
        raise GidError(f"{rank_tag()} {message}")
    if known_rank_size()[0] == 0:
        logger.warning(
            message + "\n(configure(strict=True) or run(strict=True) makes this an error)"
        )


def _psolve_with_progress(
    network: Network, h: Any, pc: Any, tstop: float, progress: bool = True
) -> None:
    """psolve in at most ``PROGRESS_CHUNKS`` pieces, showing a tqdm bar on rank 0, and in
    pieces no longer than any report's buffer holds, each followed by the reports' flush.

    Each piece is a whole number of spike-exchange intervals (the minimum delay, in whole
    time steps), so the events and the spikes are those of one psolve.
    """
    from tqdm import tqdm  # here: tqdm costs import time and only progress needs it

    start = h.t
    steps_per_interval = max(1, math.floor(network.min_delay / h.dt + 1e-9))
    interval = steps_per_interval * h.dt
    intervals = max(1, math.ceil((tstop - start) / interval / PROGRESS_CHUNKS))
    if not progress:
        intervals = max(1, math.ceil((tstop - start) / interval))
    for report in network.reports:
        intervals = min(intervals, max(1, math.floor(report.span / interval + 1e-9)))
    chunk = intervals * interval
    rank = known_rank_size()[0]
    bar = tqdm(total=max(tstop - start, 0.0), unit="ms", disable=rank != 0 or not progress)
    with bar:
        for stop in piece_stops(start, tstop, chunk, h.dt):
            with watchdog("psolve"):
                pc.psolve(stop)
            for report in network.reports:
                report.flush()
            bar.update(stop - start - bar.n)
    for report in network.reports:
        report.finish()


def piece_stops(start: float, tstop: float, chunk: float, dt: float) -> list[float]:
    """Where each piece of a run from ``start`` to ``tstop`` ends: every ``chunk`` ms from
    ``start``, then ``tstop``; none when ``tstop`` is not after ``start``.

    ``start`` is NEURON's ``t``, which is a time asked for up to rounding on either side
    (29.99999999999883 after a run to 30). A last piece shorter than half a step is no
    piece: NEURON would not step in it, and the piece before may already have passed it,
    so that psolve would be asked for a time before ``t`` (its "Arg out of range").

    Example::

        piece_stops(29.99999999999883, 40, 10, 0.025)   # [40]
        piece_stops(0, 25, 10, 0.025)                   # [10, 20, 25]
    """
    if tstop <= start:
        return []
    count = max(1, math.ceil((tstop - start - dt / 2) / chunk))
    return [start + piece * chunk for piece in range(1, count)] + [tstop]
