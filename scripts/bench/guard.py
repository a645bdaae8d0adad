"""Guard benchmark: what rank-aware checking costs per small collective, on 2 ranks.

    python scripts/bench/guard.py        # relaunches itself under mpiexec -n 2

For a small broadcast, an allgather, a barrier and allreduce of a float and of a 1 MB
float64 array, prints the time per call of parnrn guarded (fingerprints checked, the
default), parnrn unguarded (``PARNRN_CHECKS=0``) and raw mpi4py (``comm.bcast``,
``comm.allgather``, ``comm.Barrier``, ``comm.allreduce``, ``comm.Allreduce`` into a
preallocated array), with the guard's added cost. Targets: the guard adds at most 10 us
per collective; barrier and a float's allreduce at most 2x mpi4py, a 1 MB allreduce 1.2x.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from _common import emit, ensure_ranks, fmt_time, per_call  # noqa: E402

ensure_ranks(2)

import numpy as np  # noqa: E402

from parnrn import configure, transport  # noqa: E402
from parnrn.runtime import start  # noqa: E402

comm = start().data
rank = comm.Get_rank()
SMALL = {"name": "ring", "ncell": 100, "tstop": 250.0, "seed": 12345}
MB_ARRAY = np.arange(1 << 17, dtype=np.float64)
MB_RESULT = np.empty_like(MB_ARRAY)
MB_INTO = MB_ARRAY.copy()  # allreduce_into sums in place: the values grow, the cost does not


def operations() -> dict[str, tuple]:
    mine = SMALL if rank == 0 else None
    return {
        "broadcast (small dict)": (
            lambda: transport.broadcast(mine, 0, comm),
            lambda: comm.bcast(mine, 0),
        ),
        "allgather (int)": (lambda: transport.allgather(rank, comm), lambda: comm.allgather(rank)),
        "barrier": (lambda: transport.barrier(comm), comm.Barrier),
        "allreduce (float)": (
            lambda: transport.allreduce(1.5, "sum", comm),
            lambda: comm.allreduce(1.5),
        ),
        "allreduce (1 MB float64)": (
            lambda: transport.allreduce(MB_ARRAY, "sum", comm),
            lambda: comm.Allreduce(MB_ARRAY, MB_RESULT),
        ),
        "allreduce_into (1 MB float64)": (
            lambda: transport.allreduce_into(MB_INTO, "sum", comm),
            lambda: comm.Allreduce(MB_ARRAY, MB_RESULT),
        ),
        # The same, against Allreduce into a new array, as any allreduce that returns one
        # must do: here first-touching 1 MB of new memory costs more than the reduction.
        "allreduce (1 MB), raw new buf": (
            lambda: transport.allreduce(MB_ARRAY, "sum", comm),
            lambda: comm.Allreduce(MB_ARRAY, np.empty_like(MB_ARRAY)),
        ),
    }


def main() -> None:
    rows = []
    for name, (parnrn_call, raw_call) in operations().items():
        configure(checks=True)
        guarded = per_call(comm, parnrn_call)
        configure(checks=False)
        unguarded = per_call(comm, parnrn_call)
        configure(checks=True)
        raw = per_call(comm, raw_call)
        rows.append(
            [
                name,
                fmt_time(guarded),
                fmt_time(unguarded),
                fmt_time(raw),
                f"{(guarded - unguarded) * 1e6:+.2f} us",
                f"{guarded / raw:.2f} x",
            ]
        )
    if rank == 0:
        emit(
            f"guard cost on {comm.Get_size()} ranks, time per call (best of 5 loops)",
            ["operation", "guarded", "unguarded", "raw mpi4py", "guard cost", "vs raw"],
            rows,
            [
                "targets: guard cost at most 10 us per collective; barrier and allreduce "
                "(float) at most 2x, allreduce (1 MB) at most 1.2x raw mpi4py"
            ],
            {},
        )


main()
