"""Shared helpers for the benchmarks: relaunch under mpiexec, time loops, print tables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable


def mpiexec() -> str:
    """The mpiexec next to this Python (the MPI wheel's), else the one on PATH."""
    path = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return path if os.path.exists(path) else "mpiexec"


def ensure_ranks(n: int) -> None:
    """Re-run this script under ``mpiexec -n n`` unless it already runs on ``n`` ranks."""
    from mpi4py import MPI

    if MPI.COMM_WORLD.Get_size() == n:
        return
    if MPI.COMM_WORLD.Get_size() != 1:
        sys.exit(f"run this benchmark on {n} ranks")
    argv = [mpiexec(), "-n", str(n), sys.executable, *sys.argv]
    sys.exit(subprocess.call(argv, env={**os.environ, "PARNRN_BENCH_CHILD": "1"}))


def per_call(comm, fn: Callable[[], object], budget: float = 0.3, repeats: int = 5) -> float:
    """Seconds per call of a collective ``fn``: the best of ``repeats`` timed loops, each
    sized (by rank 0, shared with all) to take about ``budget`` seconds."""
    comm.Barrier()
    start = time.perf_counter()
    fn()
    comm.Barrier()
    once = time.perf_counter() - start
    loops = comm.bcast(max(1, int(budget / max(once, 1e-7))), root=0)
    best = float("inf")
    for _ in range(repeats):
        comm.Barrier()
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        comm.Barrier()
        best = min(best, (time.perf_counter() - start) / loops)
    return comm.bcast(best, root=0)


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Right-aligned plain-text table."""
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]

    def line(cells: list[str]) -> str:
        return "  ".join(str(c).rjust(w) for c, w in zip(cells, widths))

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def emit(
    title: str, headers: list[str], rows: list[list[str]], notes: list[str], data: dict
) -> None:
    """Print a benchmark's table (call on rank 0 only); with ``PARNRN_BENCH_JSON=path`` also
    write it, and any raw ``data`` for plots, as JSON for ``scripts/bench/report``."""
    print(title)
    print(table(headers, rows))
    for note in notes:
        print(note)
    path = os.environ.get("PARNRN_BENCH_JSON")
    if path:
        record = {"title": title, "headers": headers, "rows": rows, "notes": notes, **data}
        with open(path, "w") as file:
            json.dump(record, file, indent=1)
