"""The ring of hh cells with nrn-patch's parallel layer.

Run: mpiexec -n 4 python ring_patch.py
"""

from mpi4py import MPI
from patch import p

p.nrnmpi_init()
pc = p.parallel
rank, nhost = int(pc.id()), int(pc.nhost())
NCELL = 8


class Cell:
    def __init__(self, gid):
        self.soma = p.Section(name=f"soma{gid}")
        self.soma.L = self.soma.diam = 12.6157
        self.soma.insert("hh")
        self.syn = p.ExpSyn(self.soma(0.5))
        self.syn.tau = 2


cells = {}
for gid in range(rank, NCELL, nhost):
    cells[gid] = cell = Cell(gid)
    p.ParallelCon(cell.soma, gid)

for gid, cell in cells.items():
    p.ParallelCon((gid - 1) % NCELL, cell.syn, weight=0.05, delay=1)

if 0 in cells:  # one input to cell 0 starts the activity
    stim = p.NetStim()
    stim.number, stim.start = 1, 1
    kick = p.NetCon(stim, cells[0].syn, weight=0.05, delay=1)

times, gids = pc.spike_record()
pc.psolve(100, v_init=-65)

everyone = MPI.COMM_WORLD.gather(list(zip(times, gids)), root=0)
if rank == 0:
    spikes = sorted(s for part in everyone for s in part)
    for t, gid in spikes:
        print(t, int(gid))
