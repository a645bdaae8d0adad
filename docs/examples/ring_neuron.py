"""A ring of hh cells, parallel with NEURON's ParallelContext by hand.

Run: mpiexec -n 4 python ring_neuron.py
"""

from neuron import h

h.nrnmpi_init()
pc = h.ParallelContext()
rank, nhost = int(pc.id()), int(pc.nhost())
NCELL = 8


class Cell:
    def __init__(self, gid):
        self.soma = h.Section(name=f"soma{gid}")
        self.soma.L = self.soma.diam = 12.6157
        self.soma.insert("hh")
        self.syn = h.ExpSyn(self.soma(0.5))
        self.syn.tau = 2


cells = {}
for gid in range(rank, NCELL, nhost):
    cells[gid] = cell = Cell(gid)
    pc.set_gid2node(gid, rank)
    nc = h.NetCon(cell.soma(0.5)._ref_v, None, sec=cell.soma)
    nc.threshold = -20
    pc.cell(gid, nc)

netcons = []
for gid, cell in cells.items():
    nc = pc.gid_connect((gid - 1) % NCELL, cell.syn)
    nc.weight[0] = 0.05
    nc.delay = 1
    netcons.append(nc)

if 0 in cells:  # one input to cell 0 starts the activity
    stim = h.NetStim()
    stim.number, stim.start = 1, 1
    kick = h.NetCon(stim, cells[0].syn)
    kick.weight[0] = 0.05

times, gids = h.Vector(), h.Vector()
pc.spike_record(-1, times, gids)
pc.set_maxstep(10)
h.finitialize(-65)
pc.psolve(100)

mine = list(zip(times, gids))
everyone = pc.py_gather(mine, 0)
if rank == 0:
    spikes = sorted(s for part in everyone for s in part)
    for t, gid in spikes:
        print(t, int(gid))
pc.barrier()
h.quit()
