"""The brunel example on any number of ranks, its spikes written to one SONATA file by
every rank, read back with libsonata on rank 0; the raster is written next to this script:
mpiexec -n 4 python docs/examples/spike_file.py"""

import os

import libsonata
import matplotlib

matplotlib.use("Agg")

from parnrn import Spikes, p
from parnrn.examples.brunel import Params, build

HERE = os.path.dirname(os.path.abspath(__file__))  # where the picture goes
model = build(Params(ncell=1000))
p.parallel.run(200)
written = p.parallel.save_spikes("brunel_spikes.h5", population="brunel", overwrite=True)

if p.parallel.rank == 0:
    population = libsonata.SpikeReader("brunel_spikes.h5")["brunel"]
    node_ids, times = zip(*population.get())  # (node_id, time) pairs, by time
    print(f"{written} spikes from {p.parallel.size} ranks, sorted {population.sorting}")
    print("first three:", [(int(n), round(t, 3)) for n, t in zip(node_ids[:3], times[:3])])
    spikes = Spikes(times, node_ids)
    ax = spikes.raster(cells=1000, ranks=p.parallel.size, title="brunel_spikes.h5, read back")
    ax.figure.savefig(os.path.join(HERE, "spike_file.png"), dpi=100)
