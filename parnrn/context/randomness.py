"""Random streams that do not depend on the number of ranks, and the run's check for
NetStims that draw from NEURON's rank-dependent default stream.

A stream is keyed by the job's seed, a gid (or a ``map`` item's index) and a stream
number, never by the rank or the order of creation, so a cell draws the same numbers
wherever it lives. The three keys become NEURON's three 32-bit Random123 ids:

- ``id1 = 2**31 + kind * 2**30 + seed``, seed in 0 .. 2**30 - 1; kind 0 for a gid, 1 for a
  ``map`` item (``item_rng``). The top bit sets parnrn's streams apart from NEURON's
  default ones, whose id1 is 1, and from ids a script sets itself below 2**31;
- ``id2 = gid`` (or the item's index), 0 .. 2**32 - 1;
- ``id3 = stream``, 0 .. 2**32 - 1: one number per use of randomness on a cell (its drive,
  its connections, each synapse, ...).

Distinct keys give distinct ids, so no two streams coincide. numpy's generator is Philox
(counter-based, as Random123) with the 128-bit key ``id1 + id2 * 2**32 + id3 * 2**64``.

NEURON 9 gives a NetStim that no script keyed the ids ``(1, rank, n)``, ``n`` counting the
Random123 streams the process has created (nrnran123_newstream): its numbers change with
the rank it is built on and with the cells built before it there. ``check_streams`` counts
those NetStims at the start of a run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import transport
from ..errors import ParallelError
from ..log import logger, warn_once
from ..ranks import rank_tag
from ..settings import checked_seed, settings

ID_LIMIT = 2**32
_PARNRN = 2**31
_ITEM = 2**30
# NEURON 9's id1 for a stream nobody keyed (src/gnu/nrnran123.cpp, nrnran123_newstream).
_NEURON_DEFAULT_ID1 = 1
# Ranks listed by name in the default-stream message; the rest are summed up.
_LISTED_RANKS = 8


def stream_ids(
    key: int, stream: int = 0, seed: int | None = None, item: bool = False
) -> tuple[int, int, int]:
    """The Random123 ids of stream ``stream`` of gid ``key`` (of ``map`` item ``key`` when
    ``item``), under ``seed`` (default: the job's, ``configure(seed=...)``).

    Example::

        stream_ids(7, 1, seed=3)   # (2147483651, 7, 1)
    """
    if seed is None:
        seed = settings.seed
    else:
        try:
            seed = checked_seed(seed)
        except ValueError as exc:
            raise ValueError(f"{rank_tag()} {exc}") from None
    name = "item index" if item else "gid"
    kind = _ITEM if item else 0
    return _PARNRN + kind + seed, _checked_id(key, name), _checked_id(stream, "stream")


def _checked_id(value: Any, name: str) -> int:
    """``value`` as a 32-bit Random123 id, or ``ValueError`` naming the rank and ``name``."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise ValueError(f"{rank_tag()} a random stream's {name} must be an integer, not {value!r}")
    if not 0 <= value < ID_LIMIT:
        raise ValueError(
            f"{rank_tag()} a random stream's {name} must be in 0 .. 2**32 - 1 (a Random123 "
            f"id), not {value!r}"
        )
    return int(value)


def numpy_generator(ids: tuple[int, int, int]) -> np.random.Generator:
    """A numpy ``Generator`` on Philox keyed by ``ids`` (see ``stream_ids``).

    Example::

        numpy_generator(stream_ids(7)).normal(size=3)
    """
    id1, id2, id3 = ids
    return np.random.Generator(np.random.Philox(key=id1 + (id2 << 32) + (id3 << 64)))


def neuron_random(h: Any, ids: tuple[int, int, int]) -> Any:
    """A NEURON ``Random`` on Random123 with ``ids``; the caller sets its distribution.

    Example::

        neuron_random(h, stream_ids(7)).uniform(0, 1)
    """
    random = h.Random()
    random.Random123(*ids)
    return random


def wire_noise(netstim: Any, ids: tuple[int, int, int]) -> Any:
    """Key ``netstim``'s noise by ``ids`` (``noiseFromRandom123``); returns it."""
    if not hasattr(netstim, "noiseFromRandom123"):
        raise TypeError(
            f"{rank_tag()} noise() keys a NetStim's noise (its noiseFromRandom123), and "
            f"{netstim!r} has none"
        )
    netstim.noiseFromRandom123(*ids)
    return netstim


def check_streams(h: Any, pc: Any, comm: Any, strict: bool, quiet: bool = False) -> None:
    """At the start of a network's first run: check that the seed (and NEURON's
    ``Random123_globalindex``, the key under every Random123 stream) is the same on every
    rank, log the seed unless ``quiet``, and warn once on rank 0 (raise ``ParallelError``
    on every rank when ``strict``) when NetStims with noise draw from NEURON's default
    stream. Collective: two small agreements, plus an allgather of a count per rank when
    there are such NetStims."""
    parallel = comm is not None and comm.Get_size() > 1
    globalindex = int(h.Random().Random123_globalindex())
    if parallel:
        _same_seed_on_every_rank(f"seed={settings.seed} Random123_globalindex={globalindex}", comm)
    if not quiet:
        logger.info(f"random seed {settings.seed} (configure(seed=...) or PARNRN_SEED)")
    mine = default_noise_count(h, int(pc.id()))
    total = transport.allreduce(mine, "sum", comm) if parallel else mine
    if not total:
        return
    counts = transport.allgather(mine, comm) if parallel else [mine]
    message = default_noise_message(counts)
    if strict:
        raise ParallelError(f"{rank_tag()} {message}")
    if int(pc.id()) == 0:
        warn_once(
            "netstim-default-stream",
            f"{message}\n(configure(strict=True) or run(strict=True) makes this an error)",
        )


def _same_seed_on_every_rank(seeds: str, comm: Any) -> None:
    """``ParallelError`` on every rank, naming the ranks whose ``seeds`` differ from rank
    0's and the fix, unless they agree."""
    try:
        transport.same_on_every_rank(seeds, "random seed", comm)
    except ParallelError as exc:
        if type(exc) is not ParallelError:  # not a disagreement on the seed: a mismatch
            raise
        raise ParallelError(
            f"{exc}. Give every rank the same seed: configure(seed=...) with the same value, "
            f"or PARNRN_SEED in the environment of every rank",
            exc.failures,
        ) from None


def default_noise_count(h: Any, rank: int) -> int:
    """How many of this rank's NetStims have noise and NEURON's default stream ids
    ``(1, rank, n)``, n >= 1 (see the module's docstring)."""
    count = 0
    for netstim in h.List("NetStim"):
        if netstim.noise > 0:
            id1, id2, id3 = netstim.ranvar.get_ids()
            count += id1 == _NEURON_DEFAULT_ID1 and id2 == rank and id3 >= 1
    return count


def default_noise_message(counts: list[int]) -> str:
    """What is wrong and the fix, with the count on each rank (``counts[r]``)."""
    listed = ", ".join(f"rank {r}: {n}" for r, n in enumerate(counts[:_LISTED_RANKS]))
    rest = counts[_LISTED_RANKS:]
    if rest:
        listed += f", and {sum(rest)} on the other {len(rest)} ranks"
    return (
        f"{sum(counts)} NetStim(s) with noise > 0 draw from NEURON's default random stream, "
        f"whose ids come from the rank and the order of creation: their spikes change with "
        f"the number of ranks ({listed}). Fix: p.parallel.noise(netstim, gid) on each keys "
        f"its stream by (seed, gid); see docs/randomness.md"
    )
