"""The ring example with a SONATA soma report of every cell's voltage, written during the
run by every rank, read back with libsonata on rank 0; the plot is written next to this
script:
mpiexec -n 4 python docs/examples/voltage_report.py"""

import os

import libsonata
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from parnrn import p
from parnrn.examples import ring

HERE = os.path.dirname(os.path.abspath(__file__))  # where the picture goes
model = ring.build(ncell=20)
p.parallel.report("soma_v", range(20), "v", dt=0.1, overwrite=True)  # -> soma_v.h5
p.parallel.run(100)

if p.parallel.rank == 0:
    population = libsonata.SomaReportReader("soma_v.h5")["default"]
    frame = population.get(node_ids=[0, 1, 2])
    data = np.asarray(frame.data)  # float32, one row per time step, one column per cell
    print(f"{len(population.get_node_ids())} cells, (start, stop, dt) = {population.times}")
    print(f"data {data.shape} {data.dtype} in {population.data_units}, nodes {frame.ids}")
    fig, ax = plt.subplots(figsize=(7, 3))
    for column, gid in enumerate(frame.ids):
        ax.plot(frame.times, data[:, column], label=f"gid {gid}")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("soma v (mV)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "voltage_report.png"), dpi=100)
