"""parnrn's object transport over mpi4py; it never imports NEURON.

``collectives`` moves any picklable object, ``arrays`` raw numpy arrays, ``reduce``
combines values (``allreduce``); ``guard`` is the fixed-size agreement every collective
starts with, ``serialize`` the pickling.

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
from .guard import gave_up
from .reduce import allreduce, allreduce_into

__all__ = [
    "allgather",
    "alltoall_arrays",
    "allreduce",
    "allreduce_into",
    "barrier",
    "broadcast",
    "broadcast_into",
    "collective",
    "default_comm",
    "gather",
    "gather_arrays",
    "gave_up",
    "same_on_every_rank",
    "scatter",
]
