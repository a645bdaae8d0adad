"""map benchmark: per-task overhead of p.parallel.map and the balance of an uneven sweep.

    python scripts/bench/map.py        # launches mpiexec -n 2 three times, under a minute

Part 1 (one launch on 2 ranks): 2,000 trivial tasks (``fn(x) = x``) through
``p.parallel.map``, through ``mpi4py.futures.MPICommExecutor(comm, root=0).map`` and, in
part 2 (a launch of its own: ``pc.done()`` ends the workers), through NEURON's bulletin
board (``pc.runworker``, ``submit``, ``working``, ``pyret``, ``done``); the median of 5
runs each, as wall time per task. With 2 ranks p.parallel.map and the bulletin board run
tasks on both ranks, MPICommExecutor on rank 1 only (its root only hands out).
Then 32 ring runs of uneven length (50 cells, 100 to 1000 ms) through p.parallel.map on
the 2 ranks: the total against the ideal, the sum of the tasks' own times / 2 workers.
Targets: map <= 1.5x MPICommExecutor per task, below the bulletin board; sweep within
10 % of ideal.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

from _common import emit, fmt_time, mpiexec  # noqa: E402

TASKS = 2000
REPEATS = 5
SWEEP = 32
TIME_LIMIT = 150  # seconds for one launch


def trivial(x: int) -> int:
    return x


def timed_ring(tstop: float) -> float:
    """One ring run of ``tstop`` ms on this rank; returns its own duration."""
    from parnrn import p
    from parnrn.examples import ring

    began = time.perf_counter()
    model = ring.build(50, 3)
    p.parallel.run(tstop)
    del model
    return time.perf_counter() - began


def part_executor() -> dict:
    """MPICommExecutor alone, for a launch with its polling backoff set to 0."""
    from mpi4py import MPI
    from mpi4py.futures import MPICommExecutor

    comm = MPI.COMM_WORLD.Dup()
    out = {}
    for chunksize in (1, 10):
        times = []
        for _ in range(REPEATS):
            comm.Barrier()
            began = time.perf_counter()
            with MPICommExecutor(comm, root=0) as executor:
                if executor is not None:
                    list(executor.map(trivial, range(TASKS), chunksize=chunksize))
            times.append(time.perf_counter() - began)
        out[f"fast_executor{chunksize}"] = statistics.median(times) / TASKS
    return out if comm.Get_rank() == 0 else {}


def part_mpi() -> dict:
    from mpi4py.futures import MPICommExecutor

    from parnrn import p

    world = p.parallel.world_comm
    comm = world.Dup()
    rank = world.Get_rank()
    out: dict = {}
    for chunksize in (1, 10):
        mapped, executor_times = [], []
        for _ in range(REPEATS):
            world.Barrier()
            began = time.perf_counter()
            p.parallel.map(trivial, range(TASKS), chunksize=chunksize, progress=False)
            mapped.append(time.perf_counter() - began)
            comm.Barrier()
            began = time.perf_counter()
            with MPICommExecutor(comm, root=0) as executor:
                if executor is not None:
                    list(executor.map(trivial, range(TASKS), chunksize=chunksize))
            executor_times.append(time.perf_counter() - began)
        out[f"map{chunksize}"] = statistics.median(mapped) / TASKS
        out[f"executor{chunksize}"] = statistics.median(executor_times) / TASKS
    tstops = [100 + 900 * ((i * 13) % SWEEP) / (SWEEP - 1) for i in range(SWEEP)]
    world.Barrier()
    began = time.perf_counter()
    durations = p.parallel.map(timed_ring, tstops, progress=False)
    out["sweep_total"] = time.perf_counter() - began
    if rank == 0:
        out["sweep_ideal"] = sum(durations) / world.Get_size()
    return out if rank == 0 else {}


def part_bulletin() -> dict:
    from parnrn.runtime import neuron_context

    h, pc = neuron_context()
    pc.runworker()  # workers stay in here until the master's pc.done()
    times = []
    for _ in range(REPEATS):
        began = time.perf_counter()
        for x in range(TASKS):
            pc.submit(trivial, x)
        while pc.working():
            pc.pyret()
        times.append(time.perf_counter() - began)
    pc.done()
    return {"bulletin": statistics.median(times) / TASKS}


def launch(part: str, env: dict | None = None) -> dict:
    argv = [mpiexec(), "-n", "2", sys.executable, __file__, part]
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=TIME_LIMIT, env={**os.environ, **(env or {})}
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("@json ")]
    if done.returncode != 0 or not lines:
        sys.exit(f"{part} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return json.loads(lines[-1][6:])


def main() -> None:
    figures = {
        **launch("mpi"),
        **launch("executor", {"MPI4PY_FUTURES_BACKOFF": "0"}),
        **launch("bulletin"),
    }
    rows = []
    for chunksize in (1, 10):
        mapped, executor = figures[f"map{chunksize}"], figures[f"executor{chunksize}"]
        fast = figures[f"fast_executor{chunksize}"]
        bulletin = figures["bulletin"] if chunksize == 1 else None
        rows.append(
            [
                f"{TASKS} trivial tasks, chunksize {chunksize}",
                fmt_time(mapped),
                fmt_time(executor),
                fmt_time(fast),
                fmt_time(bulletin),
                f"{mapped / executor:.2f}x",
                f"{mapped / fast:.2f}x",
                f"{mapped / bulletin:.2f}x" if bulletin else "-",
            ]
        )
    total, ideal = figures["sweep_total"], figures["sweep_ideal"]
    notes = [
        "Wall time per task, median of 5 runs, 2 ranks on one node; the machine is shared, "
        "so compare the ratios (measured in the same run), not the absolute times.",
        "p.parallel.map and the bulletin board run tasks on both ranks; MPICommExecutor on "
        "rank 1 only, with its default polling backoff (up to 1 ms) and, in a launch of its "
        "own, with MPI4PY_FUTURES_BACKOFF=0. The bulletin board has no chunksize.",
        f"Sweep of {SWEEP} ring runs (50 cells, 100-1000 ms) through p.parallel.map on 2 "
        f"ranks: {total:.2f} s; ideal (sum of the tasks' own times / 2 workers) "
        f"{ideal:.2f} s; {total / ideal:.3f}x ideal (target <= 1.10x).",
    ]
    emit(
        "map: p.parallel.map against mpi4py.futures and NEURON's bulletin board (2 ranks)",
        [
            "workload",
            "p.parallel.map",
            "MPICommExecutor",
            "exec, backoff 0",
            "bulletin board",
            "vs exec",
            "vs exec 0",
            "vs bb",
        ],
        rows,
        notes,
        {"figures": figures},
    )


if __name__ == "__main__":
    parts = {"mpi": part_mpi, "executor": part_executor, "bulletin": part_bulletin}
    if len(sys.argv) > 1 and sys.argv[1] in parts:
        result = parts[sys.argv[1]]()
        if result:
            print("@json " + json.dumps(result), flush=True)
    else:
        main()
