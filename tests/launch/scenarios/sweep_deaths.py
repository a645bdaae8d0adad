"""A rank that dies inside a task of ``p.parallel.map``: ``python sweep_deaths.py MODE BAD``.

Eight items of 0.1 s each; the first item the failing rank runs (world rank ``BAD``, a
number or ``last``) dies in the way MODE says: ``raise``, ``sys_exit_zero``,
``sys_exit_three``, ``os_exit_zero``, ``sigterm``, ``sigkill``, ``segfault``, ``quit``
(NEURON's ``h.quit()``). Every item writes ``@item <index> rank <rank>`` as it starts
(one write: mpiexec merges the ranks' output), so the test can tell the failing rank's
item.
"""

import ctypes
import os
import signal
import sys
import time

from _scenario import failing_now, setup
from neuron import h

from parnrn import p

_, mode, bad = setup()
world_rank = int(h.ParallelContext().id_world())


def die():
    failing_now()
    if mode == "raise":
        raise ValueError(f"evaluation refused on rank {world_rank}")
    if mode == "sys_exit_zero":
        sys.exit(0)
    if mode == "sys_exit_three":
        sys.exit(3)
    if mode == "os_exit_zero":
        os._exit(0)
    if mode == "sigterm":
        os.kill(os.getpid(), signal.SIGTERM)
    if mode == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "segfault":
        ctypes.string_at(0)
    if mode == "quit":
        h.quit()
    time.sleep(1)


def task(index):
    os.write(1, f"@item {index} rank {world_rank}\n".encode())  # one line, one write
    time.sleep(0.1)
    if world_rank == bad:
        die()
    return index


results = p.parallel.map(task, range(8))
os.write(1, f"rank {world_rank} finished\n".encode())
