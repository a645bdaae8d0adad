"""The ring of ring_patch.py with its cells still built by Patch and the parallel part
done by parnrn.

Run: mpiexec -n 4 python ring_patch_objects.py
"""

from patch import p

from parnrn import p as par

NCELL = 8


class Cell:
    def __init__(self, gid):
        self.soma = p.Section(name=f"soma{gid}")
        self.soma.L = self.soma.diam = 12.6157
        self.soma.insert("hh")
        self.syn = p.ExpSyn(self.soma(0.5))
        self.syn.tau = 2


cells = {}
for gid in par.parallel.distribute(range(NCELL)):
    cells[gid] = cell = Cell(gid)
    par.ParallelCon(cell.soma, gid)

for gid, cell in cells.items():
    par.ParallelCon((gid - 1) % NCELL, cell.syn, weight=0.05, delay=1)

if 0 in cells:  # one input to cell 0 starts the activity
    stim = p.NetStim()
    stim.number, stim.start = 1, 1
    kick = p.NetCon(stim, cells[0].syn, weight=0.05, delay=1)

par.parallel.run(100, v_init=-65)

spikes = par.parallel.gather_spikes()
if spikes is not None:
    for t, gid in zip(spikes.times.tolist(), spikes.gids.tolist()):
        print(t, gid)
