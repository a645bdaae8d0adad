"""Output benchmark on 2 ranks: save_spikes (every rank writes its share) against
gather_spikes + Spikes.save, and the cost of a soma voltage report during the run.

    python scripts/bench/output.py [--spikes 1e7] [--ncell 1000] [--tstop 200]
    # launches mpiexec -n 2 itself, each part under a timeout

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

RANKS, TIMEOUT = 2, 120


def launch_parts() -> None:
    """Outside MPI: run each part under ``mpiexec -n 2``, each bounded by TIMEOUT s."""
    from mpi4py import MPI

    if MPI.COMM_WORLD.Get_size() == RANKS:
        return
    args = [a for a in sys.argv[1:] if a != "--part"]
    runs = [["spikes"]] + [
        ["reports", mode, factor] for factor in ("1", "4") for mode in ("vectors", "report")
    ]
    for part in runs:
        argv = [mpiexec(), "-n", str(RANKS), sys.executable, sys.argv[0], *args, "--part", *part]
        try:
            code = subprocess.call(argv, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            sys.exit(f"output benchmark part {part} took longer than {TIMEOUT} s")
        if code:
            sys.exit(code)
    sys.exit(0)


launch_parts()

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
    cli.add_argument("--ncell", type=int, default=1000)
    cli.add_argument("--tstop", type=float, default=200)
    cli.add_argument("--part", nargs="+", default=["spikes"])
    args = cli.parse_args()
    if args.part[0] == "reports":
        reports(args.ncell, args.tstop, args.part[1], int(args.part[2]))
    else:
        spike_files(int(args.spikes))


def reports(ncell: int, tstop: float, mode: str, factor: int) -> None:
    """One run of the ring, recording soma v into Vectors or into a report; prints a line."""
    from parnrn.examples import ring

    cells = ring.build(ncell, 3)
    folder = parallel.broadcast(tempfile.mkdtemp(prefix="parnrn-bench-") if rank == 0 else None)
    path = os.path.join(folder, "soma_v.h5")
    flushing = [0.0]
    if mode == "vectors":
        vectors = []
        for cell in cells.values():
            if isinstance(cell, ring.Cell):
                vectors.append(p.Vector())
                vectors[-1].record(cell.soma(0.5)._ref_v, 0.1)
    else:
        report = parallel.report("soma_v", range(ncell), "v", dt=0.1, path=path)
        flush = report.flush

        def timed_flush() -> None:
            began = time.perf_counter()
            flush()
            flushing[0] += time.perf_counter() - began

        report.flush = timed_flush
    comm.Barrier()
    began = time.perf_counter()
    parallel.run(tstop * factor)
    seconds = max(comm.allgather(time.perf_counter() - began))
    peaks = comm.allgather(status("VmHWM"))
    flushed = max(comm.allgather(flushing[0]))
    if rank == 0:
        written = os.path.getsize(path) if mode == "report" else 0
        rate = f"{written / flushed / MB:.0f} MB/s" if flushed else "-"
        print(
            f"reports | tstop {tstop * factor:g} ms | {mode:7} | run {fmt_time(seconds)} | "
            f"flushing {fmt_time(flushed)} | file {written / MB:.1f} MB | write {rate} | "
            f"peak RSS MB {' / '.join(f'{x / MB:.0f}' for x in peaks)}",
            flush=True,
        )
        for entry in os.listdir(folder):
            os.remove(os.path.join(folder, entry))
        os.rmdir(folder)
    del cells


def spike_files(n: int) -> None:
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
