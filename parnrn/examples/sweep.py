"""A parameter sweep: the ring's synaptic weights scaled by 16 gains, one ring per task.

    python -m parnrn.examples.sweep                                  # serial
    mpiexec -n 4 python -m parnrn.examples.sweep --ranks-per-task 2  # 2 rings at a time

``p.parallel.map`` hands the gains out to subworlds of ``--ranks-per-task`` ranks; each
task builds the ring on its subworld, runs it and returns the spike count and digest from
the subworld's rank 0. Rank 0 prints one line per gain: the same lines for any number of
ranks and any ``--ranks-per-task``. ``--alone`` runs each gain without ``map`` (serial),
for comparison.
"""

from __future__ import annotations

import argparse

import numpy as np

from parnrn import p
from parnrn.examples import ring

GAINS = np.round(np.linspace(0.25, 2.0, 16), 4).tolist()


def ring_digest(job: tuple[float, int, float]) -> tuple[int, str] | None:
    """One task: the ring with weights scaled by ``gain``; (spike count, digest) on the
    subworld's rank 0, None on its other ranks."""
    gain, ncell, tstop = job
    model = ring.build(ncell, 3, gain=gain)
    p.parallel.run(tstop)
    spikes = p.parallel.gather_spikes()
    del model
    return None if spikes is None else (len(spikes), spikes.digest())


def main(argv: list[str] | None = None) -> None:
    cli = argparse.ArgumentParser(description="Ring weight sweep with p.parallel.map.")
    cli.add_argument("--ncell", type=int, default=20, help="cells per ring")
    cli.add_argument("--tstop", type=float, default=100, help="simulated time (ms)")
    cli.add_argument("--ranks-per-task", type=int, default=1, help="ranks of one ring")
    cli.add_argument("--chunksize", type=int, default=1, help="items handed out at once")
    cli.add_argument("--progress", action="store_true", help="show a progress bar")
    cli.add_argument("--alone", action="store_true", help="each gain on its own, no map")
    args = cli.parse_args(argv)
    jobs = [(gain, args.ncell, args.tstop) for gain in GAINS]
    if args.alone:
        results = []
        for job in jobs:
            p.parallel.gid_clear()
            results.append(ring_digest(job))
        p.parallel.gid_clear()
    else:
        results = p.parallel.map(
            ring_digest,
            jobs,
            ranks_per_task=args.ranks_per_task,
            chunksize=args.chunksize,
            progress=args.progress,
        )
    if p.parallel.rank == 0:
        for index, (gain, (count, digest)) in enumerate(zip(GAINS, results)):
            print(f"sweep item {index} gain {gain}: {count} spikes, digest {digest}", flush=True)


if __name__ == "__main__":
    main()
