"""Runnable example models: ``python -m parnrn.examples.ring`` (or ``.brunel``, ``.mixed``,
``.noisy``), serial or under ``mpiexec -n N``; every rank count gives the same spikes and
the same digest (but for ``.noisy``'s deliberate mistakes, see docs/randomness.md).

Shared here: the command line every example takes and what it prints on rank 0.
"""

from __future__ import annotations

import argparse
from typing import Any

import parnrn


def parser(
    description: str, ncell: int, tstop: float, seeded: bool = False
) -> argparse.ArgumentParser:
    """``--ncell``, ``--tstop``, ``--save FILE``, ``--raster FILE``, ``--progress`` and
    ``--engine``; ``--seed`` too for a model with random streams (``parse`` applies it)."""
    cli = argparse.ArgumentParser(description=description)
    cli.add_argument("--ncell", type=int, default=ncell, help="number of cells")
    cli.add_argument("--tstop", type=float, default=tstop, help="simulated time (ms)")
    cli.add_argument("--save", metavar="FILE", help="write the spikes (.npz or .h5)")
    cli.add_argument("--raster", metavar="FILE", help="draw a raster plot (.png)")
    cli.add_argument("--progress", action="store_true", help="show a progress bar")
    cli.add_argument(
        "--engine",
        choices=["neuron", "coreneuron"],
        help="what p.parallel.run integrates with (default: PARNRN_ENGINE, else neuron)",
    )
    if seeded:
        cli.add_argument("--seed", type=int, help="the job's seed (default: PARNRN_SEED, or 0)")
    return cli


def parse(cli: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """The arguments; a ``--seed`` given becomes the job's seed (``configure(seed=...)``)."""
    args = cli.parse_args(argv)
    if getattr(args, "seed", None) is not None:
        parnrn.configure(seed=args.seed)
    return args


def report(spikes: Any, args: argparse.Namespace, name: str) -> None:
    """On rank 0 (where ``spikes`` is not None): print the spike count and digest, then
    save and plot as asked."""
    if spikes is None:
        return
    print(f"{name}: {len(spikes)} spikes, digest {spikes.digest()}", flush=True)
    if args.save:
        spikes.save(args.save, population=name)
        print(f"{name}: spikes saved to {args.save}", flush=True)
    if args.raster:
        import matplotlib

        matplotlib.use("Agg")  # no display on cluster nodes
        ax = spikes.raster(cells=args.ncell, title=name)
        ax.figure.savefig(args.raster, dpi=150)
        print(f"{name}: raster written to {args.raster}", flush=True)
