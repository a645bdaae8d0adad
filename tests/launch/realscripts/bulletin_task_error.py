"""A bulletin-board task raises on a worker (the course's batch shape, one bad parameter).

Raw NEURON ends the job with ``MPI_Abort(MPI_COMM_WORLD, -1)`` from the worker. With
parnrn the job still ends, but through parnrn's report: the worker's rank, and the task's
own traceback naming the bad parameter. Forms: see README.md.
"""

import time

from _forms import setup

h, pc, _ = setup()


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
