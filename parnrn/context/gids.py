"""gid bookkeeping: validation, ownership, distribution strategies and the run-time check.

NEURON answers a duplicate ``set_gid2node`` with a hoc error (``MPI_Abort`` under MPI
without ``mpiabort_on_error(0)``), says nothing when two ranks register the same gid, and
silently drops spikes sent to receivers whose source gid no rank registered (bsb-core issues
#218 and #692). ``GidRegistry`` keeps what this rank owns and listens to, so the first case
is refused before NEURON is called, and ``check`` finds the other two in a few collective
steps at run time: each gid is checked by rank ``gid % size``, so no rank ever holds the
whole gid table; only rank 0 sees every rank's report, of at most ``REPORT_LIMIT``
problems of each kind.
"""

from __future__ import annotations

import heapq
import operator
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..errors import GidError
from ..ranks import rank_tag
from ..transport import alltoall_arrays, broadcast, gather
from .balance import CostSpec, costs_for

STRATEGIES = ("round_robin", "block", "balanced", "cost")
# How many offending gids a report lists; the totals are always given.
REPORT_LIMIT = 10


# NEURON keeps gids in a C int: a larger one is a hoc error after the gid was claimed.
GID_LIMIT = 2**31


def as_gid(value: Any) -> int:
    """``value`` as a gid (an integer from 0 to 2**31 - 1); numpy integers and integral
    floats (hoc numbers) are accepted. Anything else (``0.5``, ``"3"``, ``True``) raises
    ``GidError``.

    Example::

        as_gid(np.int64(3)), as_gid(3.0)   # 3, 3
    """
    try:
        if isinstance(value, bool):
            raise TypeError
        gid = operator.index(value)
    except TypeError:
        if not (isinstance(value, float) and value.is_integer()):
            raise GidError(f"{rank_tag()} {_GID_RULE}, not {shown(value)}") from None
        gid = int(value)
    if not 0 <= gid < GID_LIMIT:
        raise GidError(f"{rank_tag()} {_GID_RULE} (NEURON keeps gids in a C int), not {shown(gid)}")
    return gid


def as_gids(values: Any) -> np.ndarray:
    """``values`` (an iterable of gids or an array) as an int64 array, each checked as
    ``as_gid`` does: a gid that is not an integer from 0 to 2**31 - 1 (``0.5``, ``"3"``,
    ``nan``, ``-1``) raises ``GidError`` naming the first such and its position, instead
    of being truncated or cast. Arrays of numbers are checked at once, without a loop.

    Example::

        as_gids(range(3)), as_gids(np.array([4.0, 2.0]))   # array([0, 1, 2]), array([4, 2])
    """
    if isinstance(values, (str, bytes)):
        raise GidError(f"{rank_tag()} gids must be a sequence of integers, not {values!r}")
    try:
        items = values if isinstance(values, np.ndarray) else list(values)
    except TypeError:
        raise GidError(
            f"{rank_tag()} gids must be a sequence of integers, not {shown(values)}"
        ) from None
    array = np.asarray(items).ravel()
    if array.dtype.kind in "iu":
        bad = (array < 0) | (array >= GID_LIMIT)
    elif array.dtype.kind == "f":
        bad = ~np.isfinite(array) | (array != np.floor(array)) | (array < 0)
        bad |= array >= GID_LIMIT
    else:  # strings, bools, objects, mixtures: each on its own, to name what was given
        given = items if isinstance(items, list) else array.tolist()
        return np.array([as_gid(item) for item in given], dtype=np.int64)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise GidError(
            f"{rank_tag()} {_GID_RULE}, not {shown(array[first])} (item {first} of {array.size})"
        )
    return array.astype(np.int64, copy=False)


_GID_RULE = "gid must be an integer from 0 to 2**31 - 1"


def shown(value: Any) -> str:
    """``value`` for a message: numpy scalars as Python's (3, not ``np.int64(3)``).

    Example::

        shown(np.int64(3)), shown("3")   # '3', "'3'"
    """
    return repr(value.item() if isinstance(value, np.generic) else value)


class GidRegistry:
    """What this rank owns (``set_gid2node``) and listens to (``gid_connect``)."""

    def __init__(self) -> None:
        self.owned: set[int] = set()
        self.wanted: set[int] = set()
        self.checked = (0, 0)  # sizes of owned and wanted at the last check

    def claim(self, gid: int) -> None:
        """Record that this rank owns ``gid``; a second claim raises ``GidError``."""
        if gid in self.owned:
            raise GidError(
                f"{rank_tag()} gid {gid} is already registered on this rank: set_gid2node (or a "
                f"transmitting ParallelCon) was called twice for it"
            )
        if gid in self.wanted:
            # NEURON refuses this with a hoc error (an MPI_Abort by default).
            raise GidError(
                f"{rank_tag()} gid {gid} cannot be registered on this rank after this rank "
                f"connected to it (gid_connect or a receiving ParallelCon): register every "
                f"cell this rank owns first, then connect"
            )
        self.owned.add(gid)

    def changed(self) -> bool:
        """Whether gids were owned or connected since the last ``check``."""
        return (len(self.owned), len(self.wanted)) != self.checked

    def clear(self) -> None:
        self.owned.clear()
        self.wanted.clear()
        self.checked = (0, 0)


def distribute(
    gids: Iterable[int],
    rank: int,
    size: int,
    strategy: str = "round_robin",
    weights: Sequence[float] | None = None,
    cost: CostSpec = None,
) -> np.ndarray:
    """The gids ``rank`` owns out of ``gids``; every rank computes the same partition.

    - ``round_robin``: gid i goes to rank i % size (by position);
    - ``block``: contiguous blocks of nearly equal length;
    - ``balanced``: greedy longest-processing-time on ``weights`` (heaviest first, each to
      the least loaded rank, ties to the lower rank);
    - ``cost``: the same on ``cost``: one cost per gid, a mapping gid -> cost, a function
      of the gid, a ``BalanceFile`` or its path (see ``balance.costs_for``).

    Example::

        distribute(range(10), rank=1, size=3)  # array([1, 4, 7])
    """
    all_gids = as_gids(gids)
    if strategy == "round_robin":
        return all_gids[rank::size].copy()
    if strategy == "block":
        return np.array_split(all_gids, size)[rank].copy()
    if strategy == "cost":
        if cost is None:
            raise ValueError(f"{rank_tag()} strategy 'cost' needs cost=...")
        return all_gids[_lpt_mask(costs_for(all_gids, cost), rank, size)]
    if strategy != "balanced":
        raise ValueError(
            f"{rank_tag()} unknown distribution strategy {strategy!r}; use {STRATEGIES}"
        )
    if weights is None:
        raise ValueError(f"{rank_tag()} strategy 'balanced' needs weights, one per gid")
    load = np.asarray(weights, dtype=float).ravel()
    if load.shape != all_gids.shape or not np.all(np.isfinite(load)) or np.any(load < 0):
        raise ValueError(
            f"{rank_tag()} 'balanced' needs one finite non-negative weight per gid: got "
            f"{load.size} weights for {all_gids.size} gids"
        )
    return all_gids[_lpt_mask(load, rank, size)]


def _lpt_mask(load: np.ndarray, rank: int, size: int) -> np.ndarray:
    """Which items rank gets under greedy longest-processing-time scheduling."""
    order = np.argsort(-load, kind="stable")  # heaviest first, ties by position
    bins = [(0.0, r) for r in range(size)]
    mine = np.zeros(load.size, dtype=bool)
    for item in order.tolist():
        total, owner = heapq.heappop(bins)
        mine[item] = owner == rank
        heapq.heappush(bins, (total + load[item], owner))
    return mine


DUPLICATE, MISSING = 0, 1
Problem = tuple[int, int, tuple[int, ...]]  # (kind, gid, ranks)
Counts = tuple[int, int]  # (duplicated, missing)


def check(comm: Any, registry: GidRegistry) -> tuple[list[str], int]:
    """Find gids registered on several ranks and receivers of gids no rank registered.

    Collective over ``comm`` (None or one rank: local). Returns, identically on every rank,
    lines describing the problems (at most ``REPORT_LIMIT`` of each kind, in gid order)
    and their total count.
    """
    owned = np.fromiter(registry.owned, dtype=np.int64, count=len(registry.owned))
    wanted = np.fromiter(registry.wanted, dtype=np.int64, count=len(registry.wanted))
    registry.checked = (len(registry.owned), len(registry.wanted))
    problems, counts = _found(comm, owned, wanted)
    return [_describe(problem) for problem in problems], sum(counts)


def unowned(comm: Any, owned: np.ndarray, wanted: np.ndarray) -> tuple[list[int], int]:
    """The gids in any rank's ``wanted`` that no rank has in ``owned``: the first
    ``REPORT_LIMIT`` of them in order, and how many there are, identically on every
    rank. Collective over ``comm``, in the steps of ``check``.

    Example::

        unowned(comm, np.array([0, 1]), np.array([1, 99]))   # ([99], 1) on one rank
    """
    problems, (_, missing) = _found(comm, owned, wanted)
    return [gid for kind, gid, _ in problems if kind == MISSING], missing


def _found(comm: Any, owned: np.ndarray, wanted: np.ndarray) -> tuple[list[Problem], Counts]:
    """The first problems of each kind and the count of each, the same on every rank."""
    if comm is None or comm.Get_size() == 1:
        problems, counts = _problems([owned], [wanted])
        return _first_of_each_kind(problems), counts
    # The reports meet at rank 0 and only the first of each kind go back: no rank but
    # rank 0 holds P of anything.
    reports = gather(_problems(*_route_to_checkers(comm, owned, wanted)), 0, comm)
    summary = None
    if reports is not None:
        found = [problem for problems, _ in reports for problem in problems]
        counts = tuple(int(sum(column)) for column in zip(*(c for _, c in reports)))
        summary = (_first_of_each_kind(found), counts)
    return broadcast(summary, 0, comm)


def _route_to_checkers(
    comm: Any, owned: np.ndarray, wanted: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Send every gid to rank ``gid % size``; return what each source rank sent here."""
    size = comm.Get_size()
    gids = np.concatenate([owned, wanted])
    kind = np.repeat([0, 1], [owned.size, wanted.size])
    key = (gids % size) * 2 + kind  # (checker, owned-or-wanted), sorted together
    order = np.argsort(key, kind="stable")
    counts = np.bincount(key, minlength=2 * size).reshape(size, 2)
    received, recv_pairs = alltoall_arrays(gids[order], counts, comm)
    owned_from, wanted_from, start = [], [], 0
    for n_owned, n_wanted in recv_pairs.tolist():  # (owned, wanted) from each rank
        owned_from.append(received[start : start + n_owned])
        wanted_from.append(received[start + n_owned : start + n_owned + n_wanted])
        start += n_owned + n_wanted
    return owned_from, wanted_from


def _problems(
    owned_from: list[np.ndarray], wanted_from: list[np.ndarray]
) -> tuple[list[Problem], Counts]:
    """Duplicated and missing gids (at most ``REPORT_LIMIT`` of each) and the count of
    each, given the gids each rank owns and wants."""
    owners, owner_ranks = _labelled(owned_from)
    order = np.argsort(owners, kind="stable")
    owners, owner_ranks = owners[order], owner_ranks[order]
    duplicated = np.unique(owners[1:][owners[1:] == owners[:-1]])
    wanted, wanted_ranks = _labelled(wanted_from)
    lost = ~np.isin(wanted, owners)
    missing = np.unique(wanted[lost])
    found = [
        (DUPLICATE, gid, _ranks(owner_ranks[owners == gid]))
        for gid in duplicated[:REPORT_LIMIT].tolist()
    ]
    found += [
        (MISSING, gid, _ranks(wanted_ranks[lost & (wanted == gid)]))
        for gid in missing[:REPORT_LIMIT].tolist()
    ]
    return found, (int(duplicated.size), int(missing.size))


def _labelled(per_rank: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """All gids in ``per_rank`` and, for each, the rank it came from."""
    ranks = np.repeat(np.arange(len(per_rank)), [a.size for a in per_rank])
    return np.concatenate(per_rank), ranks


def _ranks(ranks: np.ndarray) -> tuple[int, ...]:
    return tuple(np.unique(ranks).tolist())


def _first_of_each_kind(problems: list[Problem]) -> list[Problem]:
    ordered = sorted(problems)
    return [
        problem
        for kind in (DUPLICATE, MISSING)
        for problem in [p for p in ordered if p[0] == kind][:REPORT_LIMIT]
    ]


def _describe(problem: Problem) -> str:
    kind, gid, ranks = problem
    where = ", ".join(map(str, ranks))
    if kind == DUPLICATE:
        return f"gid {gid} is registered on ranks {where}"
    return (
        f"gid {gid} has receivers on rank(s) {where} but no rank registered it "
        f"(set_gid2node or a transmitting ParallelCon): its spikes would be lost"
    )
