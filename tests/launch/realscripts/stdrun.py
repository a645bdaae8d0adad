"""The standard run system on a small parallel ring, and state set after initialization.

A ring of hh cells distributed over the ranks (raw ``pc.set_gid2node``/``pc.cell``/
``pc.gid_connect``), run four independent ways, each starting from its own
initialization and printing a digest of the gathered spikes and of gid 0's voltage:

- ``run``: ``h.tstop = 50``, ``h.run()``;
- ``continuerun``: ``h.stdinit()``, ``h.continuerun(20)``, ``h.continuerun(50)``;
- ``gate``: ``h.finitialize(-65)``, then the hh gate m of gid 0 set to 0.9 (and
  ``h.fcurrent()``), then ``pc.psolve(50)``: the run must start from that state (the
  script's first ``pc.psolve``);
- ``psolve``: ``h.stdinit()``, ``pc.psolve(25)``, ``pc.psolve(50)``.

A part that raises prints the exception's type instead of its digest, and the next part
still runs.

Forms and set-up: see README.md in this directory.
"""

import hashlib

from _forms import setup

h, pc, _ = setup()
h.load_file("stdrun.hoc")

NCELL = 4
rank, nhost = int(pc.id()), int(pc.nhost())

cells = {}
for gid in range(rank, NCELL, nhost):
    soma = h.Section(name=f"soma{gid}")
    soma.L = soma.diam = 20
    soma.insert("hh")
    syn = h.ExpSyn(soma(0.5))
    detector = h.NetCon(soma(0.5)._ref_v, None, sec=soma)
    cells[gid] = (soma, syn, detector)
    pc.set_gid2node(gid, rank)
    pc.cell(gid, detector)
links = []
for gid, (_, syn, _) in cells.items():
    nc = pc.gid_connect((gid - 1) % NCELL, syn)
    nc.weight[0], nc.delay = 0.02, 2
    links.append(nc)
if 0 in cells:
    stim = h.IClamp(cells[0][0](0.5))
    stim.delay, stim.dur, stim.amp = 2, 1, 0.5
tvec, idvec = h.Vector(), h.Vector()
pc.spike_record(-1, tvec, idvec)
vtrace = h.Vector()
if 0 in cells:
    vtrace.record(cells[0][0](0.5)._ref_v, 0.5)
pc.set_maxstep(10)


def digest():
    """Digest of every rank's spikes and of gid 0's voltage samples (on rank 0)."""
    mine = [(round(t, 6), int(g)) for t, g in zip(tvec, idvec)]
    trace = [round(v, 4) for v in vtrace] if 0 in cells else None
    everyone = pc.py_gather((mine, trace), 0)
    if rank != 0:
        return None
    spikes = sorted(s for part, _ in everyone for s in part)
    trace = next(tr for _, tr in everyone if tr is not None)
    text = repr((spikes, trace))
    sha = hashlib.sha256(text.encode()).hexdigest()[:16]
    return f"t={h.t:g} {len(spikes)} spikes {len(trace)} samples {sha}"


def part_run():
    h.tstop = 50
    h.run()


def part_continuerun():
    h.stdinit()
    h.continuerun(20)
    h.continuerun(50)


def part_psolve():
    h.stdinit()
    pc.psolve(25)
    pc.psolve(50)


def part_gate():
    h.finitialize(-65)
    if 0 in cells:
        cells[0][0](0.5).hh.m = 0.9
    h.fcurrent()
    pc.psolve(50)


for name, part in [
    ("run", part_run),
    ("continuerun", part_continuerun),
    ("gate", part_gate),
    ("psolve", part_psolve),
]:
    try:
        part()
        outcome = digest()
    except Exception as exc:  # reported, and the same on every rank
        outcome = f"raised {type(exc).__name__}"
    if rank == 0:
        print(f"RESULT stdrun {name}: {outcome}", flush=True)
if rank == 0:
    print(f"RESULT stdrun nhost={nhost}", flush=True)
