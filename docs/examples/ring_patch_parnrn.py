"""The ring of hh cells from ring_patch.py, moved to parnrn.

Run: mpiexec -n 4 python ring_patch_parnrn.py
"""

from parnrn import p

p.celsius = 32  # Patch sets this on import; NEURON's default is 6.3
NCELL = 8


class Cell:
    def __init__(self, gid):
        self.soma = p.Section(name=f"soma{gid}")
        self.soma.L = self.soma.diam = 12.6157
        self.soma.insert("hh")
        self.syn = p.ExpSyn(self.soma(0.5))
        self.syn.tau = 2


cells = {}
for gid in p.parallel.distribute(range(NCELL)):
    cells[gid] = cell = Cell(gid)
    p.ParallelCon(cell.soma, gid)

for gid, cell in cells.items():
    p.ParallelCon((gid - 1) % NCELL, cell.syn, weight=0.05, delay=1)

if 0 in cells:  # one input to cell 0 starts the activity
    stim = p.NetStim()
    stim.number, stim.start = 1, 1
    kick = p.NetCon(stim, cells[0].syn)
    kick.weight[0], kick.delay = 0.05, 1

p.parallel.run(100, v_init=-65)

spikes = p.parallel.gather_spikes()
if spikes is not None:
    for t, gid in zip(spikes.times.tolist(), spikes.gids.tolist()):
        print(t, gid)
