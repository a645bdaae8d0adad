"""Output benchmark: save_spikes (every rank writes its share) against gather_spikes +
Spikes.save, on 2 ranks.

    python scripts/bench/output.py [--spikes 1e7]   # relaunches under mpiexec -n 2

Each rank holds n recorded spikes (times in order, random gids) in NEURON Vectors, as
spike_record leaves them. For each method: seconds (one call, the slowest rank), write
throughput, and the growth of each rank's peak resident memory during the call (VmHWM,
reset before each method through /proc/self/clear_refs), against the target: 1.5x that
rank's own spike arrays + 64 MB.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))

from _common import emit, fmt_time, mpiexec  # noqa: E402

RANKS, TIMEOUT = 2, 180


def relaunch() -> None:
    """Re-run under ``mpiexec -n 2``, bounded by TIMEOUT seconds."""
    from mpi4py import MPI

    if MPI.COMM_WORLD.Get_size() == RANKS:
        return
    argv = [mpiexec(), "-n", str(RANKS), sys.executable, *sys.argv]
    try:
        sys.exit(subprocess.call(argv, timeout=TIMEOUT))
    except subprocess.TimeoutExpired:
        sys.exit(f"output benchmark took longer than {TIMEOUT} s")


relaunch()

import numpy as np  # noqa: E402

from parnrn import p  # noqa: E402
from parnrn.context.spikes import SpikeRecords  # noqa: E402

parallel = p.parallel
comm = parallel.comm
rank, size = parallel.rank, parallel.size
MB = 1e6


def status(field: str) -> float:
    """A /proc/self/status memory field, in bytes."""
    with open("/proc/self/status") as file:
        for line in file:
            if line.startswith(field + ":"):
                return float(line.split()[1]) * 1024
    raise KeyError(field)


def measured(fn) -> tuple[float, list[float]]:
    """Seconds of one collective call (slowest rank) and every rank's peak RSS growth."""
    with open("/proc/self/clear_refs", "w") as file:
        file.write("5")  # the peak (VmHWM) restarts from the current RSS
    before = status("VmRSS")
    comm.Barrier()
    start = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - start
    growth = status("VmHWM") - before
    seconds = max(comm.allgather(elapsed))
    return seconds, comm.allgather(growth)


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--spikes", type=float, default=1e7)
    n = int(cli.parse_args().spikes)
    rng = np.random.default_rng(rank)
    tv = p.Vector(np.sort(rng.uniform(0, 1000, n)))
    gv = p.Vector((rng.integers(0, 1_000_000, n) * size + rank).astype(float))
    parallel.network.records = SpikeRecords()
    parallel.network.records.add(tv, gv)
    own = 16 * n  # this rank's times and gids, float64 each
    folder = parallel.broadcast(tempfile.mkdtemp(prefix="parnrn-bench-") if rank == 0 else None)

    def gather_and_save():
        spikes = parallel.gather_spikes(0)
        if spikes is not None:
            spikes.save(os.path.join(folder, "gathered.h5"))

    methods = {
        "gather_spikes + Spikes.save": gather_and_save,
        **{
            f"save_spikes {sorting}": (
                lambda s=sorting: parallel.save_spikes(os.path.join(folder, f"{s}.h5"), sorting=s)
            )
            for sorting in ["by_time", "by_id", "none"]
        },
    }
    rows, base = [], None
    limit = 1.5 * own + 64 * MB
    for name, fn in methods.items():
        seconds, growth = measured(fn)
        base = base or seconds
        rows.append(
            [name, fmt_time(seconds), f"{seconds / base:.2f}x",
             f"{own * size / seconds / MB:.0f}",
             " / ".join(f"{g / MB:.0f}" for g in growth),
             " / ".join(f"{g / own:.2f}" for g in growth),
             "yes" if max(growth) <= limit else "no"]
        )  # fmt: skip
    if rank == 0:
        for entry in os.listdir(folder):
            os.remove(os.path.join(folder, entry))
        os.rmdir(folder)
        emit(
            f"spike files from {size} ranks, {n:.0e} spikes per rank "
            f"(own arrays {own / MB:.0f} MB per rank)",
            ["method", "time", "vs gather+save", "MB/s written", "peak RSS growth MB (ranks)",
             "x own arrays", "<= 1.5x own + 64 MB"],
            rows,
            ["file: 16 bytes per spike (float64 time, uint64 node id); time: slowest rank",
             "targets: save_spikes by_time <= 2x gather+save in time; every rank's growth <= "
             "1.5x own + 64 MB. Timings share 2 cores with other work: compare within one run."],
            {},
        )  # fmt: skip


if __name__ == "__main__":
    main()
