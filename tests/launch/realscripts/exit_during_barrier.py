"""Rank 0 ends with ``sys.exit(0)`` while every other rank waits in ``pc.barrier()``.

Raw NEURON started by ``h.nrnmpi_init()`` (this script's default): rank 0 leaves Python
without ``MPI_Finalize``, mpiexec kills the ranks still in the barrier and the job's exit
status is 0 or 9, at random (the barrier never completes; nothing says so). With mpi4py
imported first (``RAW_MPI_SETUP=mpi4py``) raw NEURON hangs instead: rank 0's
``MPI_Finalize`` waits for the ranks in the barrier.

Forms and set-up: see README.md in this directory.
"""

import sys
import time

from _forms import setup

h, pc, _ = setup("nrnmpi_init")

if int(pc.id()) == 0:
    print(f"RESULT exit_during_barrier nhost={int(pc.nhost())}: rank 0 leaves", flush=True)
    time.sleep(0.5)  # the other ranks are in the barrier by now
    sys.exit(0)
pc.barrier()
print(f"RESULT rank {int(pc.id())} passed the barrier", flush=True)
