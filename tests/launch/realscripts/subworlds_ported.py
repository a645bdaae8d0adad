"""``subworlds.py`` ported to parnrn's API: the same ring in every task, built with
``p.parallel.distribute`` and ``p.ParallelCon``, run with ``p.parallel.run`` and gathered
with ``p.parallel.gather_spikes``, all on the task's subworld; a ``p.parallel.broadcast``
inside the task checks that the object collectives act on the subworld too. Prints the
same ``RESULT`` lines as the raw script.
"""

import hashlib
import os
import sys

from parnrn import p

pc = p.parallel
pc.subworlds(2)

identity = (
    f"world {int(pc.id_world())}/{int(pc.nhost_world())} "
    f"subworld {pc.rank}/{pc.size} bbs {int(pc.id_bbs())}/{int(pc.nhost_bbs())}"
)


def say(line):
    """Print a whole line in one write: every rank prints these, and mpiexec merges them."""
    sys.stdout.flush()
    os.write(1, f"{line}\n".encode())


say(f"RESULT subworlds identity {identity}")
NCELL = 4
_net = {}


def ring(weight):
    """Run the ring with ``weight`` on this subworld; its rank 0 returns the digest."""
    pc.gid_clear()
    _net.clear()
    sent = pc.broadcast({"weight": weight, "from": int(pc.id_world())} if pc.rank == 0 else None)
    assert sent["weight"] == weight and sent["from"] == int(pc.id_world()) - pc.rank
    cells, links = {}, []
    for gid in pc.distribute(range(NCELL)):
        soma = p.Section(name=f"soma{gid}")
        soma.L = soma.diam = 20
        soma.insert("hh")
        syn = p.ExpSyn(soma(0.5))
        detector = p.NetCon(soma(0.5)._ref_v, None, sec=soma)
        cells[int(gid)] = (soma, syn, p.ParallelCon(detector, gid))
    for gid, (_, syn, _) in cells.items():
        p.ParallelCon((gid - 1) % NCELL, syn, weight=weight, delay=2)
    if 0 in cells:
        stim = p.NetStim()
        stim.number, stim.start = 1, 1
        links.append(p.NetCon(stim, cells[0][1], 0, 0, 0.02))
        links.append(stim)
    _net.update(cells=cells, links=links)
    pc.run(40, v_init=-65)
    spikes = pc.gather_spikes()
    if spikes is None:
        return None
    text = " ".join(f"{t:.6f}:{g}" for t, g in zip(spikes.times.round(6), spikes.gids))
    return weight, pc.size, len(spikes), hashlib.sha256(text.encode()).hexdigest()[:16]


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
