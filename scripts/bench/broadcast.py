"""Broadcast benchmark: parnrn against raw mpi4py, NEURON and nrn-patch, on 2 ranks.

    python scripts/bench/broadcast.py        # relaunches itself under mpiexec -n 2

Prints seconds per broadcast for each payload and method, ratios against the baselines
the targets name (for arrays from 8 B to 100 MB the faster of comm.bcast and "Bcast new
buf + size", comm.bcast otherwise), and the peak RSS growth of a 100 MB parnrn broadcast
on root and on a receiver. "Bcast new buf" is comm.Bcast into a new buffer on each call,
as any broadcast that returns a new array must do; "+ size" adds the comm.bcast of the
array's dtype and shape that a receiver needs first.
"parnrn in place" is ``broadcast_into`` of an array every rank preallocated.
nrn-patch is timed once per payload, and skipped after a payload exceeds its cut-off.

Where the time goes (2 ranks, this shared VM, measured piece by piece, 2026-12-04; the
VM's speed drifts by up to 2x within an hour, so compare ratios from one run):

- the agreement is a persistent ``Allreduce_init`` request made once per communicator and
  started per call: 0.9-1.4 us of MPI for 256 bytes, where posting a new ``Iallreduce``
  cost 2.1 us (measured in the same run). That alone took the small dict from 7.2 to 4.5
  us (1.59 -> 1.27 x comm.bcast) and barrier from 4.9 to 2.7 us in the VM's fast phase.
- around it, the agreement's Python: ~1.5 us before the start (state, fingerprint,
  packing the words and the inline payload), ~1.0 us after it (the checked words are
  compared as bytes with this rank's own, the learned words unpacked, the Agreement
  built), the call itself ~0.5 us (slow phase; about half that in the fast one).
- small dict, slow phase: 8.2 us against comm.bcast's 4.9 us. On top of the agreement
  (4.7 us with the dict inline), dumps on the root 1.0 us (the pickler that checks for
  builtin data; pickle.dumps alone is 0.5 us) and loads on the receiver 0.75 us.
- bare arrays travel as a dtype/shape descriptor inside the agreement and their data in
  one ``Bcast([array, BYTE])`` straight into the receiver's new array (no byte view, no
  pickle, no second agreement; a layout seen before skips dumps on the root and, compared
  with the last one, the descriptor's lookup on receivers). 1 KB array, slow phase: 9.3
  us against 6.3 us for comm.bcast of the layout plus a fresh-buffer Bcast: the agreement
  (~4.5 us) and the Bcast (1.8 us), plus the array's blob 0.3 us, np.empty 0.25 us and
  the layout checks. From 10 KB the data dominate (1.0-1.1 x).
- what is left is the Python of the call and of the agreement (~3 us a call in the slow
  phase): halving it needs the agreement's packing, checking and waiting in compiled
  code; the MPI calls are already the cheapest ones mpi4py offers.
"""

from __future__ import annotations

import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

from _common import emit, ensure_ranks, fmt_time, per_call  # noqa: E402

ensure_ranks(2)

import numpy as np  # noqa: E402
from mpi4py.util import pkl5  # noqa: E402

from parnrn import transport  # noqa: E402
from parnrn.runtime import neuron_context, start  # noqa: E402

MB = 1 << 20
PATCH_CUTOFF = 5.0  # seconds for one nrn-patch broadcast before it is skipped

comm = start().data
rank = comm.Get_rank()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_growth_100mb() -> tuple[float, float]:
    """Peak RSS growth (MB) on root and receiver of one parnrn 100 MB broadcast.
    Measured first, before anything else raises the peak."""
    data = np.ones(100 * MB // 8) if rank == 0 else None
    comm.Barrier()
    before = peak_rss_mb()
    transport.broadcast(data, root=0, comm=comm)
    comm.Barrier()
    growth = peak_rss_mb() - before
    return tuple(comm.allgather(growth))  # type: ignore[return-value]


ARRAY_SIZES = {"8 B": 8, "1 KB": 1 << 10, "10 KB": 10 << 10, "100 KB": 100 << 10, "1 MB": MB,
               "10 MB": 10 * MB, "100 MB": 100 * MB}  # fmt: skip


def payloads() -> dict[str, object]:
    arrays = {
        f"{name} array": np.random.default_rng(seed).random(nbytes // 8)
        for seed, (name, nbytes) in enumerate(ARRAY_SIZES.items())
    }
    return {
        "small dict": {"name": "ring", "ncell": 100, "tstop": 250.0, "seed": 12345},
        "10k float list": [float(i) * 0.5 for i in range(10_000)],
        **arrays,
        "50 MB dict of arrays": {f"a{i}": np.full(MB // 8, float(i)) for i in range(50)},
    }


def raw_bytes(obj: object) -> np.ndarray:
    """A preallocated buffer of the payload's size, for the comm.Bcast baseline."""
    if isinstance(obj, np.ndarray):
        return obj.copy() if rank == 0 else np.empty_like(obj)
    if isinstance(obj, dict) and all(isinstance(v, np.ndarray) for v in obj.values()):
        return np.empty(sum(v.nbytes for v in obj.values()), np.uint8)
    return np.empty(len(pkl5.pickle.dumps(obj)), np.uint8)


def time_patch(patch_parallel, obj) -> float | None:
    comm.Barrier()
    start_time = time.perf_counter()
    patch_parallel.broadcast(obj if rank == 0 else None, root=0)
    comm.Barrier()
    return comm.bcast(time.perf_counter() - start_time, root=0)


def time_methods(obj: object, pkl5_comm, pc) -> dict[str, float | None]:
    """Seconds per broadcast of ``obj`` from rank 0 for every method but nrn-patch."""
    mine = obj if rank == 0 else None
    buffer = raw_bytes(obj)

    def empty() -> np.ndarray:
        return np.empty_like(buffer)

    def new_buffer_with_size() -> None:  # what a receiver that knows nothing must do
        layout = comm.bcast((buffer.dtype.str, buffer.shape) if rank == 0 else None, 0)
        comm.Bcast(buffer if rank == 0 else np.empty(layout[1], layout[0]), 0)

    in_place = fresh = None
    if isinstance(obj, np.ndarray):  # the array itself on root, a preallocated one elsewhere
        target = obj if rank == 0 else np.empty_like(obj)
        in_place = per_call(comm, lambda: transport.broadcast_into(target, 0, comm))
        fresh = per_call(comm, new_buffer_with_size)
    return {
        "parnrn": per_call(comm, lambda: transport.broadcast(mine, 0, comm)),
        "parnrn in place": in_place,
        "comm.bcast": per_call(comm, lambda: comm.bcast(mine, 0)),
        "pkl5 bcast": per_call(comm, lambda: pkl5_comm.bcast(mine, 0)),
        "comm.Bcast": per_call(comm, lambda: comm.Bcast(buffer, 0)),
        "Bcast new buf": per_call(comm, lambda: comm.Bcast(buffer if rank == 0 else empty(), 0)),
        "Bcast new buf + size": fresh,
        "py_broadcast": per_call(comm, lambda: pc.py_broadcast(mine, 0), repeats=2),
        "nrn-patch": None,
    }


def main() -> None:
    rss_root, rss_receiver = rss_growth_100mb()
    h, pc = neuron_context()
    try:
        from patch import p as patch_p

        patch_parallel = patch_p.parallel
    except ImportError:
        patch_parallel = None
    pkl5_comm = pkl5.Intracomm(comm)
    rows = []
    sweep: dict[str, list] = {"bytes": []}
    patch_alive = patch_parallel is not None
    for name, obj in payloads().items():
        times = time_methods(obj, pkl5_comm, pc)
        if patch_alive:
            times["nrn-patch"] = time_patch(patch_parallel, obj)
            patch_alive = times["nrn-patch"] < PATCH_CUTOFF
        ratio = f"{times['parnrn'] / times['comm.bcast']:.2f} x comm.bcast"
        if times["parnrn in place"] is not None:
            fresh = min(times["comm.bcast"], times["Bcast new buf + size"])
            ratio = (
                f"{times['parnrn'] / fresh:.2f} x faster of comm.bcast, new buf + size "
                f"(in place {times['parnrn in place'] / times['comm.Bcast']:.2f} x Bcast)"
            )
        rows.append([name, *map(fmt_time, times.values()), ratio])
        if name.endswith(" array"):
            sweep["bytes"].append(obj.nbytes)
            for method, seconds in times.items():
                sweep.setdefault(method, []).append(seconds)
    if rank == 0:
        notes = [
            f"100 MB parnrn broadcast, peak RSS growth: root {rss_root:.1f} MB, "
            f"receiver {rss_receiver:.1f} MB"
        ]
        if patch_parallel is None:
            notes.append("nrn-patch not installed: pip install nrn-patch to include it")
        emit(
            f"broadcast on {comm.Get_size()} ranks, time per call (best of 5 loops)",
            ["payload", *times.keys(), "parnrn ratio"],
            rows,
            notes,
            {"sweep": sweep},
        )


main()
