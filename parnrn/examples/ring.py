"""Ring of Hodgkin-Huxley cells: python -m parnrn.examples.ring [--ncell N] [--tstop T].

Cell i excites cells i+1 .. i+fanout (mod ncell) through an ExpSyn, each connection with
its own weight and delay; a NetStim kicks cell 0 once. The activity then travels round the
ring for the whole run. Cells are dealt round-robin to the ranks; every rank count gives
the same spikes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from parnrn import p
from parnrn.examples import parser, report


class Cell:
    """One ring cell: an hh soma of 500 um2 with an ExpSyn (tau 2 ms, reversal 0 mV) in
    the middle. The cell owns its section (``cell=self``), as NEURON's BBSaveState needs
    to checkpoint it."""

    def __init__(self, gid: int):
        self.gid = gid
        self.soma = p.Section(name="soma", cell=self)
        self.soma.L = self.soma.diam = 12.6157
        self.soma.insert("hh")
        self.syn = p.ExpSyn(self.soma(0.5))
        self.syn.tau = 2

    def __repr__(self) -> str:
        return f"RingCell[{self.gid}]"


def make_cell(gid: int) -> Cell:
    """Ring cell ``gid``."""
    return Cell(gid)


def inputs(gid: int, ncell: int, fanout: int) -> Iterator[tuple[int, float, float]]:
    """(source gid, weight in uS, delay in ms) of each connection onto cell ``gid``.

    Cell i reaches i + k with a weight and delay that depend on i and k, so that no two
    connections are alike.
    """
    for k in range(1, fanout + 1):
        source = (gid - k) % ncell
        weight = 0.01 + 0.002 * k + 0.0001 * (source % 7)
        delay = 1.0 + 0.75 * k + 0.01 * (source % 11)
        yield source, weight, delay


def build(ncell: int = 20, fanout: int = 3, gain: float = 1.0) -> dict[int, Any]:
    """Build this rank's share of the ring, every synaptic weight multiplied by ``gain``;
    returns what must stay alive, by gid."""
    if fanout >= ncell:
        raise ValueError(f"fanout ({fanout}) must be smaller than ncell ({ncell})")
    cells = {int(gid): make_cell(int(gid)) for gid in p.parallel.distribute(range(ncell))}
    for gid, cell in cells.items():
        p.ParallelCon(cell.soma, gid)
    for gid, cell in cells.items():
        for source, weight, delay in inputs(gid, ncell, fanout):
            p.ParallelCon(source, cell.syn, weight=weight * gain, delay=delay)
    keep: dict[int, Any] = dict(cells)
    if 0 in cells:
        keep[-1] = kick(cells[0])
    return keep


def kick(cell: Cell) -> tuple[Any, Any]:
    """A NetStim that excites ``cell`` once at t = 1 ms (returned with its NetCon)."""
    stim = p.NetStim()
    stim.number, stim.start = 1, 1
    nc = p.NetCon(stim, cell.syn)
    nc.weight[0], nc.delay = 0.02, 0
    return stim, nc


def main(argv: list[str] | None = None) -> None:
    cli = parser("Ring of hh cells, same spikes on any number of ranks.", ncell=20, tstop=100)
    cli.add_argument("--fanout", type=int, default=3, help="cells each cell excites")
    args = cli.parse_args(argv)
    model = build(args.ncell, args.fanout)
    p.parallel.run(args.tstop, progress=args.progress, engine=args.engine)
    report(p.parallel.gather_spikes(), args, "ring")
    del model


if __name__ == "__main__":
    main()
