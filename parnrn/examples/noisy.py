"""A noisy network, built with parnrn's random streams or with one of three natural
mistakes: python -m parnrn.examples.noisy [--streams KIND] [--seed S].

48 IntFire1 cells, each driven by its own Poisson NetStim and receiving ``FANIN`` inputs
from random cells with random weights and delays. ``--streams`` says where the random
numbers come from:

- ``helpers`` (default): ``p.parallel.noise`` for the drive, ``p.parallel.numpy_rng``
  for the connections; the same spikes on any number of ranks;
- ``random_stream``: ``p.parallel.random_stream`` for both; the same on any number too;
- ``default``: the drive on NEURON's default stream (``noise = 1``, nothing else);
- ``per_rank``: one Random123 stream per rank, shared by its NetStims (``noiseFromRandom``);
- ``numpy_rank``: connections from numpy seeded by ``seed + rank``.

The last three give different spikes on every number of ranks (docs/randomness.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import parnrn
from parnrn import p
from parnrn.examples import parse, parser, report

STREAMS = ("helpers", "random_stream", "default", "per_rank", "numpy_rank")
FANIN = 6
# Stream numbers: one per use of randomness on a cell.
DRIVE, CONNECTIONS = 0, 1


def connections(gid: int, ncell: int, streams: str, rank_rng: Any) -> list[tuple]:
    """(source gid, weight, delay) of each input onto ``gid``; a quarter inhibitory."""
    if streams == "random_stream":
        random = p.parallel.random_stream(gid, CONNECTIONS)
        random.uniform(0, 1)
        draws = np.array([random.repick() for _ in range(3 * FANIN)]).reshape(3, FANIN)
    else:
        rng = rank_rng if streams == "numpy_rank" else p.parallel.numpy_rng(gid, CONNECTIONS)
        draws = rng.random((3, FANIN))
    sources = (draws[0] * ncell).astype(int)
    weights = np.where(draws[1] < 0.25, -0.3, 0.15)
    delays = 1 + 2 * draws[2]
    return list(zip(sources.tolist(), weights.tolist(), delays.tolist()))


def drive(gid: int, streams: str, shared: Any) -> Any:
    """A Poisson NetStim (mean interval 5 ms) on the stream ``streams`` says."""
    stim = p.NetStim()
    stim.interval, stim.number, stim.start, stim.noise = 5, 1e9, 0, 1
    if streams == "random_stream":
        stim.noiseFromRandom(p.parallel.random_stream(gid, DRIVE))
    elif streams == "per_rank":
        stim.noiseFromRandom(shared)
    elif streams != "default":
        p.parallel.noise(stim, gid, DRIVE)
    return stim


def build(ncell: int = 48, streams: str = "helpers") -> dict[int, Any]:
    """Build this rank's share of the network; returns what must stay alive, by gid."""
    shared = p.Random()
    shared.Random123(p.parallel.rank)
    rank_rng = np.random.default_rng(parnrn.configure().seed + p.parallel.rank)
    keep: dict[int, Any] = {}
    for gid in p.parallel.distribute(range(ncell)).tolist():
        cell = p.IntFire1()
        cell.tau, cell.refrac = 10, 2
        p.ParallelCon(cell, gid)
        keep[gid] = [cell]
    for gid, parts in keep.items():
        cell = parts[0]
        stim = drive(gid, streams, shared)
        kick = p.NetCon(stim, cell)
        kick.weight[0], kick.delay = 0.5, 1
        inputs = [
            p.ParallelCon(source, cell, weight=weight, delay=delay)
            for source, weight, delay in connections(gid, ncell, streams, rank_rng)
        ]
        parts += [stim, kick, inputs]
    keep[-1] = [shared]
    return keep


def main(argv: list[str] | None = None) -> None:
    cli = parser(
        "A noisy IntFire1 network and its random streams.", ncell=48, tstop=200, seeded=True
    )
    cli.add_argument("--streams", choices=STREAMS, default="helpers", help="random streams")
    args = parse(cli, argv)
    model = build(args.ncell, args.streams)
    p.parallel.run(args.tstop, progress=args.progress, engine=args.engine)
    report(p.parallel.gather_spikes(), args, "noisy")
    del model


if __name__ == "__main__":
    main()
