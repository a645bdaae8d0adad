"""Subworlds: ``pc.subworlds(2)`` on 4 ranks, each subworld running the same small ring.

After ``pc.subworlds(2)``, ``pc.id()``/``pc.nhost()`` are the rank and size within a
subworld of 2 contiguous world ranks, and the bulletin board links the subworlds' rank 0s.
Every rank prints its identities; then the master submits one task per synaptic weight;
a task runs on every rank of one subworld: it clears the gids, builds a ring distributed
over the subworld's ranks (``pc.set_gid2node``, ``pc.cell``, ``pc.gid_connect``), runs it
(``pc.set_maxstep``, ``h.finitialize``, ``pc.psolve``), gathers the spikes on the
subworld's rank 0 with ``pc.py_gather`` and returns a digest of them.

Like bulletin_fi.py the raw form imports mpi4py first (``RAW_MPI_SETUP=mpi4py``, the
default here) so that the master finalizes MPI at its end.

Forms and set-up: see README.md in this directory.
"""

import hashlib
import os
import sys

from _forms import setup

h, pc, DROPIN = setup()
pc.subworlds(2)

identity = (
    f"world {int(pc.id_world())}/{int(pc.nhost_world())} "
    f"subworld {int(pc.id())}/{int(pc.nhost())} bbs {int(pc.id_bbs())}/{int(pc.nhost_bbs())}"
)


def say(line):
    """Print a whole line in one write: every rank prints these, and mpiexec merges them."""
    sys.stdout.flush()
    os.write(1, f"{line}\n".encode())


say(f"RESULT subworlds identity {identity}")
if DROPIN in ("p", "pc") and (pc.rank, pc.size) != (int(pc.id()), int(pc.nhost())):
    # p.parallel's rank and size must agree with the pc.id()/pc.nhost() the script sees.
    say(f"RESULT subworlds p.parallel rank/size {pc.rank}/{pc.size} at {identity}")

NCELL = 4
_net = {}


def ring(weight):
    """Run the ring with ``weight`` on this subworld; its rank 0 returns the digest."""
    pc.gid_clear()
    _net.clear()
    rank, nhost = int(pc.id()), int(pc.nhost())
    cells, links = {}, []
    for gid in range(rank, NCELL, nhost):
        soma = h.Section(name=f"soma{gid}")
        soma.L = soma.diam = 20
        soma.insert("hh")
        syn = h.ExpSyn(soma(0.5))
        detector = h.NetCon(soma(0.5)._ref_v, None, sec=soma)
        cells[gid] = (soma, syn, detector)
        pc.set_gid2node(gid, rank)
        pc.cell(gid, detector)
    for gid, (_, syn, _) in cells.items():
        nc = pc.gid_connect((gid - 1) % NCELL, syn)
        nc.weight[0], nc.delay = weight, 2
        links.append(nc)
    if 0 in cells:
        stim = h.NetStim()
        stim.number, stim.start = 1, 1
        links.append(h.NetCon(stim, cells[0][1], 0, 0, 0.02))
        links.append(stim)
    tvec, idvec = h.Vector(), h.Vector()
    pc.spike_record(-1, tvec, idvec)
    _net.update(cells=cells, links=links, record=(tvec, idvec))
    pc.set_maxstep(10)
    h.finitialize(-65)
    pc.psolve(40)
    mine = [(round(t, 6), int(g)) for t, g in zip(tvec, idvec)]
    everyone = pc.py_gather(mine, 0)
    if rank != 0:
        return None
    spikes = sorted(s for part in everyone for s in part)
    text = " ".join(f"{t:.6f}:{g}" for t, g in spikes)
    return weight, nhost, len(spikes), hashlib.sha256(text.encode()).hexdigest()[:16]


pc.runworker()
for weight in (0.005, 0.01, 0.02, 0.04):
    pc.submit(ring, weight)
results = []
while pc.working():
    results.append(pc.pyret())
print(f"RESULT subworlds nhost={int(pc.nhost_world())}", flush=True)
for weight, nhost, count, digest in sorted(results):
    print(f"RESULT subworlds w={weight}: {count} spikes on {nhost} ranks, {digest}", flush=True)
pc.done()
