"""Rank-aware agreement for every parnrn collective, in constant space per rank.

Each collective starts with one *agreement*: a non-blocking MAX reduction of ``WORDS``
unsigned 64-bit words, the same MPI operation whatever parnrn collective a rank is in,
so its cost does not grow with the number of ranks beyond the reduction's own O(log P)
steps. Each rank contributes:

- the call fingerprint (operation, root, per-communicator sequence number) and its
  bitwise complement: the ranks agree when ``max(fp) == ~max(~fp)``, that is when every
  rank's fingerprint is the same; otherwise ``CollectiveMismatchError`` instead of a hang;
- whether its local step (say, serialization) failed, and whether what it sends needs a
  trailing confirmation (``confirm``) because loading it may fail on another rank;
- optionally a digest of a *layout* (dtypes, shapes) that must be equal on every rank,
  with its complement, compared the same way;
- a word any rank may raise (``value``: the largest wins), and the root's sizes and a
  small payload inline (every other rank contributes zeros), so that a small broadcast
  needs no second message.

When anything is off, every rank sees it in the same reduced words and takes the same
slow path: an ``allgather`` of descriptions (operation, root, call site, exception,
layout), O(P) only on failure, and the same exception raised everywhere.

The reduction is a *persistent* ``Allreduce_init`` request, made once per communicator
(at its first agreement, which is every rank's first parnrn call on it) and started for
each agreement: starting it costs ~1 us less than posting a new ``Iallreduce`` (half the
cost of a small agreement). Without MPI-4's persistent collectives every agreement posts
an ``Iallreduce`` instead; one MPI library serves every rank, so all take the same way.

Waiting is always polled (spinning first, as MPI's blocking waits do, then backing off),
so Python handles signals while a rank waits. The data phases after the agreement wait the
same way (``complete``), so every step of a collective is bounded by the timeout. With a
timeout configured, on expiry the waiting ranks tell each other where they are on the
guarded communicator itself and raise ``CollectiveTimeoutError`` naming the ranks that never
arrived. A rank whose wait ends without its request (a timeout, a caught Ctrl-C) gives up
on the communicator for good: every later collective on it raises at once (``_refuse``),
because the ranks are out of step and their calls can no longer be matched one for one; a
late rank's stale message or agreement would otherwise complete a different call and
return a wrong value. The abandoned requests stay posted, owning their buffers, for the
late ranks to complete; a late rank's own next wait names the ranks that gave up.
"""

from __future__ import annotations

import math
import os
import struct
import sys
import time
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import runtime
from ..errors import (
    CollectiveMismatchError,
    CollectiveTimeoutError,
    ParallelError,
    RankLostError,
    RemoteRankError,
    describe_failures,
    error_record,
)
from ..ranks import rank_tag
from ..settings import settings
from .serialize import busy_with

WORDS = 32
# The words, in order: fingerprint and complement, failed, layout digest and complement
# (the *checked* words: when all is well every rank's are the same, so the reduced ones
# equal this rank's own), then needs confirmation, the value any rank may raise, the root's
# blob length, buffer count and inline length (the *learned* words); then the inline bytes.
_HEAD = struct.Struct("<10Q")
_CHECKED = struct.Struct("<5Q")
_LEARNED = struct.Struct("<5Q")
# The agreement at the end of a ``collective()`` block.
BLOCK_END = "collective"
INLINE_CAPACITY = WORDS * 8 - _HEAD.size
_ALL = 2**64 - 1
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TIMEOUT_TAG = 7001
# Clocks of different nodes agree to within this when telling a fresh timeout notice from
# one left over from an earlier timeout.
_CLOCK_SLACK = 0.5
# How long a waiting rank polls without sleeping: MPI's own blocking waits busy-poll, and a
# sleep costs ~60 us of latency however short it is asked; after this it backs off.
_SPIN_SECONDS = 0.02
_QUICK_TESTS = range(64)
# Requests the missing ranks may never complete: timeout notices, abandoned data phases.
_unfinished_requests: list[Any] = []
_yield_cpu = getattr(os, "sched_yield", lambda: None)


class Agreement:
    """What every rank learned from an agreement, identical on every rank."""

    __slots__ = ("_learned", "_inline", "same_layout")

    def __init__(self, learned: tuple, inline: memoryview, same_layout: bool):
        self._learned, self._inline, self.same_layout = learned, inline, same_layout

    @property
    def confirm(self) -> bool:
        """Whether some rank asked for a trailing ``confirm``."""
        return bool(self._learned[0])

    @property
    def value(self) -> int:
        """The largest ``value`` any rank gave."""
        return self._learned[1]

    @property
    def blob_len(self) -> int:
        """The length of the root's blob."""
        return self._learned[2]

    @property
    def nbufs(self) -> int:
        """The number of the root's out-of-band buffers."""
        return self._learned[3]

    @property
    def inline(self) -> memoryview:
        """The part of the root's blob that travelled inside the agreement."""
        return self._inline[: self._learned[4]]

    def whole_inline(self) -> bool:
        """Whether the root's whole blob travelled inside the agreement."""
        return self._learned[4] == self._learned[2]


def call_site() -> str:
    """file:line of the first caller outside parnrn."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None:
        return "<unknown>"
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"


def _digest(text: str) -> int:
    """A non-zero 63-bit digest of ``text`` (zero means "nothing to compare")."""
    data = text.encode()
    return ((zlib.crc32(data) << 31) ^ zlib.adler32(data) ^ len(data)) & (2**63 - 1) | 1


class _CommState:
    """Per-communicator sequence number, agreement buffers and request."""

    def __init__(self, comm: Any) -> None:
        self.seq = 0
        self.waiting_in: str | None = None  # the agreement a thread of this rank waits in
        # uint64 numpy buffers: mpi4py reads their MPI type from them, at no cost per call.
        self.mine = np.zeros(WORDS, dtype=np.uint64)
        self.reduced = np.zeros(WORDS, dtype=np.uint64)
        self.mine_bytes = memoryview(self.mine).cast("B")
        reduced_bytes = memoryview(self.reduced).cast("B")
        self.inline = reduced_bytes[_HEAD.size :]
        self.checked_mine = self.mine_bytes[: _CHECKED.size]
        self.checked_reduced = reduced_bytes[: _CHECKED.size]
        self.dirty = 0  # inline bytes of this rank's own last contribution, to clear
        # Set when a wait of this rank on the communicator ended without its request (a
        # timeout, Ctrl-C): (what happened, the ranks that never arrived).
        self.gave_up: tuple[str, list[int]] | None = None
        # A communicator exists: MPI has started.
        self.request = _agreement_request(comm, self.mine, self.reduced, runtime.start().MPI)


def _agreement_request(comm: Any, mine: Any, reduced: Any, MPI: Any) -> Any:
    """The MAX reduction of ``mine`` into ``reduced``, as a request to ``Start`` and
    ``Test`` once per agreement."""
    try:
        return comm.Allreduce_init(mine, reduced, MPI.MAX)
    except NotImplementedError:  # an MPI library older than MPI-4
        return _PostedAgreement(comm, mine, reduced, MPI.MAX)


class _PostedAgreement:
    """The agreement as a new ``Iallreduce`` per call, behind a persistent request's
    ``Start`` and ``Test``."""

    def __init__(self, comm: Any, mine: Any, reduced: Any, op: Any) -> None:
        self._post = lambda: comm.Iallreduce(mine, reduced, op)
        self._request: Any = None

    def Start(self) -> None:  # noqa: N802 (the name of mpi4py's method)
        self._request = self._post()

    def Test(self) -> bool:  # noqa: N802
        return self._request.Test()


_states: dict[int, _CommState] = {}
_forked_from: int | None = None  # in a process forked from a rank: that rank's pid
_parents_states: list[_CommState] = []  # kept: freeing their requests would call MPI
# The caches kept per communicator, keyed by its handle. MPI gives a new communicator the
# handle of one freed before (Open MPI at once), which must not inherit the freed one's
# sequence number, give-up or persistent request: freeing a communicator empties them of
# it (an attribute of the communicator whose delete callback MPI calls).
per_communicator: list[dict[int, Any]] = [_states]
_forget_on_free: Any = None  # the attribute's key, made with the first state


def _new_state(comm: Any, op: str) -> _CommState:
    global _forget_on_free
    if _forked_from is not None:
        _refuse_in_forked_child(comm, op)
    if _forget_on_free is None:
        _forget_on_free = runtime.start().MPI.Comm.Create_keyval(delete_fn=_forget)
    handle = comm.handle
    state = _states[handle] = _CommState(comm)
    comm.Set_attr(_forget_on_free, handle)
    return state


def _forget(comm: Any, key: Any, handle: int) -> None:
    """MPI frees the communicator that had ``handle``: drop what was kept for it."""
    state = _states.get(handle)
    if state is not None and state.gave_up is not None:
        # Its abandoned agreement may still be in flight: MPI writes into its buffers when
        # the late ranks arrive, so they live on with the other unfinished requests.
        _unfinished_requests.append(state)
    for cache in per_communicator:
        cache.pop(handle, None)


def _forget_communicators_in_child() -> None:
    """In a forked child: every communicator is unknown, so that its first collective
    reaches ``_new_state`` and is refused there, at no cost to a rank's calls."""
    global _forked_from
    _forked_from = os.getppid()
    _parents_states.extend(_states.values())
    _states.clear()


os.register_at_fork(after_in_child=_forget_communicators_in_child)


def _refuse_in_forked_child(comm: Any, op: str) -> None:
    raise ParallelError(
        f"{rank_tag(comm.Get_rank(), comm.Get_size())} {op} called in process {os.getpid()}, "
        f"forked from this rank (process {_forked_from}): a forked child shares its rank's "
        f"MPI state but is not a rank, and its MPI calls take the messages other ranks send "
        f"to its parent. Make the call in the rank itself, and return what the child "
        f"computed to it (as multiprocessing does)"
    )


_fingerprints: dict[tuple[str, Any], int] = {}


def _fingerprint_base(op: str, root: Any) -> int:
    base = _fingerprints[(op, root)] = zlib.crc32(f"{op}:{root}".encode()) << 32
    return base


def agree(
    comm: Any,
    op: str,
    root: int = -1,
    *,
    blob: bytes | memoryview = b"",
    nbufs: int = 0,
    confirm: bool = False,
    error: BaseException | None = None,
    error_class: type[ParallelError] = ParallelError,
    layout: str | None = None,
    layout_name: str = "layout",
    layout_must_match: bool = True,
    value: int = 0,
    site: str | None = None,
    wait: Callable[[Any], None] | None = None,
) -> Agreement:
    """Agree on a collective; raise the same exception on every rank if any rank failed,
    the ranks are not in the same call, or their ``layout`` differs.

    ``blob``, ``nbufs`` are the root's (``blob`` goes inline when it fits); ``confirm``
    asks for a trailing ``confirm`` on every rank; ``value`` is a word of which every rank
    learns the largest; ``site`` names this call in error messages (default: the first
    caller outside parnrn); with ``layout_must_match=False`` differing layouts are only
    reported (``Agreement.same_layout``); ``wait``, when given, completes the request
    instead of the configured timeout (the exit agreement waits by its own rules). The
    result lives in a buffer that the next agreement on ``comm`` reuses.
    """
    # The hot path of every collective: plain attribute and dict lookups, no helpers.
    state = _states.get(comm.handle) or _new_state(comm, op)
    if state.waiting_in is not None or state.gave_up is not None or busy_with() is not None:
        _refuse(comm, op, state)
    state.seq = seq = state.seq + 1
    request = state.request
    mine = state.mine_bytes
    fp = 0
    if settings.checks:
        fp = _fingerprints.get((op, root)) or _fingerprint_base(op, root)
        fp |= seq & 0xFFFFFFFF
    layout_digest = _digest(layout) if layout is not None and error is None else 0
    blob_len = nbufs_sent = inline_len = 0
    if blob and error is None and comm.Get_rank() == root:
        blob_len, nbufs_sent = len(blob), nbufs
        if blob_len <= INLINE_CAPACITY:
            inline_len = blob_len
    _HEAD.pack_into(
        mine, 0, fp, fp ^ _ALL, error is not None, layout_digest, layout_digest ^ _ALL,
        confirm, value, blob_len, nbufs_sent, inline_len,
    )  # fmt: skip
    if state.dirty > inline_len:  # every rank but the root contributes zeros there
        mine[_HEAD.size + inline_len : _HEAD.size + state.dirty] = bytes(state.dirty - inline_len)
    if inline_len:
        mine[_HEAD.size : _HEAD.size + inline_len] = blob
    state.dirty = inline_len
    # Always the same non-blocking operation: MPI never matches a blocking collective with
    # a non-blocking one, and polling lets signals and the timeout act while waiting.
    request.Start()
    state.waiting_in = op
    try:
        if wait is not None:
            wait(request)
        else:
            for _ in _QUICK_TESTS:  # a peer already on its way: no clock, no yield
                if request.Test():
                    break
            else:
                _wait_or_time_out(comm, request, op, root, seq)
    except BaseException as exc:
        _give_up(state, f"{op} #{seq}", exc)
        raise
    finally:
        state.waiting_in = None
    same_layout = True
    # max(x) == ~max(~x) exactly when every rank gave the same x; then the reduced checked
    # words are this rank's own, which a byte comparison tells at a fraction of the cost.
    if error is not None or state.checked_reduced != state.checked_mine:
        fp, fp_not, failed, digest, digest_not = _CHECKED.unpack_from(state.reduced)
        mismatch = fp != fp_not ^ _ALL
        same_layout = digest == digest_not ^ _ALL
        if mismatch or failed or (not same_layout and layout_must_match):
            _raise_for_everyone(
                comm, op, root, seq, error, error_class, mismatch, site, layout, layout_name
            )
    learned = _LEARNED.unpack_from(state.reduced, _CHECKED.size)
    return Agreement(learned, state.inline, same_layout)


def complete(comm: Any, request: Any, op: str, root: int = -1) -> None:
    """Wait for ``request``, a data phase of the collective ``op`` that has just agreed on
    ``comm``, as the agreement waits: polled, so that signals act, and bounded by the
    configured timeout, which names the ranks that never arrived. ``request`` is an MPI
    request or anything with a ``Test()`` that says whether it is done.

    It spins (yielding the CPU) without ever sleeping, as MPI's blocking calls do: MPI moves
    a large message only while it is tested, and sleeps between tests made a 160 MB
    ``Alltoallv`` 25 times slower.

    Example::

        complete(comm, comm.Ibcast(buffer, root), "broadcast", root)
    """
    for _ in _QUICK_TESTS:
        if request.Test():
            return
    state = _states[comm.handle]
    try:
        _wait_or_time_out(comm, request, f"{op} (data)", root, state.seq, spin=math.inf)
    except BaseException as exc:
        # Abandoned, it stays posted and owns its buffers (mpi4py keeps them): a late rank
        # that arrives completes it.
        _unfinished_requests.append(request)
        _give_up(state, f"{op} (data) #{state.seq}", exc)
        raise


def _give_up(state: _CommState, call: str, exc: BaseException) -> None:
    """This rank's wait in ``call`` ended with ``exc`` before its request completed: the
    ranks are out of step on the communicator, and this rank refuses every later
    collective on it."""
    if isinstance(exc, CollectiveTimeoutError):
        missing = exc.missing
        how = f"timed out (rank(s) {', '.join(map(str, missing)) or 'none'} never arrived)"
    else:
        missing, how = [], f"was interrupted by {type(exc).__name__}"
    state.gave_up = state.gave_up or (f"{call} {how}", missing)


def gave_up(comm: Any) -> str | None:
    """Why this rank gave up on ``comm`` (``"barrier #3 timed out (rank(s) 1 never
    arrived)"``: a timeout or Ctrl-C in a wait), or None if it has not. Once it has, every
    collective on ``comm`` is refused.

    Example::

        if gave_up(comm):
            comm = fresh_communicator()   # made where the ranks are in step again
    """
    state = _states.get(comm.handle)
    return None if state is None or state.gave_up is None else state.gave_up[0]


def _refuse(comm: Any, op: str, state: _CommState) -> None:
    """Raise for a collective that must not start: this rank gave up on ``comm`` after a
    timeout, is pickling data for one (a ``__reduce__`` calling it), or is already inside
    a collective on it (another thread: ``RankLostError``, which ends the job)."""
    tag = rank_tag(comm.Get_rank(), comm.Get_size())
    if state.gave_up is not None:
        what, missing = state.gave_up
        raise CollectiveTimeoutError(
            f"{tag} {op} refused: this rank gave up on this communicator when {what}. Its "
            f"ranks are out of step, so no later collective on it can be matched call for "
            f"call; end the job (an uncaught exception does) or go on with another "
            f"communicator",
            missing,
        )
    if busy_with() is not None:
        raise ParallelError(
            f"{tag} {op} called while this rank is {busy_with()} data for another "
            f"collective (from a __reduce__, __getstate__ or __setstate__): the other ranks "
            f"are not in it and would wait forever; make the call before or after the "
            f"collective"
        )
    # The other ranks make this call too and would wait in it forever: unlike the refusals
    # above, which every rank reaches alike, this one ends the job.
    raise RankLostError(
        f"{tag} {op}: another thread of this rank waits in {state.waiting_in} on this "
        f"communicator, so this rank cannot make the call, which the other ranks make and "
        f"would wait in forever; call parnrn's collectives on one communicator from one "
        f"thread at a time (or give each thread its own)"
    )


def confirm(
    comm: Any,
    op: str,
    error: BaseException | None,
    error_class: type[ParallelError],
    root: int = -1,
) -> None:
    """Trailing agreement: if any rank failed after the data moved, all raise."""
    agree(comm, f"{op} (loading)", root, error=error, error_class=error_class)


def _raise_for_everyone(
    comm: Any,
    op: str,
    root: int,
    seq: int,
    error: BaseException | None,
    error_class: type[ParallelError],
    mismatch: bool,
    site: str | None,
    layout: str | None,
    layout_name: str,
) -> None:
    record = error_record(error) if error is not None else None
    mine = (op, root, seq, site or call_site(), record, layout)
    everyone = comm.allgather(mine)
    failures = {rank: rec for rank, (*_, rec, _) in enumerate(everyone) if rec}
    tag = rank_tag(comm.Get_rank(), comm.Get_size())
    if mismatch:
        where = {rank: (name, r, s, at) for rank, (name, r, s, at, *_) in enumerate(everyone)}
        left_block = [r for r, (name, *_) in where.items() if name == BLOCK_END]
        if failures and left_block and op != BLOCK_END:
            # Ranks failed inside a collective() block before reaching this call, and wait
            # at the block's end: this call is abandoned, and so is the block's end here.
            remote = RemoteRankError(
                f"{tag} {op} at {site or call_site()} abandoned: rank(s) "
                f"{', '.join(map(str, left_block))} failed inside the collective() block "
                f"around it: {describe_failures(failures)}",
                failures,
            )
            remote.ended_block = True
            raise remote
        text = "; ".join(
            f"rank {rank} in {name}(root={r}) #{s} at {at}"
            for rank, (name, r, s, at) in where.items()
        )
        raise CollectiveMismatchError(
            f"{tag} ranks entered different collectives: {text}", failures, where
        )
    if not failures:  # the layouts differ: compare every rank with the root (or rank 0)
        reference = max(root, 0)
        ours = everyone[reference][-1]
        whose = "the root's" if root >= 0 else f"rank {reference}'s"
        failures = {
            rank: ("ValueError", f"its {layout_name} is {theirs}, {whose} {ours}", "")
            for rank, (*_, theirs) in enumerate(everyone)
            if theirs != ours
        }
        raise error_class(f"{tag} {op} failed on {describe_failures(failures)}", failures)
    message = f"{op} failed on {describe_failures(failures, root)}"
    raise error_class(f"{tag} {message}", failures) from error


def _wait_or_time_out(
    comm: Any, request: Any, op: str, root: int, seq: int, spin: float = _SPIN_SECONDS
) -> None:
    """Complete ``request``, raising ``CollectiveTimeoutError`` after ``settings.timeout``.

    Polls without sleeping for ``spin`` seconds, then sleeps between tests (backing off
    to 5 ms), so that a rank that waits long costs little CPU; Python handles signals
    (Ctrl-C) throughout.
    """
    now = time.monotonic()
    spin_end = now + spin
    deadline = None if settings.timeout is None else now + settings.timeout
    started = time.time()
    pause = 0.0
    while not request.Test():
        if pause:
            time.sleep(pause)
            pause = min(pause * 2, 0.005)
        else:
            _yield_cpu()  # to the rank we wait for, when ranks outnumber cores
        now = time.monotonic()
        if now > spin_end and not pause:
            pause = 5e-5
        if deadline is not None and now > deadline:
            _raise_timeout(comm, op, root, seq, started)


def _raise_timeout(comm: Any, op: str, root: int, seq: int, started: float) -> None:
    """Tell the other ranks of ``comm`` where this rank waits, give up on ``comm`` and
    raise. Whoever stays silent for a grace period never arrived. A rank counts as present
    when it too timed out while this one waited, wherever it waits: a rank already in the
    next collective is not missing. A notice sent before this wait began is from a rank
    that gave up on ``comm`` earlier: it will never arrive, and the message says so. The
    notices travel on ``comm`` itself, so the ranks are numbered as the caller numbers
    them, on any communicator."""
    MPI = runtime.start().MPI
    rank, size = comm.Get_rank(), comm.Get_size()
    site = call_site()
    notice = (op, root, site, time.time())
    # Kept alive for good: the missing ranks may never receive them.
    _unfinished_requests.extend(
        comm.isend(notice, dest, _TIMEOUT_TAG) for dest in range(size) if dest != rank
    )
    waiting = {rank: (op, root, site)}
    gave_up: dict[int, tuple[str, int, str]] = {}
    grace_end = time.monotonic() + min(2.0, max(0.5, settings.timeout))
    status = MPI.Status()
    while time.monotonic() < grace_end and len(waiting) + len(gave_up) < size:
        if comm.iprobe(MPI.ANY_SOURCE, _TIMEOUT_TAG, status):
            *where_they_wait, sent_at = comm.recv(source=status.Get_source(), tag=_TIMEOUT_TAG)
            heard = waiting if sent_at >= started - _CLOCK_SLACK else gave_up
            heard[status.Get_source()] = tuple(where_they_wait)
        else:
            time.sleep(0.005)
    missing = sorted(set(range(size)) - set(waiting))
    where = "; ".join(
        f"rank {r} waits in {o}(root={rt}) at {at}" for r, (o, rt, at) in sorted(waiting.items())
    )
    where += "".join(
        f"; rank {r} gave up on this communicator earlier, when {o}(root={rt}) timed out at {at}"
        for r, (o, rt, at) in sorted(gave_up.items())
    )
    raise CollectiveTimeoutError(
        f"{rank_tag(rank, size)} {op} #{seq} timed out after {settings.timeout:g} s: "
        f"rank(s) {', '.join(map(str, missing)) or 'none'} never arrived; {where}. This "
        f"rank gives up on this communicator: its ranks are out of step, and every later "
        f"collective on it raises at once",
        missing,
    )
