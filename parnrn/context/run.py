"""Running a network: the steps NEURON needs before ``psolve``, in the right order.

``run`` agrees with the other ranks on what must happen (one header exchange), checks the
gids when they changed, calls ``set_maxstep(10)`` (whose answer is the global minimum
delay), ``setup_transfer()`` on every rank when any rank declared transfer variables (a
run hangs when only some ranks call it: NEURON issue #1002), ``finitialize`` on the first
run, then ``psolve``. Later runs continue from the current time, like ``continuerun``.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import GidError
from ..log import logger
from ..settings import settings
from ..transport import guard
from ..watchdog import watchdog
from . import gids
from .gids import tag

if TYPE_CHECKING:
    from .parallel import ParallelContext

# Most progress-bar chunks a run is cut into: psolve's fixed cost stays far below 1 %.
PROGRESS_CHUNKS = 100


@dataclass
class RunState:
    """What this rank's runs have done so far."""

    initialized: bool = False
    transfer_pending: bool = False
    min_delay: float | None = None


def run(
    parallel: ParallelContext,
    tstop: float,
    v_init: float | None = None,
    progress: bool = False,
    strict: bool | None = None,
) -> None:
    """Run (or continue) the simulation to ``tstop`` ms on every rank. Collective."""
    with _collection_paused(collect_first=not parallel.run_state.initialized):
        prepare(parallel, strict)
        if not parallel.run_state.initialized:
            finitialize(parallel, v_init)
        if progress:
            _psolve_with_progress(parallel, tstop)
        else:
            with watchdog("psolve"):
                parallel.__neuron__().psolve(tstop)


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


def prepare(parallel: ParallelContext, strict: bool | None = None) -> None:
    """Everything before ``finitialize``: gid check, maxstep, transfer set-up, and spike
    recording of every gid when ``spike_record`` was not called. Collective."""
    state, registry, pc = parallel.run_state, parallel.registry, parallel.__neuron__()
    transfer, changed = state.transfer_pending, registry.changed()
    if parallel.size > 1:
        headers = guard.exchange(parallel.comm, "run", blob=bytes([transfer, changed]))
        transfer = any(h.inline[0] for h in headers)
        changed = any(h.inline[1] for h in headers)
    if changed:
        _report(*gids.check(parallel.comm, registry), settings.strict if strict is None else strict)
    with watchdog("set_maxstep"):
        min_delay = float(pc.set_maxstep(10))
    # NEURON answers with this rank's minimum; the exchange interval is the global one.
    state.min_delay = min_delay if parallel.size == 1 else parallel.allreduce(min_delay, "min")
    if transfer:
        with watchdog("setup_transfer"):
            pc.setup_transfer()
        state.transfer_pending = False
    if not parallel.records.pairs:
        parallel.spike_record(-1)


def finitialize(parallel: ParallelContext, v_init: float | None = None) -> None:
    """``h.finitialize(v_init)`` (NEURON's default without one), and remember it."""
    from ..runtime import neuron_context

    h = neuron_context()[0]
    if v_init is None:
        h.finitialize()
    else:
        h.finitialize(v_init)
    parallel.run_state.initialized = True


def _report(lines: list[str], total: int, strict: bool) -> None:
    if not total:
        return
    more = f"\n  ... and {total - len(lines)} more" if total > len(lines) else ""
    message = f"{total} gid problem(s) found before the run:\n  " + "\n  ".join(lines) + more
    if strict:
        raise GidError(f"{tag()} {message}")
    from ..runtime import known_rank_size

    if known_rank_size()[0] == 0:
        logger.warning(
            message + "\n(configure(strict=True) or run(strict=True) makes this an error)"
        )


def _psolve_with_progress(parallel: ParallelContext, tstop: float) -> None:
    """psolve in at most ``PROGRESS_CHUNKS`` pieces, showing a tqdm bar on rank 0.

    Each piece is a whole number of spike-exchange intervals (the minimum delay, in whole
    time steps), so the events and the spikes are those of one psolve.
    """
    from tqdm import tqdm

    from ..runtime import neuron_context

    h, pc = neuron_context()
    start = h.t
    steps_per_interval = max(1, math.floor(parallel.run_state.min_delay / h.dt + 1e-9))
    interval = steps_per_interval * h.dt
    intervals = max(1, math.ceil((tstop - start) / interval / PROGRESS_CHUNKS))
    chunk = intervals * interval
    with tqdm(total=max(tstop - start, 0.0), unit="ms", disable=parallel.rank != 0) as bar:
        for piece in range(1, math.ceil((tstop - start) / chunk) + 1):
            stop = min(start + piece * chunk, tstop)
            with watchdog("psolve"):
                pc.psolve(stop)
            bar.update(stop - start - bar.n)
