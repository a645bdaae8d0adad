"""A bulletin-board task raises on a worker (the course's batch shape, one bad parameter).

Raw NEURON ends the job with ``MPI_Abort(MPI_COMM_WORLD, -1)`` from the worker. With
parnrn the job still ends, but through parnrn's report: the worker's rank, and the task's
own traceback naming the bad parameter. Forms: see README.md.
"""

# ruff: noqa: E402  (parnrn, then mpi4py, must come before the other imports)
import os

if os.environ.get("PARNRN_DROPIN", "") == "1":
    import parnrn  # noqa: F401
if os.environ.get("RAW_MPI_SETUP", "mpi4py") == "mpi4py":
    from mpi4py import MPI  # noqa: F401

import time

from neuron import h

h.nrnmpi_init()
pc = h.ParallelContext()


def task(amplitude):
    time.sleep(0.2)  # long enough that the workers take tasks, not only the master
    if int(pc.id_world()) != 0:
        raise ValueError(f"bad parameter {amplitude} on world rank {int(pc.id_world())}")
    return amplitude


pc.runworker()
for amplitude in range(6):
    pc.submit(task, amplitude)
while pc.working():
    pc.pyret()
print(f"RESULT bulletin_task_error nhost={int(pc.nhost())}: no task failed", flush=True)
pc.done()
