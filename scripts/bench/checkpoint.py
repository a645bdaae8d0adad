"""Checkpoint benchmark: the time and size of a checkpoint against the run it saves.

    python scripts/bench/checkpoint.py      # relaunches itself on 2 ranks, ~1 minute

Rings of 1,000 and 4,000 hh cells (``parnrn.examples.ring``, 3 inputs each) and the
mixed network of 1,000 cells of 1 to 200 compartments run 100 ms; then
``p.parallel.checkpoint`` at 100 ms, and ``p.parallel.restore`` into the same model built
again in the same job. Times are the median of 3 and include the manifest (every gid's
fingerprint) and the spikes; the size is the directory's. Targets (issue 23): reported,
per 1,000 cells, against the run.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))

from _common import emit, ensure_ranks, fmt_time  # noqa: E402

REPEATS = 3
TSTOP = 100.0


def build(model: str, ncell: int):
    from parnrn.examples import mixed, ring

    if model == "ring":
        return ring.build(ncell, 3)
    return mixed.build(ncell, "round_robin")


def directory_size(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def measure(model: str, ncell: int, folder: str) -> dict:
    from parnrn import p

    times: dict[str, list[float]] = {"run": [], "checkpoint": [], "restore": []}

    def timed(name: str, action, *args) -> None:
        p.parallel.barrier()
        began = time.perf_counter()
        action(*args)
        p.parallel.barrier()
        times[name].append(time.perf_counter() - began)

    size = 0
    for repeat in range(REPEATS):
        path = os.path.join(folder, f"{model}{ncell}-{repeat}")
        keep = build(model, ncell)
        timed("run", p.parallel.run, TSTOP)
        timed("checkpoint", p.parallel.checkpoint, path)
        size = directory_size(path) if p.parallel.rank == 0 else 0
        del keep
        p.parallel.gid_clear()
        keep = build(model, ncell)
        timed("restore", p.parallel.restore, path)
        del keep
        p.parallel.gid_clear()
    return {name: statistics.median(values) for name, values in times.items()} | {"size": size}


def main() -> None:
    ensure_ranks(2)
    from parnrn import p

    folder = p.parallel.broadcast(tempfile.mkdtemp() if p.parallel.rank == 0 else None)
    cases = [("ring", 1000), ("ring", 4000), ("mixed", 1000)]
    figures = {f"{model}{ncell}": measure(model, ncell, folder) for model, ncell in cases}
    if p.parallel.rank != 0:
        return
    shutil.rmtree(folder)
    rows = []
    for model, ncell in cases:
        f = figures[f"{model}{ncell}"]
        per = 1000 / ncell
        rows.append(
            [
                f"{model}, {ncell} cells",
                fmt_time(f["run"]),
                fmt_time(f["checkpoint"]),
                fmt_time(f["restore"]),
                f"{f['size'] / 2**20:.1f} MiB",
                fmt_time(f["checkpoint"] * per),
                f"{f['size'] * per / 2**20:.2f} MiB",
                f"{f['checkpoint'] / f['run']:.2f}x",
            ]
        )
    emit(
        "checkpoint: p.parallel.checkpoint and restore against the 100 ms run (2 ranks)",
        [
            "model",
            "run 100 ms",
            "checkpoint",
            "restore",
            "size",
            "ckpt / 1000 cells",
            "size / 1000 cells",
            "ckpt / run",
        ],  # fmt: skip
        rows,
        [
            f"Median of {REPEATS}, 2 ranks on one node. Checkpoint: BBSaveState's text files "
            "(one per gid), the manifest and the spikes, written then renamed into place. "
            "Restore: into the same model built again, including the manifest check, "
            "set_maxstep and finitialize.",
        ],
        {"figures": figures},
    )


if __name__ == "__main__":
    main()
