"""A file written by every rank: nothing under the final name until every rank succeeded.

Rank 0 refuses an existing path (unless asked to overwrite) and picks the temporary name,
which every rank then writes to; the block's steps must each be collective
(``transport.collective``), so that a failure on one rank raises on every rank, and then
rank 0 removes the temporary file. All ranks must see the same file system.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .. import transport
from ..ranks import rank_tag


def rank_size(comm: Any) -> tuple[int, int]:
    """This rank and the number of ranks of ``comm`` (None: one rank)."""
    return (0, 1) if comm is None else (comm.Get_rank(), comm.Get_size())


@contextmanager
def written_by_all(path: str, overwrite: bool, comm: Any) -> Iterator[str]:
    """The temporary name beside ``path`` that every rank writes to; renamed to ``path``
    by rank 0 once the block ends without error on every rank, removed otherwise.
    Collective.

    Example::

        with written_by_all("out.h5", overwrite=False, comm=comm) as partial:
            with transport.collective(comm):
                write_my_part(partial)
    """
    rank, _ = rank_size(comm)
    with transport.collective(comm):
        if rank == 0 and os.path.lexists(path) and not overwrite:
            raise FileExistsError(f"{rank_tag()} {path} exists: remove it or pass overwrite=True")
    head, extension = os.path.splitext(path)
    partial = f"{head}.partial-{os.getpid()}{extension}" if rank == 0 else None
    partial = transport.broadcast(partial, 0, comm)
    try:
        yield partial
        with transport.collective(comm):
            if rank == 0:
                os.replace(partial, path)
    except Exception:  # raised on every rank: the block's steps are collective
        if rank == 0 and os.path.exists(partial):
            os.remove(partial)
        # Removed before any rank goes on (to end the job, say).
        transport.barrier(comm)
        raise
