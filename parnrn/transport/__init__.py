"""parnrn's object transport over mpi4py; it never imports NEURON.

Usable on its own in pure-mpi4py analysis code::

    from parnrn.transport import broadcast, gather
    table = broadcast(load_table() if rank == 0 else None)
"""

from .collectives import (
    allgather,
    allreduce,
    barrier,
    broadcast,
    broadcast_into,
    collective,
    default_comm,
    gather,
    scatter,
)

__all__ = [
    "allgather",
    "allreduce",
    "barrier",
    "broadcast",
    "broadcast_into",
    "collective",
    "default_comm",
    "gather",
    "scatter",
]
