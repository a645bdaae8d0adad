"""A hoc error on one rank: rank 0 registers gid 1 twice with ``pc.set_gid2node``.

Raw NEURON (``pc.mpiabort_on_error`` left at 1) prints ``0 NEURON: gid=1 already exists
on this process as an output port`` and calls ``MPI_Abort(MPI_COMM_WORLD, -1)``: status
255. With parnrn the error is expected to surface as a Python exception on rank 0, named
by parnrn's failure report (``parnrn: rank 0 failed``), and still end every rank.

Forms and set-up: see README.md in this directory.
"""

from _forms import setup

h, pc, _ = setup()

rank = int(pc.id())
pc.set_gid2node(1 + rank * 10, rank)
if rank == 0:
    pc.set_gid2node(1, 0)
pc.barrier()
print("RESULT hoc_error not reached", flush=True)
