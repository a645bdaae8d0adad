"""``p.parallel.map``: one function over many items on every rank of the job (a sweep).

Collective over the world, SPMD: every rank of ``mpiexec -n N python sweep.py`` calls it.
Rank 0's ``fn`` and items are broadcast once (cloudpickle), so an unpicklable one is the
same clear error on every rank before any task runs. The world is split with NEURON's
``pc.subworlds(k)``, so that each task has its own gid space and ``p.parallel`` acts on
the task's subworld of ``k`` ranks. Items are handed out dynamically by a
``transport.Farm``: the leader (rank 0) of each subworld, rank 0 of the world included,
takes the next chunk of indices from a counter in rank 0's memory, which needs nothing
from rank 0's program while it works; the chunk is broadcast inside the subworld. A leader
sends its outcomes (results, or the failure records of the items that raised) to rank 0
without waiting, together every few milliseconds; rank 0 takes them between its own tasks
and at the end, where the farm's guarded close, then one broadcast, tell every rank which
items failed. Every wait polls. A rank that ends inside a task (``sys.exit``,
``os._exit``, ``h.quit()``) ends the job at once, naming its item, and a fatal signal's
stack names the item. Before the first task and after each, NEURON's gids are cleared and
the sections a task left alive are deleted; after ``map`` the world is whole again
(``pc.subworlds(nhost_world)``).
"""

from __future__ import annotations

import gc
import io
import pickle
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import cloudpickle
import numpy as np

from .. import failfast, transport
from ..errors import (
    BroadcastError,
    CollectiveTimeoutError,
    ParallelError,
    TaskError,
    TaskFailure,
    describe_failures,
    error_record,
)
from ..hocerror import hoc_error, is_hoc_error
from ..log import logger
from ..ranks import rank_tag
from ..runtime import neuron_context, start
from . import randomness, runreport

# Seconds a leader gathers outcomes before sending them to rank 0 together.
_BATCH = 0.002
# The longest a failed item's repr is kept.
_ITEM_REPR = 200
# Failures spelled out in a TaskError's message; the rest are counted.
_LISTED = 10
_sweep_comms: dict[int, Any] = {}  # world communicator id -> its duplicate for map


def item_rng(seed: int, index: int) -> np.random.Generator:
    """A numpy random generator for item ``index`` of a sweep, the same whichever rank
    runs it and however many ranks there are: Philox keyed by (``seed``, ``index``), in
    the scheme of ``p.parallel.numpy_rng`` with the item in the gid's place but apart
    from every gid's stream (docs/randomness.md). ``seed`` is in 0 .. 2**30 - 1.

    Example::

        def simulate(job):
            index, weight = job
            rng = parnrn.item_rng(2024, index)
            noise = rng.normal(size=100)
            ...

        p.parallel.map(simulate, list(enumerate(weights)))
    """
    return randomness.numpy_generator(randomness.stream_ids(index, 0, seed, item=True))


def sweep(
    pc: Any,
    fn: Callable[[Any], Any],
    items: Iterable[Any] | None,
    ranks_per_task: int = 1,
    ordered: bool = True,
    chunksize: int = 1,
    timeout: float | None = None,
    return_exceptions: bool = False,
    results_everywhere: bool = False,
    progress: bool | None = None,
) -> list[Any] | None:
    """``fn`` over ``items`` (read on rank 0) on every rank; see ``ParallelContext.map``.
    ``pc`` is the process's ``ParallelContext`` façade. Collective over the world."""
    world = pc.world_comm
    size = 1 if world is None else world.Get_size()
    rank = 0 if world is None else world.Get_rank()
    settings = (
        f"ranks_per_task={ranks_per_task!r} ordered={ordered!r} chunksize={chunksize!r} "
        f"timeout={timeout!r} return_exceptions={return_exceptions!r} "
        f"results_everywhere={results_everywhere!r}"
    )
    if size > 1:
        transport.same_on_every_rank(settings, "map", world)
    _check_arguments(pc, size, ranks_per_task, chunksize, timeout)
    fn = _send_function(fn, rank, world)
    items = _send_to_every_rank("items", _listed(items) if rank == 0 else None, world)
    h = neuron_context()[0]
    runner = _Runner(h, pc, fn, items, timeout, ranks_per_task, rank)
    collector = _Collector(items, progress) if rank == 0 else None
    with runreport.map_task():  # a sweep of 1000 items would log 1000 run reports
        if size == 1:
            runner.begin()
            for index in range(len(items)):
                collector.add(runner.pack([runner.run(index)]))
        else:
            _spread(pc, world, runner, collector, items, ranks_per_task, chunksize)
    failed = transport.broadcast(collector.finish() if rank == 0 else None, 0, world)
    if failed and not return_exceptions:
        finished = collector.finished() if rank == 0 else None
        if results_everywhere:
            finished = transport.broadcast(finished, 0, world)
        raise TaskError(_failure_message(failed, len(items)), failed, finished)
    results = collector.results(ordered) if rank == 0 else None
    if results_everywhere:
        results = transport.broadcast(results, 0, world)
    failfast.hint_for_none(
        _NONE_HINT.format(site=transport.call_site()) if results is None else None
    )
    return results


_NONE_HINT = (
    "p.parallel.map (at {site}) returned None on this rank: its results are on rank 0 "
    "only. If this error comes from using them (an optimiser's map_function, say), call "
    "p.parallel.allmap (or map with results_everywhere=True) to get them on every rank"
)


def _check_arguments(pc: Any, size: int, ranks_per_task: Any, chunksize: Any, timeout: Any) -> None:
    """Raise ``ValueError`` for bad arguments, the same on every rank (they agree)."""
    where = f"{rank_tag()} p.parallel.map"
    if type(ranks_per_task) is not int or not 1 <= ranks_per_task <= size:
        raise ValueError(
            f"{where}: ranks_per_task must be an int in 1..{size}, not {ranks_per_task!r}"
        )
    if size % ranks_per_task:
        raise ValueError(
            f"{where}: ranks_per_task={ranks_per_task} does not divide the {size} ranks into "
            f"equal subworlds; run on a multiple of {ranks_per_task} ranks"
        )
    if type(chunksize) is not int or chunksize < 1:
        raise ValueError(f"{where}: chunksize must be an int >= 1, not {chunksize!r}")
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(
            f"{where}: timeout must be a number of seconds > 0 or None, not {timeout!r}"
        )
    if timeout is not None and threading.current_thread() is not threading.main_thread():
        raise ValueError(f"{where}: timeout needs map to be called from the main thread")
    if pc.size != size:
        raise ParallelError(
            f"{where} must be called on the whole world, but this rank is in a subworld of "
            f"{pc.size} ranks (pc.subworlds was called before); map makes its own subworlds "
            f"with ranks_per_task"
        )


def _listed(items: Any) -> Any:
    """Rank 0's items as a list, or what makes their broadcast fail on every rank."""
    try:
        return list(items)
    except Exception as exc:
        return _Unlisted(exc)


class _Unlisted:
    """Items that could not be listed on rank 0: pickling it raises why, and the
    broadcast raises the same ``BroadcastError`` on every rank."""

    def __init__(self, exc: Exception):
        self.exc = exc

    def __reduce__(self) -> Any:
        raise TypeError(f"items cannot be listed: {type(self.exc).__name__}: {self.exc}")


def _send_function(fn: Any, rank: int, world: Any) -> Callable[[Any], Any]:
    """Rank 0's ``fn`` on every rank, or the same ``BroadcastError`` on every rank.

    A function every rank can import (the script's own, under ``__main__`` too) travels
    by reference, so each rank calls its own copy with its own globals (``h``, ``p``,
    loaded data) as in any SPMD script; a lambda or closure travels by value
    (cloudpickle).
    """
    sent: tuple[str, Any] | None = None
    if rank == 0:
        try:
            sent = ("ok", _dumps_function(fn))
        except Exception as exc:
            sent = ("error", error_record(exc))
    state, blob = _send_to_every_rank("fn", sent, world)
    if state == "error":
        raise BroadcastError(_unsendable("fn", {0: blob}), {0: blob})
    try:
        with transport.collective(world):
            return pickle.loads(blob)
    except Exception as exc:
        failures = getattr(exc, "failures", None) or {_world_rank(world): error_record(exc)}
        raise BroadcastError(
            f"{rank_tag()} p.parallel.map could not load rank 0's fn on every rank: "
            f"{describe_failures(failures)}. Define fn where every rank can import it",
            failures,
        ) from exc


def _dumps_function(fn: Any) -> bytes:
    if not callable(fn):
        raise TypeError(f"fn must be callable, not {type(fn).__name__}")
    try:
        return pickle.dumps(fn, pickle.HIGHEST_PROTOCOL)  # by reference: importable
    except Exception:
        pass
    file = io.BytesIO()
    _ByValue(file, neuron_context()[0]).dump(fn)
    return file.getvalue()


class _ByValue(cloudpickle.Pickler):
    """cloudpickle, except that NEURON's ``h`` (which a lambda may use) is sent as a
    reference to each rank's own ``h``."""

    def __init__(self, file: Any, h: Any):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.h = h

    def reducer_override(self, obj: Any) -> Any:
        if obj is self.h:
            return _neuron_h, ()
        return super().reducer_override(obj)


def _neuron_h() -> Any:
    """This rank's NEURON ``h`` (what ``_ByValue`` sends for it)."""
    return neuron_context()[0]


def _world_rank(world: Any) -> int:
    return 0 if world is None else world.Get_rank()


def _unsendable(what: str, failures: dict[int, tuple[str, str, str]]) -> str:
    return (
        f"{rank_tag()} p.parallel.map could not send {what} from rank 0 to every rank (it "
        f"pickles them with cloudpickle): {describe_failures(failures, 0)}. Give map {what} "
        f"that pickle: build NEURON objects, open files and locks inside fn"
    )


def _send_to_every_rank(what: str, obj: Any, world: Any) -> Any:
    """Rank 0's ``obj`` on every rank, or the same clear ``BroadcastError`` on every rank."""
    try:
        return transport.broadcast(obj, 0, world)
    except BroadcastError as exc:
        raise BroadcastError(_unsendable(what, exc.failures), exc.failures) from exc


def _spread(
    pc: Any,
    world: Any,
    runner: _Runner,
    collector: _Collector | None,
    items: list[Any],
    ranks_per_task: int,
    chunksize: int,
) -> None:
    """Run the items on subworlds of ``ranks_per_task`` ranks, chunks handed out by the
    farm's counter on rank 0; outcomes go to rank 0's ``collector``. Collective."""
    size = world.Get_size()
    comm = _sweep_comms.get(id(world))
    if comm is None:
        comm = _sweep_comms[id(world)] = world.Dup()
    farm = transport.Farm(comm, "p.parallel.map")
    pc.subworlds(ranks_per_task)
    inner = pc.comm.Dup() if ranks_per_task > 1 else None
    # The world's own communicator cannot be replaced: given up on, it stays so.
    renewable = ranks_per_task < size
    leader = pc.rank == 0
    outbox = _Outbox(runner, farm, collector) if leader else None
    runner.begin()
    total = len(items)
    renew = False
    with failfast.stacks_on_termination():
        while True:
            first = farm.take(chunksize) if leader else None
            if inner is not None:
                with _waiting_in_subworld(inner, "its next chunk of items"):
                    first, renew = transport.broadcast((first, renew), 0, inner)
                if renew:
                    pc._renew_subworld_comm()
            if first >= total:
                break
            chunk = range(first, min(first + chunksize, total))
            outcomes = [runner.run(index) for index in chunk]
            if inner is not None:
                # In step again here (on ``inner``): a subworld that some rank gave up on
                # (a task's collective timed out) gets a new communicator before its next
                # item.
                report = (_failures_only(outcomes), renewable and bool(transport.gave_up(pc.comm)))
                with _waiting_in_subworld(inner, _items_text(chunk)):
                    gathered = transport.gather(report, 0, inner)
                if leader:
                    renew = any(gave_up for _, gave_up in gathered)
                    outcomes = _combine([failures for failures, _ in gathered], outcomes)
            if outbox is not None:
                outbox.put(outcomes)
        if outbox is not None:
            outbox.flush()
        farm.close(world, collector.add if collector is not None else None)
    if inner is not None:
        inner.Free()
    pc.subworlds(size)  # the world whole again, as before map


def _items_text(chunk: range) -> str:
    return f"item {chunk.start}" if len(chunk) == 1 else f"items {chunk.start}-{chunk[-1]}"


@contextmanager
def _waiting_in_subworld(inner: Any, what: str) -> Iterator[None]:
    """Where the ranks of a subworld meet between items, guarded as any parnrn collective:
    with a timeout configured, a rank of the subworld stuck in ``what`` ends ``map`` on the
    others, naming it by world rank, instead of leaving them waiting forever. No rank of
    the subworld can go on without it, and the world's end of ``map`` waits for them all."""
    try:
        yield
    except CollectiveTimeoutError as exc:
        first = start().rank - inner.Get_rank()  # subworlds are blocks of world ranks
        stuck = [first + r for r in exc.missing]
        raise CollectiveTimeoutError(
            f"{rank_tag()} map: world rank(s) {', '.join(map(str, stuck))} of this rank's "
            f"subworld never ended {what}; no rank of the subworld can go on without them, "
            f"so map cannot end: {exc}",
            stuck,
        ) from exc


class _Outbox:
    """A leader's outcomes on their way to rank 0, sent together at most every
    ``_BATCH`` seconds (one message, not one per chunk, for many short tasks) and at the
    end, without waiting for rank 0. On rank 0 they go straight to the collector, which
    then takes what the others sent."""

    def __init__(self, runner: _Runner, farm: Any, collector: _Collector | None):
        self.runner, self.farm, self.collector = runner, farm, collector
        self.pending: list[Outcome] = []
        self.last = time.perf_counter()

    def put(self, outcomes: list[Outcome]) -> None:
        self.pending.extend(outcomes)
        if time.perf_counter() - self.last >= _BATCH:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            payload = self.runner.pack(self.pending)
            self.pending = []
            if self.collector is not None:
                self.collector.add(payload)
            else:
                self.farm.send(payload)
        if self.collector is not None:
            for payload in self.farm.arrived():
                self.collector.add(payload)
        self.last = time.perf_counter()


# An outcome: (index, value) for an item that returned, (index, TaskFailure, exception
# pickled or None) for one that raised.
Outcome = tuple


class _Runner:
    """Runs one item on this rank: deadline, exception capture, NEURON clean-up."""

    def __init__(
        self, h: Any, pc: Any, fn: Any, items: list[Any], timeout: float | None, k: int, rank: int
    ):
        self.h, self.pc, self.fn, self.items, self.timeout, self.k = h, pc, fn, items, timeout, k
        self.world_rank = rank
        self.subworld = rank // k
        self.baseline: set[Any] = set()
        self.warned = False

    def begin(self) -> None:
        """Start from no gids; the sections that exist now are the user's and stay."""
        self.pc.gid_clear()
        self.baseline = set(self.h.allsec())

    def run(self, index: int) -> Outcome:
        """Item ``index``'s outcome: ``(index, value)``, or ``(index, TaskFailure,
        pickled exception or None)``; then clean NEURON's state for the next item."""
        item = self.items[index]
        began = time.perf_counter()
        what = f"p.parallel.map item {index}"
        try:
            if self.k > 1:
                # Not interrupted: its ranks may wait for each other inside NEURON, where
                # an exception on one rank leaves the others stuck. A block collective
                # over the subworld: a rank that fails before a parnrn collective makes
                # the others waiting in it raise, instead of leaving them there.
                with transport.collective(self.pc.comm):
                    value = failfast.call_inside(what, self.fn, item)
            elif self.timeout is None:
                value = failfast.call_inside(what, self.fn, item)
            else:
                with _deadline(self.timeout, index):
                    value = failfast.call_inside(what, self.fn, item)
        except Exception as exc:
            outcome = self._failure(index, item, exc)
        else:
            outcome = (index, value)
            elapsed = time.perf_counter() - began
            if self.k > 1 and self.timeout is not None and elapsed > self.timeout:
                late = TimeoutError(
                    f"{rank_tag()} item {index} took {elapsed:.3g} s, past its timeout of "
                    f"{self.timeout:g} s (a task of {self.k} ranks runs to its end)"
                )
                outcome = self._failure(index, item, late)
        self._clean(index)
        return outcome

    def _failure(self, index: int, item: Any, exc: BaseException) -> Outcome:
        if is_hoc_error(exc):
            hoc = hoc_error(f"item {index}", exc)
            hoc.__cause__, hoc.__traceback__ = exc, exc.__traceback__
            exc = hoc
        type_name, message, text = error_record(exc)
        failure = TaskFailure(
            index, _short_repr(item), self.world_rank, self.subworld, type_name, message, text
        )
        try:
            exception = cloudpickle.dumps(exc)
        except Exception:
            exception = None
        return (index, failure, exception)

    def pack(self, outcomes: list[Outcome]) -> bytes:
        """The outcomes as bytes for rank 0; a result that cannot be pickled fails its item.
        The C pickler first: several times cheaper for small results."""
        try:
            return pickle.dumps(outcomes, pickle.HIGHEST_PROTOCOL)
        except Exception:
            pass
        try:
            return cloudpickle.dumps(outcomes, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            pass
        packed = []
        for outcome in outcomes:
            try:
                cloudpickle.dumps(outcome)
            except Exception as exc:
                index = outcome[0]
                unsent = TypeError(
                    f"{rank_tag()} the result of item {index} ({type(outcome[1]).__name__}) "
                    f"cannot be sent to rank 0: {exc}"
                )
                unsent.__cause__ = exc
                outcome = self._failure(index, self.items[index], unsent)
            packed.append(outcome)
        return cloudpickle.dumps(packed, protocol=pickle.HIGHEST_PROTOCOL)

    def _clean(self, index: int) -> None:
        """No gids and none of the task's sections left for the next task."""
        self.pc.gid_clear()
        h = self.h
        if not self.baseline:
            for _ in h.allsec():
                break
            else:
                return  # no section at all: the common case, cheaply
        elif sum(1 for _ in h.allsec()) <= len(self.baseline):
            return
        gc.collect()  # sections in reference cycles
        left = [sec for sec in h.allsec() if sec not in self.baseline]
        if not left:
            return
        if not self.warned:
            self.warned = True
            names = ", ".join(sec.name() for sec in left[:5])
            logger.warning(
                f"item {index} left {len(left)} section(s) alive after it ended ({names}"
                f"{', ...' if len(left) > 5 else ''}), held by a reference outside the task "
                f"(a global, a cache); deleted so that the next task starts clean (warned "
                f"once per map)"
            )
        for sec in left:
            h.delete_section(sec=sec)


@contextmanager
def _deadline(seconds: float, index: int) -> Iterator[None]:
    """Raise ``TimeoutError`` in the block after ``seconds`` (SIGALRM: at the next
    Python line, or when a long NEURON call returns)."""

    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"{rank_tag()} item {index} ran past its timeout of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _short_repr(item: Any) -> str:
    try:
        text = repr(item)
    except Exception:
        text = f"<{type(item).__name__} whose repr() failed>"
    return text if len(text) <= _ITEM_REPR else text[: _ITEM_REPR - 3] + "..."


def _failures_only(outcomes: list[Outcome]) -> list[Outcome]:
    """What a rank of a subworld tells its leader: only its failures."""
    return [outcome for outcome in outcomes if len(outcome) == 3]


def _combine(gathered: list[list[Outcome]], mine: list[Outcome]) -> list[Outcome]:
    """A subworld's outcomes on its leader: the leader's, unless some rank failed; then
    the first failure that is not only a report of another rank's (RemoteRankError)."""
    failures: dict[int, list[Outcome]] = {}
    for rank_failures in gathered:
        for outcome in rank_failures:
            failures.setdefault(outcome[0], []).append(outcome)
    combined = []
    for outcome in mine:
        found = failures.get(outcome[0])
        if found:
            origins = [f for f in found if f[1].type_name != "RemoteRankError"]
            outcome = (origins or found)[0]
        combined.append(outcome)
    return combined


class _Collector:
    """Rank 0's side: outcomes in, progress bar, results out."""

    def __init__(self, items: list[Any], progress: bool | None):
        from tqdm import tqdm  # here: only rank 0 of a map pays for it

        self.items = items
        self.values: dict[int, Any] = {}
        self.order: list[int] = []
        self.failed: dict[int, tuple[TaskFailure, Any]] = {}
        show = sys.stderr.isatty() if progress is None else bool(progress)
        self.bar = tqdm(total=len(items), unit="item", desc="map", disable=not show)

    def add(self, payload: bytes) -> None:
        for outcome in pickle.loads(payload):
            index = outcome[0]
            self.order.append(index)
            if len(outcome) == 2:
                self.values[index] = outcome[1]
            else:
                self.failed[index] = (outcome[1], outcome[2])
                self.bar.set_postfix(failed=len(self.failed), refresh=False)
            self.bar.update(1)

    def finish(self) -> list[TaskFailure]:
        self.bar.close()
        return [self.failed[index][0] for index in sorted(self.failed)]

    def finished(self) -> dict[int, Any]:
        return dict(sorted(self.values.items()))

    def results(self, ordered: bool) -> list[Any]:
        indices = range(len(self.items)) if ordered else self.order
        return [
            self.values[index] if index in self.values else self._exception(index)
            for index in indices
        ]

    def _exception(self, index: int) -> BaseException:
        failure, pickled = self.failed[index]
        exc: BaseException | None = None
        if pickled is not None:
            try:
                exc = pickle.loads(pickled)
            except Exception:
                exc = None
        if not isinstance(exc, BaseException):
            exc = RuntimeError(f"{failure.type_name}: {failure.message}")
        add_note = getattr(exc, "add_note", None)
        if add_note is not None:
            add_note(f"in p.parallel.map: {failure}\n{failure.traceback}")
        return exc


def _failure_message(failed: list[TaskFailure], total: int) -> str:
    lines = [str(failure) for failure in failed[:_LISTED]]
    if len(failed) > _LISTED:
        lines.append(f"... and {len(failed) - _LISTED} more (see .tasks)")
    first = "".join(f"\n    {line}" for line in failed[0].traceback.rstrip("\n").splitlines())
    return (
        f"{rank_tag()} {len(failed)} of {total} item(s) failed in p.parallel.map:\n  "
        + "\n  ".join(lines)
        + f"\n  traceback of item {failed[0].index} on rank {failed[0].rank}:{first}"
    )
