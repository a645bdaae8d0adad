"""Who this process is in the job: its rank, the number of ranks, and the ``[rank r/N]`` tag.

Known before MPI starts, from the launcher's environment (``PMI_RANK``, ``SLURM_PROCID``,
...), and exactly once ``runtime.start()`` has told it. Every parnrn message that names a
rank gets its prefix from ``rank_tag``.
"""

from __future__ import annotations

import os

_RANK_ENV = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID")
_SIZE_ENV = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "SLURM_NTASKS")

_known: tuple[int, int] | None = None


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
    rank = next((os.environ[name] for name in _RANK_ENV if name in os.environ), "0")
    size = next((os.environ[name] for name in _SIZE_ENV if name in os.environ), "1")
    return int(rank), int(size)


def rank_tag(rank: int | None = None, size: int | None = None) -> str:
    """``[rank r/N]``, the prefix of every parnrn message; this process's by default.

    Example::

        raise GidError(f"{rank_tag()} gid 7 is already registered")
        rank_tag(1, comm.Get_size())   # '[rank 1/4]' for a rank of another communicator
    """
    if rank is None or size is None:
        rank, size = known_rank_size()
    return f"[rank {rank}/{size}]"
