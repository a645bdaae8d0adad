"""Network set-up benchmark: parnrn against raw NEURON calls and nrn-patch, on 2 ranks.

    python scripts/bench/network.py [--sizes 10000 100000]   # relaunches under mpiexec -n 2

N IntFire1 cells dealt round-robin, K = 10 incoming connections each (sources, weights
and delays from a generator seeded by the target gid), a Poisson NetStim per cell. For
each method: microseconds per cell registered (set_gid2node + cell) and per connection
(gid_connect + weight + delay), the set-up total, and psolve for 100 ms; ratios against
raw measured in the same run. Times are the slowest rank's; raw and parnrn alternate
twice and each figure is the better of the two. Cell creation is not timed.
For parnrn the collective gid check is timed on its own (its share of set-up is printed).
nrn-patch is skipped when not installed, or when its estimated set-up exceeds the cut-off.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

from _common import emit, ensure_ranks, fmt_time  # noqa: E402

ensure_ranks(2)

import numpy as np  # noqa: E402

from parnrn import p  # noqa: E402
from parnrn.context import gids as gid_check  # noqa: E402
from parnrn.runtime import neuron_context, start  # noqa: E402

K = 10
TSTOP = 100.0
REPEATS = 2
PATCH_CUTOFF = 120.0  # seconds of estimated nrn-patch set-up before it is skipped

h, pc = neuron_context()
parallel = p.parallel
comm = parallel.comm
rank, size = parallel.rank, parallel.size


def slowest(seconds: float) -> float:
    return comm.allreduce(seconds, op=start().MPI.MAX)


def inputs(gid: int, ncell: int) -> tuple[list[int], list[float], list[float]]:
    rng = np.random.default_rng([7, gid])
    return (
        rng.integers(0, ncell, K).tolist(),
        rng.uniform(0.01, 0.1, K).tolist(),
        rng.uniform(1.0, 3.0, K).tolist(),
    )


def make_cells(ncell: int) -> tuple[list[int], list, list, list]:
    """This rank's gids, cells, drives and their NetCons (untimed)."""
    mine = list(range(rank, ncell, size))
    cells, drives, drive_ncs = [], [], []
    for gid in mine:
        cell = h.IntFire1()
        drive = h.NetStim()
        drive.interval, drive.number, drive.start, drive.noise = 10, 1e9, 0, 1
        drive.noiseFromRandom123(gid, 7, 0)
        nc = h.NetCon(drive, cell)
        nc.weight[0], nc.delay = 0.4, 1
        cells.append(cell)
        drives.append(drive)
        drive_ncs.append(nc)
    return mine, cells, drives, drive_ncs


def raw(ncell: int) -> dict:
    mine, cells, keep, _ = model = make_cells(ncell)
    wiring = [inputs(gid, ncell) for gid in mine]
    comm.Barrier()
    start = time.perf_counter()
    for gid, cell in zip(mine, cells):
        pc.set_gid2node(gid, rank)
        pc.cell(gid, h.NetCon(cell, None))
    registered = time.perf_counter()
    netcons = []
    for cell, (sources, weights, delays) in zip(cells, wiring):
        for source, weight, delay in zip(sources, weights, delays):
            nc = pc.gid_connect(source, cell)
            nc.weight[0] = weight
            nc.delay = delay
            netcons.append(nc)
    connected = time.perf_counter()
    comm.Barrier()
    start_run = time.perf_counter()
    # The same work p.run does: parnrn records every gid's spikes when none were asked for.
    spikes = h.Vector(), h.Vector()
    pc.spike_record(-1, *spikes)
    pc.set_maxstep(10)
    h.finitialize()
    pc.psolve(TSTOP)
    comm.Barrier()
    ran = time.perf_counter()
    pc.gid_clear()
    del model, netcons, keep, spikes
    return result(mine, registered - start, connected - registered, ran - start_run)


def parnrn(ncell: int) -> dict:
    parallel.gid_clear()
    gc.collect()
    comm.Barrier()
    mine = parallel.distribute(range(ncell)).tolist()
    _, cells, keep, _ = model = make_cells(ncell)
    wiring = [inputs(gid, ncell) for gid in mine]
    comm.Barrier()
    start = time.perf_counter()
    for gid, cell in zip(mine, cells):
        p.ParallelCon(cell, gid)
    registered = time.perf_counter()
    for cell, (sources, weights, delays) in zip(cells, wiring):
        for source, weight, delay in zip(sources, weights, delays):
            p.ParallelCon(source, cell, weight=weight, delay=delay)
    connected = time.perf_counter()
    comm.Barrier()
    check_start = time.perf_counter()
    problems = gid_check.check(comm, parallel.network.registry)
    checked = time.perf_counter() - check_start
    assert problems == ([], 0), problems
    comm.Barrier()
    start_run = time.perf_counter()
    p.parallel.run(TSTOP)
    comm.Barrier()
    ran = time.perf_counter()
    parallel.gid_clear()
    del model, keep
    out = result(mine, registered - start, connected - registered, ran - start_run)
    out["check"] = slowest(checked)
    return out


def patch(ncell: int) -> dict | None:
    try:
        from patch import p as patch_p
    except ImportError:
        return None
    mine, cells, keep, _ = model = make_cells(ncell)
    wiring = [inputs(gid, ncell) for gid in mine]
    # Estimate from 200 cells first: nrn-patch is slow enough to need a cut-off.
    probe = min(200, len(mine))
    comm.Barrier()
    start = time.perf_counter()
    for gid, cell in zip(mine[:probe], cells[:probe]):
        patch_p.ParallelCon(cell, int(gid))
    estimate = slowest((time.perf_counter() - start) / probe * len(mine) * (1 + K / 2.5))
    if estimate > PATCH_CUTOFF:
        pc.gid_clear()
        return {"skipped": f"estimated {estimate:.0f} s > cut-off {PATCH_CUTOFF:.0f} s"}
    for gid, cell in zip(mine[probe:], cells[probe:]):
        patch_p.ParallelCon(cell, int(gid))
    registered = time.perf_counter()
    netcons = []
    for cell, (sources, weights, delays) in zip(cells, wiring):
        for source, weight, delay in zip(sources, weights, delays):
            netcons.append(patch_p.ParallelCon(int(source), cell, weight=weight, delay=delay))
    connected = time.perf_counter()
    comm.Barrier()
    start_run = time.perf_counter()
    patch_p.finitialize()  # set_maxstep, setup_transfer, finitialize
    patch_p.parallel.psolve(TSTOP)
    comm.Barrier()
    ran = time.perf_counter()
    pc.gid_clear()
    del model, netcons, keep
    return result(mine, registered - start, connected - registered, ran - start_run)


def result(mine: list, register: float, connect: float, run: float) -> dict:
    return {
        "cell": slowest(register) / max(len(mine), 1),
        "conn": slowest(connect) / max(len(mine) * K, 1),
        "setup": slowest(register + connect),
        "psolve": run,
    }


def best(old: dict, new: dict) -> dict:
    return {key: min(value, old.get(key, value)) for key, value in new.items()}


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--sizes", type=float, nargs="+", default=[1e4, 1e5])
    sizes = [int(n) for n in cli.parse_args().sizes]
    rows = []
    notes = []
    for ncell in sizes:
        base, ours = {}, {}
        for _ in range(REPEATS):  # alternate, keep each figure's best: the machine is shared
            base = best(base, raw(ncell))
            gc.collect()
            ours = best(ours, parnrn(ncell))
            gc.collect()
        theirs = patch(ncell)
        gc.collect()
        for name, found in (("raw NEURON", base), ("parnrn", ours), ("nrn-patch", theirs)):
            if found is None:
                notes.append(f"N={ncell}: nrn-patch not installed (pip install nrn-patch)")
                continue
            if "skipped" in found:
                notes.append(f"N={ncell}: nrn-patch skipped, {found['skipped']}")
                continue
            rows.append([
                f"{ncell:.0e}", name,
                f"{found['cell'] * 1e6:.1f}", f"{found['cell'] / base['cell']:.2f}x",
                f"{found['conn'] * 1e6:.1f}", f"{found['conn'] / base['conn']:.2f}x",
                fmt_time(found["setup"]), fmt_time(found["psolve"]),
                f"{found['psolve'] / base['psolve']:.2f}x",
            ])  # fmt: skip
        notes.append(
            f"N={ncell}: parnrn gid check {fmt_time(ours['check'])} = "
            f"{ours['check'] / ours['setup']:.1%} of parnrn set-up (target < 5%)"
        )
    if rank == 0:
        headers = ["N", "method", "us/cell", "vs raw", "us/conn", "vs raw", "set-up",
                   "psolve 100ms", "vs raw"]  # fmt: skip
        emit(f"network set-up on {size} ranks, IntFire1, K={K}, round-robin", headers, rows,
             notes, {})  # fmt: skip


if __name__ == "__main__":
    main()
