"""Who this process is in the job: its rank, the number of ranks, and the ``[rank r/N]`` tag.

Known before MPI starts, from the launcher's environment (``launched_as``), and exactly
once ``runtime.start()`` has told it. Every parnrn message that names a rank gets its
prefix from ``rank_tag``.
"""

from __future__ import annotations

import os
from typing import NamedTuple


class Launch(NamedTuple):
    """What the launcher says it started: this process as task ``rank`` of ``size``, by
    ``launcher``, read from the environment variables ``rank_variable`` and
    ``size_variable``."""

    launcher: str
    rank: int
    size: int
    rank_variable: str
    size_variable: str


# (launcher, rank variable, size variable), the launcher closest to the process first: an
# mpiexec run inside a Slurm step (its proxies started by srun) gives its ranks its own
# variables as well as the step's, and the step's count the proxies, not the ranks.
_LAUNCHERS = (
    ("Open MPI's mpiexec", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
    ("a PMI launcher (MPICH's or Intel MPI's mpiexec, srun --mpi=pmi2)", "PMI_RANK", "PMI_SIZE"),
)

_known: tuple[int, int] | None = None


def launched_as() -> Launch | None:
    """Which launcher started this process as one task of several, or None.

    ``SLURM_NTASKS`` alone does not say so: it is the allocation's size in an ``sbatch``
    script and in a shell inside ``salloc``, where ``python model.py`` is one process.
    A task that ``srun`` started has ``SLURM_STEP_NUM_TASKS``, the size of its step (and
    a ``SLURM_PROCID`` above 0 is never the batch script or an ``salloc`` shell).

    Example::

        launch = launched_as()   # under srun -n 4, on its second task:
        launch.launcher, launch.rank, launch.size   # ('srun', 1, 4)
    """
    env = os.environ
    for launcher, rank_variable, size_variable in _LAUNCHERS:
        if size_variable in env:
            rank = int(env.get(rank_variable, 0))
            return Launch(launcher, rank, int(env[size_variable]), rank_variable, size_variable)
    if "SLURM_PROCID" not in env:
        return None
    rank = int(env["SLURM_PROCID"])
    if "SLURM_STEP_NUM_TASKS" in env:
        size_variable = "SLURM_STEP_NUM_TASKS"
    elif rank > 0 and "SLURM_NTASKS" in env:
        size_variable = "SLURM_NTASKS"
    else:
        return None
    return Launch("srun", rank, int(env[size_variable]), "SLURM_PROCID", size_variable)


def set_known(rank: int, size: int) -> None:
    """Record this rank and the number of ranks, as MPI reports them."""
    global _known
    _known = (rank, size)


def known_rank_size() -> tuple[int, int]:
    """This rank and the number of ranks, without starting MPI.

    Exact once MPI has started; before that, read from the launcher's environment.

    Example::

        rank, size = known_rank_size()   # under srun before MPI starts: from SLURM_PROCID
    """
    if _known is not None:
        return _known
    launch = launched_as()
    return (0, 1) if launch is None else (launch.rank, launch.size)


def rank_tag(rank: int | None = None, size: int | None = None) -> str:
    """``[rank r/N]``, the prefix of every parnrn message; this process's by default.

    Example::

        raise GidError(f"{rank_tag()} gid 7 is already registered")
        rank_tag(1, comm.Get_size())   # '[rank 1/4]' for a rank of another communicator
    """
    if rank is None or size is None:
        rank, size = known_rank_size()
    return f"[rank {rank}/{size}]"
