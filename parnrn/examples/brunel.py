"""Balanced random network of integrate-and-fire cells (after Brunel 2000):
python -m parnrn.examples.brunel [--ncell N] [--tstop T] [--seed S] [--cell TYPE].

80 % excitatory and 20 % inhibitory integrate-and-fire cells; each cell receives a fixed
number of excitatory and inhibitory inputs from random cells with random delays, plus
Poisson drive from its own NetStim. Every random number a cell needs comes from a stream
keyed by (the job's seed, gid): ``p.parallel.numpy_rng`` for the connectivity,
``p.parallel.noise`` for the drive, never a global stream, so the network and its spikes
are the same on any number of ranks.

The cells are NEURON's IntFire1 unless ``--cell`` names another artificial cell with
``tau`` and ``refrac``. CoreNEURON's library in NEURON's wheel has no IntFire1; the
LeakyIF cell of ``parnrn/examples/mod/leakyif.mod``, compiled with ``nrnivmodl
-coreneuron``, runs under both engines (docs/coreneuron.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from parnrn import p
from parnrn.examples import parse, parser, report

# Stream numbers: one per use of randomness on a cell.
CONNECTIONS, DRIVE = 0, 1


@dataclass
class Params:
    """Network parameters; weights are jumps of the cells' state (threshold 1)."""

    ncell: int = 1000
    cell: str = "IntFire1"  # an artificial cell type with tau and refrac
    excitatory_fraction: float = 0.8
    in_degree: float = 0.1  # fraction of each population a cell hears from
    j_exc: float = 0.12
    g: float = 5.0  # inhibitory weight = -g * j_exc
    delay: tuple[float, float] = (1.5, 3.0)  # uniform range, ms
    tau: float = 10.0
    refrac: float = 2.0
    drive_interval: float = 4.0  # mean ms between Poisson drive events
    j_drive: float = 0.45

    @property
    def n_exc(self) -> int:
        return int(self.ncell * self.excitatory_fraction)


def inputs(gid: int, params: Params) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source gids, weights and delays of the inputs onto ``gid``, from its own stream."""
    rng = p.parallel.numpy_rng(gid, CONNECTIONS)
    n_exc, n_inh = params.n_exc, params.ncell - params.n_exc
    k_exc, k_inh = max(1, round(params.in_degree * n_exc)), max(1, round(params.in_degree * n_inh))
    sources = np.concatenate(
        [rng.integers(0, n_exc, k_exc), rng.integers(n_exc, params.ncell, k_inh)]
    )
    weights = np.repeat([params.j_exc, -params.g * params.j_exc], [k_exc, k_inh])
    delays = rng.uniform(*params.delay, size=sources.size)
    return sources, weights, delays


def build(params: Params) -> dict[int, Any]:
    """Build this rank's share of the network; returns what must stay alive, by gid."""
    keep = {}
    for gid in p.parallel.distribute(range(params.ncell)).tolist():
        cell = getattr(p, params.cell)()
        cell.tau, cell.refrac = params.tau, params.refrac
        p.ParallelCon(cell, gid)  # every cell of this rank first: NEURON needs that order
        keep[gid] = [cell]
    for gid, parts in keep.items():
        cell = parts[0]
        drive = p.NetStim()
        drive.interval, drive.number, drive.start, drive.noise = params.drive_interval, 1e9, 0, 1
        p.parallel.noise(drive, gid, DRIVE)  # this cell's own stream
        drive_nc = p.NetCon(drive, cell)
        drive_nc.weight[0], drive_nc.delay = params.j_drive, 1
        connections = [
            p.ParallelCon(int(source), cell, weight=weight, delay=delay)
            for source, weight, delay in zip(*(a.tolist() for a in inputs(gid, params)))
        ]
        parts += [drive, drive_nc, connections]
    return keep


def main(argv: list[str] | None = None) -> None:
    cli = parser(
        "Balanced random integrate-and-fire network, same spikes on any number of ranks.",
        ncell=1000,
        tstop=200,
        seeded=True,
    )
    cli.add_argument(
        "--cell",
        default=Params.cell,
        help="artificial cell type with tau and refrac (default IntFire1; LeakyIF from "
        "parnrn/examples/mod runs under CoreNEURON too)",
    )
    args = parse(cli, argv)
    if not hasattr(p, args.cell):
        cli.error(
            f"--cell {args.cell}: NEURON has no such mechanism here; compile its mod file "
            "with nrnivmodl (-coreneuron) and run from that directory"
        )
    model = build(Params(ncell=args.ncell, cell=args.cell))
    p.parallel.run(args.tstop, progress=args.progress, engine=args.engine)
    report(p.parallel.gather_spikes(), args, "brunel")
    del model


if __name__ == "__main__":
    main()
