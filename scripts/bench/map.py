"""map benchmark: per-task overhead of p.parallel.map and the balance of an uneven sweep.

    python scripts/bench/map.py        # 7 launches of mpiexec -n 2, about a minute

2,000 trivial tasks (``fn(x) = x``) through ``p.parallel.map`` and
``mpi4py.futures.MPICommExecutor(comm, root=0).map`` (alternating in one launch), and
through NEURON's bulletin board (``pc.runworker``, ``submit``, ``working``, ``pyret``,
``done``: a launch of its own, since ``pc.done()`` ends the workers); the launches
alternate 3 times; wall time per task, medians. With 2 ranks p.parallel.map and the
bulletin board run tasks on both ranks, MPICommExecutor on rank 1 only (its root only
hands out). Then 32 ring runs of uneven length (50 cells, 100 to 1000 ms) through p.parallel.map on
the 2 ranks: the total against the ideal, the sum of the tasks' own times / 2 workers.
Last, a BluePyOpt generation: its own SimpleCell optimisation (``DEAPOptimisation``,
``offspring_size=16``, 4 generations, each evaluation in a process BluePyOpt forks),
serially with the builtin ``map`` (plain ``python``, no parnrn) and on the 2 ranks with
``map_function=p.parallel.allmap``: wall time per generation.
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
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))

from _common import emit, fmt_time, mpiexec  # noqa: E402

TASKS = 2000
REPEATS = 5
ROUNDS = 3
SWEEP = 32
GENERATIONS = 4
OFFSPRING = 16
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


def part_trivial() -> dict:
    """2,000 trivial tasks: p.parallel.map and MPICommExecutor (default backoff, and 0),
    alternating, so that both see the same machine."""
    from mpi4py.futures import MPICommExecutor

    from parnrn import p

    world = p.parallel.world_comm
    comm = world.Dup()
    times: dict[str, list[float]] = {}

    def timed(name: str, run: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        world.Barrier()
        began = time.perf_counter()
        run(*args, **kwargs)
        times.setdefault(name, []).append(time.perf_counter() - began)

    def executor(chunksize: int, **options: Any) -> None:
        with MPICommExecutor(comm, root=0, **options) as pool:
            if pool is not None:
                list(pool.map(trivial, range(TASKS), chunksize=chunksize))

    for _ in range(REPEATS):
        for chunksize in (1, 10):
            timed(f"map{chunksize}", p.parallel.map, trivial, range(TASKS), chunksize=chunksize)
            timed(f"executor{chunksize}", executor, chunksize)
            timed(f"fast_executor{chunksize}", executor, chunksize, backoff=0)
    if world.Get_rank() != 0:
        return {}
    return {name: statistics.median(seconds) / TASKS for name, seconds in times.items()}


def part_sweep() -> dict:
    """32 ring runs of uneven length through p.parallel.map: total against ideal."""
    from parnrn import p

    world = p.parallel.world_comm
    tstops = [100 + 900 * ((i * 13) % SWEEP) / (SWEEP - 1) for i in range(SWEEP)]
    world.Barrier()
    began = time.perf_counter()
    durations = p.parallel.map(timed_ring, tstops)
    total = time.perf_counter() - began
    if world.Get_rank() != 0:
        return {}
    return {"sweep_total": total, "sweep_ideal": sum(durations) / world.Get_size()}


def part_bluepyopt() -> dict:
    """BluePyOpt's SimpleCell optimisation: wall time per generation, serially (one plain
    process, the builtin map) or through p.parallel.allmap under mpiexec."""
    import bluepyopt
    from bluepyopt.ephys.examples.simplecell import simplecell

    serial = os.environ.get("PMI_RANK") is None
    if serial:
        map_function, rank = map, 0
    else:
        from parnrn import p

        map_function, rank = p.parallel.allmap, p.parallel.rank
    optimisation = bluepyopt.optimisations.DEAPOptimisation(
        simplecell.SimpleCell().cell_evaluator,
        offspring_size=OFFSPRING,
        seed=1,
        map_function=map_function,
    )
    began = time.perf_counter()
    optimisation.run(max_ngen=GENERATIONS)
    per_generation = (time.perf_counter() - began) / GENERATIONS
    if rank != 0:
        return {}
    return {"bluepyopt_serial" if serial else "bluepyopt_2": per_generation}


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


def launch(part: str, ranks: int = 2) -> dict:
    argv = [sys.executable, __file__, part]
    if ranks > 1:
        argv = [mpiexec(), "-n", str(ranks), *argv]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=TIME_LIMIT)
    lines = [line for line in done.stdout.splitlines() if line.startswith("@json ")]
    if done.returncode != 0 or not lines:
        sys.exit(f"{part} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return json.loads(lines[-1][6:])


def main() -> None:
    # The bulletin board needs a launch of its own (pc.done() ends the workers): the
    # launches alternate, ROUNDS times, and each figure is the median over the rounds.
    rounds: dict[str, list[float]] = {}
    for _ in range(ROUNDS):
        for part in ("trivial", "bulletin"):
            for name, value in launch(part).items():
                rounds.setdefault(name, []).append(value)
    figures = {name: statistics.median(values) for name, values in rounds.items()}
    figures.update(launch("sweep"))
    figures.update(launch("bluepyopt", ranks=1))
    figures.update(launch("bluepyopt"))
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
    serial, parallel = figures["bluepyopt_serial"], figures["bluepyopt_2"]
    rows.append(
        [
            f"BluePyOpt SimpleCell, a generation of {OFFSPRING}",
            fmt_time(parallel),
            "-",
            "-",
            "-",
            "-",
            "-",
            "-",
        ]
    )
    total, ideal = figures["sweep_total"], figures["sweep_ideal"]
    notes = [
        f"Wall time per task, 2 ranks on one node: the median of {REPEATS} runs in a launch, "
        f"then the median over {ROUNDS} launches alternating with the bulletin board's. The "
        "machine is shared with other work: compare the ratios, not the absolute times.",
        "p.parallel.map and the bulletin board run tasks on both ranks; MPICommExecutor on "
        "rank 1 only, with its default polling backoff (up to 1 ms) and with backoff=0, "
        "alternating with p.parallel.map in the same launch. The bulletin board has no chunksize.",
        f"Sweep of {SWEEP} ring runs (50 cells, 100-1000 ms) through p.parallel.map on 2 "
        f"ranks: {total:.2f} s; ideal (sum of the tasks' own times / 2 workers) "
        f"{ideal:.2f} s; {total / ideal:.3f}x ideal (target <= 1.10x).",
        f"BluePyOpt's SimpleCell optimisation ({OFFSPRING} offspring, {GENERATIONS} "
        f"generations, evaluations forked by BluePyOpt): {fmt_time(serial)} a generation "
        f"serially with the builtin map, {fmt_time(parallel)} through p.parallel.allmap "
        f"on 2 ranks, {serial / parallel:.2f}x faster.",
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
    parts = {
        "trivial": part_trivial,
        "bulletin": part_bulletin,
        "sweep": part_sweep,
        "bluepyopt": part_bluepyopt,
    }
    if len(sys.argv) > 1 and sys.argv[1] in parts:
        result = parts[sys.argv[1]]()
        if result:
            print("@json " + json.dumps(result), flush=True)
    else:
        main()
