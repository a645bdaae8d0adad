"""The ring with a soma report of every cell and a compartment report of three cells,
written to the folder given: python tests/support/report_ring.py FOLDER (any rank count).
Also writes each rank's in-memory Vector.record of the soma voltage, to compare."""

import os
import sys

import numpy as np

from parnrn import p
from parnrn.examples import ring

folder = sys.argv[1]
cells = ring.build(20, 3)
for cell in cells.values():
    if isinstance(cell, ring.Cell):
        cell.soma.nseg = 3
memory = {}
for gid, cell in cells.items():
    if gid >= 0:
        memory[gid] = p.Vector()
        memory[gid].record(cell.soma(0.5)._ref_v, 0.1)
p.parallel.report("soma", range(20), "v", dt=0.1, buffer_mib=0.002,
                  path=os.path.join(folder, "soma.h5"))  # fmt: skip
p.parallel.report("all", [3, 4, 17], "ina", dt=0.05, sections="all", start=10, stop=45,
                  path=os.path.join(folder, "all.h5"))  # fmt: skip
p.parallel.run(60)
np.savez(
    os.path.join(folder, f"memory{p.parallel.rank}.npz"),
    **{str(g): v.as_numpy().astype(np.float32) for g, v in memory.items()},
)
