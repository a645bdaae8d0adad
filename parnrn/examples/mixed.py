"""Mixed network of hh cells from 1 to 200 compartments, laid out to defeat round robin and
block: python -m parnrn.examples.mixed [--ncell N] [--strategy cost] [--tstop T] [--seed S].

The first half of the gids alternates big cells (200 compartments) and small ones (1), the
second half holds medium cells (20): round robin gives the even ranks the big cells, block
gives the first ranks the first half. ``--strategy cost`` measures one prototype of each
type (``p.parallel.cost_per_type``) and deals the gids by cost. Each cell receives
``FANIN`` connections from gids chosen by its own gid and is driven by a half-random
NetStim whose noise is keyed by its gid (``p.parallel.noise``), so every strategy and
every rank count gives the same spikes.
"""

from __future__ import annotations

from typing import Any

from parnrn import p
from parnrn.examples import parse, parser, report

# Compartments of each cell type.
COMPARTMENTS = {"big": 200, "small": 1, "medium": 20}
FANIN = 4
STRATEGIES = ("round_robin", "block", "cost")


def cell_type(gid: int, ncell: int) -> str:
    """Big and small alternate in the first half of the gids; medium fill the second."""
    if gid < ncell // 2:
        return "big" if gid % 2 == 0 else "small"
    return "medium"


class Cell:
    """An hh soma with an hh dendrite of ``compartments - 1`` segments (none for a
    one-compartment cell), and an excitatory synapse on the soma. The cell owns its
    sections (``cell=self``), as NEURON's BBSaveState needs to checkpoint it."""

    def __init__(self, kind: str):
        self.kind = kind
        compartments = COMPARTMENTS[kind]
        self.soma = p.Section(name="soma", cell=self)
        self.soma.L = self.soma.diam = 20
        self.soma.insert("hh")
        self.dend = None
        if compartments > 1:
            self.dend = dend = p.Section(name="dend", cell=self)
            dend.nseg = compartments - 1
            dend.L, dend.diam = 5.0 * dend.nseg, 1.0
            dend.insert("hh")
            dend.connect(self.soma(1))
        self.syn = p.ExpSyn(self.soma(0.5))
        self.syn.tau = 2

    @property
    def all(self) -> list[Any]:
        """Its sections, soma first (what ``cell_cost`` looks for)."""
        return [self.soma] if self.dend is None else [self.soma, self.dend]

    def __repr__(self) -> str:
        return f"MixedCell[{self.kind}, {id(self):#x}]"


def make_cell(kind: str) -> Cell:
    """A cell of type ``kind`` (a key of ``COMPARTMENTS``)."""
    return Cell(kind)


def type_costs() -> dict[str, float]:
    """The cost of each type, measured on a prototype (the same on every rank)."""
    return p.parallel.cost_per_type({kind: lambda k=kind: make_cell(k) for kind in COMPARTMENTS})


def my_gids(ncell: int, strategy: str) -> list[int]:
    """This rank's gids under ``strategy``."""
    if strategy != "cost":
        return p.parallel.distribute(range(ncell), strategy).tolist()
    costs = type_costs()
    return p.parallel.distribute(
        range(ncell), "cost", cost=lambda gid: costs[cell_type(gid, ncell)]
    ).tolist()


def build(ncell: int = 200, strategy: str = "cost") -> dict[int, Any]:
    """Build this rank's share; returns what must stay alive, by gid."""
    keep: dict[int, Any] = {}
    for gid in my_gids(ncell, strategy):
        cell = make_cell(cell_type(gid, ncell))
        p.ParallelCon(cell.soma, gid)
        drive = p.NetStim()
        drive.number, drive.start, drive.interval, drive.noise = 1e9, 1 + gid % 7, 12, 0.5
        p.parallel.noise(drive, gid)
        kick = p.NetCon(drive, cell.syn)
        kick.weight[0], kick.delay = 0.05, 1
        keep[gid] = (cell, drive, kick)
    for gid, (cell, *_) in keep.items():
        for k in range(1, FANIN + 1):
            source = (gid * 7 + 13 * k) % ncell
            p.ParallelCon(source, cell.syn, weight=0.002 + 0.001 * k, delay=2 + 0.5 * k)
    return keep


def main(argv: list[str] | None = None) -> None:
    cli = parser("Mixed hh cells of 1 to 200 compartments.", ncell=200, tstop=100, seeded=True)
    cli.add_argument("--strategy", choices=STRATEGIES, default="cost", help="distribution")
    args = parse(cli, argv)
    model = build(args.ncell, args.strategy)
    p.parallel.run(args.tstop, progress=args.progress, engine=args.engine)
    report(p.parallel.gather_spikes(), args, "mixed")
    del model


if __name__ == "__main__":
    main()
