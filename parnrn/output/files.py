"""A file written by every rank: nothing under the final name until every rank succeeded.

Rank 0 refuses an existing path (unless asked to overwrite) or one it cannot create (its
folder missing or read-only), naming the path the user gave, and picks the temporary name,
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


def check_writable(path: str, overwrite: bool) -> None:
    """Raise, naming ``path`` (never the temporary name written first), unless it can be
    created: ``FileExistsError`` when it exists and ``overwrite`` is false,
    ``FileNotFoundError`` when its folder does not exist, ``PermissionError`` when the
    folder is read-only.

    Example::

        check_writable("out/spikes.h5", overwrite=False)
        # FileNotFoundError: [rank 0/1] cannot write out/spikes.h5: its folder
        # /home/me/out does not exist
    """
    if os.path.lexists(path) and not overwrite:
        raise FileExistsError(f"{rank_tag()} {path} exists: remove it or pass overwrite=True")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"{rank_tag()} cannot write {path}: its folder {folder} does not exist"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(
            f"{rank_tag()} cannot write {path}: its folder {folder} is not writable"
        )


def temporary_name(path: str) -> str:
    """The name beside ``path`` that a file is written under until complete (it keeps
    the extension, which numpy's savez and readers of the partial file want)."""
    head, extension = os.path.splitext(path)
    return f"{head}.partial-{os.getpid()}{extension}"


def remove_temporary(partial: str | None) -> None:
    """Remove the temporary file ``partial`` if it is there (any rank may: every rank
    knows its name, and another may have removed it first)."""
    try:
        if partial is not None:
            os.remove(partial)
    except FileNotFoundError:
        pass


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
        if rank == 0:
            check_writable(path, overwrite)
    partial = transport.broadcast(temporary_name(path) if rank == 0 else None, 0, comm)
    try:
        yield partial
        with transport.collective(comm):
            if rank == 0:
                os.replace(partial, path)
    except Exception:  # raised on every rank: the block's steps are collective
        if rank == 0:
            remove_temporary(partial)
        # Removed before any rank goes on (to end the job, say).
        transport.barrier(comm)
        raise
