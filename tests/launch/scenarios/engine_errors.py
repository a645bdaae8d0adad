"""What CoreNEURON cannot run, on one rank of a ring run with ``engine="coreneuron"``.

Without parnrn's check each mode would be an ``MPI_Abort`` (cvode, linear_mechanism,
extracellular, missing_mechanism), a silently dropped callback (event_callback), a
one-sample Vector (sampled_record, report) or exit status 42 (gpu). Every rank prints the
``EngineError`` it caught on one line, then raises it again: the job must end with status 1.
"""

import os
import sys
import tempfile

from _scenario import failing_now, setup

from parnrn import p
from parnrn.examples import ring

rt, mode, bad = setup()
model = ring.build(12, 2)
cell = next((cell for gid, cell in model.items() if gid >= 0), None)
keep = []
if rt.rank == bad:
    if mode == "cvode":
        p.CVode().active(1)
    elif mode == "linear_mechanism":
        c, g, y, b = p.Matrix(1, 1, 2), p.Matrix(1, 1), p.Vector(1), p.Vector(1)
        keep.append(p.LinearMechanism(c, g, y, b, 0.5, sec=cell.soma))
    elif mode == "extracellular":
        cell.soma.insert("extracellular")
    elif mode == "event_callback":
        keep.append(p.FInitializeHandler(lambda: p.CVode().event(2.0, lambda: None)))
    elif mode == "sampled_record":
        keep.append(p.Vector().record(cell.soma(0.5)._ref_v, 0.1))
    elif mode == "gpu":
        from neuron import coreneuron

        coreneuron.gpu = True
    elif mode == "missing_mechanism":
        keep += [p.IntFire1(), p.IntFire1()]
    elif mode != "report":
        sys.exit(f"unknown mode {mode}")
if mode == "report":  # a report is collective: every rank records its part
    folder = p.parallel.broadcast(tempfile.mkdtemp() if rt.rank == 0 else None)
    p.parallel.report("soma_v", range(12), dt=0.1, path=os.path.join(folder, "soma_v.h5"))
try:
    failing_now()
    p.parallel.run(20, engine="coreneuron")
except Exception as exc:
    # One line (its line breaks as " // "): two ranks' lines may interleave, never split.
    shown = str(exc).replace("\n", " // ")
    print(f"rank {rt.rank} caught {type(exc).__name__}: {shown}", flush=True)
    raise
