"""Ring of ball-and-stick cells in the shape of NEURON's parallel tutorial.

Cells are Python classes whose spike detector is
``h.NetCon(soma(0.5)._ref_v, None, sec=soma)`` with ``threshold = 10``; each rank builds
the gids ``range(pc.id(), N, pc.nhost())``, registers them with ``pc.set_gid2node`` and
``pc.cell(gid, nc)`` (``p.ParallelCon(nc, gid)`` in the ``PARNRN_DROPIN=p`` form), runs
``pc.set_maxstep(10)``, ``h.finitialize(-65)`` then ``pc.psolve``, and gathers on rank 0,
with ``pc.py_alltoall``, each cell's threshold and the spikes its ``nc.record`` recorded.

Forms and set-up: see README.md in this directory.
"""

from _forms import setup

h, pc, DROPIN = setup()

NCELL = 5
TSTOP = 100.0


class BallAndStick:
    def __init__(self, gid, angle):
        self.gid = gid
        self.soma = h.Section(name="soma", cell=self)
        self.dend = h.Section(name="dend", cell=self)
        self.dend.connect(self.soma)
        self.soma.L = self.soma.diam = 12.6
        self.dend.L, self.dend.diam, self.dend.nseg = 200, 1, 5
        for sec in (self.soma, self.dend):
            sec.Ra, sec.cm = 100, 1
        self.soma.insert("hh")
        self.dend.insert("pas")
        for seg in self.dend:
            seg.pas.g, seg.pas.e = 0.001, -65
        self.syn = h.ExpSyn(self.dend(0.5))
        self.syn.tau = 2
        self.spike_times = h.Vector()
        # Threshold 10 mV, as in the tutorial; the default would be 10 too, set explicitly.
        self.nc = h.NetCon(self.soma(0.5)._ref_v, None, sec=self.soma)
        self.nc.threshold = 10
        self.nc.record(self.spike_times)
        self.angle = angle

    def __repr__(self):
        return f"BallAndStick[{self.gid}]"


class Ring:
    def __init__(self, n, weight, delay):
        self.cells = []
        for gid in range(int(pc.id()), n, int(pc.nhost())):
            cell = BallAndStick(gid, 360.0 * gid / n)
            self.cells.append(cell)
            if DROPIN == "p":
                h.ParallelCon(cell.nc, gid)
            else:
                pc.set_gid2node(gid, int(pc.id()))
                pc.cell(gid, cell.nc)
        self.netcons = []
        for cell in self.cells:
            nc = pc.gid_connect((cell.gid - 1 + n) % n, cell.syn)
            nc.weight[0], nc.delay = weight, delay
            self.netcons.append(nc)
        if pc.gid_exists(0):
            self.stim = h.NetStim()
            self.stim.number, self.stim.start = 1, 9
            first = next(c for c in self.cells if c.gid == 0)
            self.ncstim = h.NetCon(self.stim, first.syn)
            self.ncstim.delay, self.ncstim.weight[0] = 1, 0.04


ring = Ring(NCELL, weight=0.05, delay=5)
pc.set_maxstep(10)
h.finitialize(-65)
pc.psolve(TSTOP)

mine = [(c.gid, c.nc.threshold, [round(t, 6) for t in c.spike_times]) for c in ring.cells]
received = pc.py_alltoall([mine] + [None] * (int(pc.nhost()) - 1))
if int(pc.id()) == 0:
    print(f"RESULT ballstick nhost={int(pc.nhost())}", flush=True)
    for gid, threshold, times in sorted(item for part in received if part for item in part):
        spikes = " ".join(f"{t:.6f}" for t in times)
        print(f"RESULT ballstick gid {gid} threshold {threshold:g}: {spikes}", flush=True)
