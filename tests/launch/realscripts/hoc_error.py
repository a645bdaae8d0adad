"""A hoc error on one rank: rank 0 registers gid 1 twice with ``pc.set_gid2node``.

Raw NEURON (``pc.mpiabort_on_error`` left at 1) prints ``0 NEURON: gid=1 already exists
on this process as an output port`` and calls ``MPI_Abort(MPI_COMM_WORLD, -1)``: status
255. With parnrn the error is expected to surface as a Python exception on rank 0, named
by parnrn's failure report (``parnrn: rank 0 failed``), and still end every rank.

Forms and set-up: see README.md in this directory.
"""

# ruff: noqa: E402  (parnrn, then mpi4py, must come before the other imports)
import os

DROPIN = os.environ.get("PARNRN_DROPIN", "")
if DROPIN == "1":
    import parnrn  # noqa: F401
elif DROPIN in ("p", "pc"):
    from parnrn import p
if os.environ.get("RAW_MPI_SETUP", "mpi4py") == "mpi4py":
    from mpi4py import MPI  # noqa: F401

from neuron import h

if DROPIN == "p":
    h = p  # noqa: F811
h.nrnmpi_init()
pc = p.parallel if DROPIN == "pc" else h.ParallelContext()

rank = int(pc.id())
pc.set_gid2node(1 + rank * 10, rank)
if rank == 0:
    pc.set_gid2node(1, 0)
pc.barrier()
print("RESULT hoc_error not reached", flush=True)
