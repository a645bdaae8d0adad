"""Ring network in the shape of NEURON's ringtest, written with raw ParallelContext calls.

Cells are distributed round robin; each registers its gid with ``pc.set_gid2node`` and
``pc.cell(gid, netcon)``, receives the previous cell's spikes through ``pc.gid_connect``,
and the run is ``pc.set_maxstep``, ``h.stdinit()``, ``pc.psolve``. Rank 0 prints the
spikes gathered with ``pc.py_gather``; the script ends with ``pc.barrier()`` and
``h.quit()``, as ringtest does, which also makes the ``h.nrnmpi_init()`` set-up (this
script's default) end cleanly.

Forms and set-up: see README.md in this directory.
"""

import hashlib

from _forms import setup

h, pc, _ = setup("nrnmpi_init")
h.load_file("stdrun.hoc")

NCELL = 6
TSTOP = 60.0
rank, nhost = int(pc.id()), int(pc.nhost())


class Cell:
    def __init__(self, gid):
        self.soma = h.Section(name=f"soma{gid}")
        self.soma.L = self.soma.diam = 20
        self.soma.insert("hh")
        self.syn = h.ExpSyn(self.soma(0.5))
        self.syn.tau = 2
        self.detector = h.NetCon(self.soma(0.5)._ref_v, None, sec=self.soma)


cells = {}
for gid in range(rank, NCELL, nhost):
    cells[gid] = Cell(gid)
    pc.set_gid2node(gid, rank)
    pc.cell(gid, cells[gid].detector)

links = []
for gid, cell in cells.items():
    nc = pc.gid_connect((gid - 1) % NCELL, cell.syn)
    nc.weight[0] = 0.02
    nc.delay = 1
    links.append(nc)

kick = None
if pc.gid_exists(0):
    kick = h.NetStim()
    kick.number, kick.start = 1, 1
    links.append(h.NetCon(kick, cells[0].syn, 0, 0, 0.02))

tvec, idvec = h.Vector(), h.Vector()
pc.spike_record(-1, tvec, idvec)

pc.set_maxstep(10)
h.stdinit()
pc.psolve(TSTOP)

mine = [(round(t, 6), int(g)) for t, g in zip(tvec, idvec)]
everyone = pc.py_gather(mine, 0)
if rank == 0:
    spikes = sorted(s for part in everyone for s in part)
    text = " ".join(f"{t:.6f}:{g}" for t, g in spikes)
    print(f"RESULT ringtest nhost={nhost}", flush=True)
    print(f"RESULT ringtest nspike={len(spikes)}", flush=True)
    print(f"RESULT ringtest sha={hashlib.sha256(text.encode()).hexdigest()[:16]}", flush=True)
    print(f"RESULT ringtest first={text[:200]}", flush=True)
pc.barrier()
h.quit()
