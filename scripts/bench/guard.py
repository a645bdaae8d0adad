"""Guard benchmark: what rank-aware checking costs per small collective, on 2 ranks.

    python scripts/bench/guard.py        # relaunches itself under mpiexec -n 2

For a small broadcast, an allgather and a barrier, prints the time per call of parnrn
guarded (fingerprints checked, the default), parnrn unguarded (``PARNRN_CHECKS=0``) and raw
mpi4py (``comm.bcast``, ``comm.allgather``, ``comm.Barrier``), with the guard's added cost.
Target: the guard adds at most 10 us per collective.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from _common import emit, ensure_ranks, fmt_time, per_call  # noqa: E402

ensure_ranks(2)

from parnrn import configure, transport  # noqa: E402
from parnrn.runtime import start  # noqa: E402

comm = start().data
rank = comm.Get_rank()
SMALL = {"name": "ring", "ncell": 100, "tstop": 250.0, "seed": 12345}


def operations() -> dict[str, tuple]:
    mine = SMALL if rank == 0 else None
    return {
        "broadcast (small dict)": (
            lambda: transport.broadcast(mine, 0, comm),
            lambda: comm.bcast(mine, 0),
        ),
        "allgather (int)": (lambda: transport.allgather(rank, comm), lambda: comm.allgather(rank)),
        "barrier": (lambda: transport.barrier(comm), comm.Barrier),
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
            ["target: guard cost at most 10 us per collective"],
            {},
        )


main()
