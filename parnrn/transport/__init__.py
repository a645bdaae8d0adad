"""parnrn's object transport over mpi4py; it never imports NEURON.

``collectives`` moves any picklable object, ``arrays`` raw numpy arrays, ``reduce``
combines values (``allreduce``); ``guard`` is the fixed-size agreement every collective
starts with, ``serialize`` the pickling; ``farm`` hands out numbers and carries results to
rank 0 for ``p.parallel.map``.

Usable on its own in pure-mpi4py analysis code::

    from parnrn.transport import broadcast, gather
    table = broadcast(load_table() if rank == 0 else None)
"""

from .arrays import alltoall_arrays, gather_arrays
from .collectives import (
    allgather,
    barrier,
    broadcast,
    broadcast_into,
    collective,
    default_comm,
    gather,
    same_on_every_rank,
    scatter,
)
from .farm import Farm
from .guard import call_site, gave_up
from .reduce import allreduce, allreduce_into

__all__ = [
    "Farm",
    "allgather",
    "alltoall_arrays",
    "allreduce",
    "allreduce_into",
    "barrier",
    "broadcast",
    "broadcast_into",
    "call_site",
    "collective",
    "default_comm",
    "gather",
    "gather_arrays",
    "gave_up",
    "same_on_every_rank",
    "scatter",
]
