"""Load balance benchmark: round robin, block and cost-balanced on a mixed hh network.

    python scripts/bench/balance.py [--ncell 200] [--tstop 60]   # launches mpiexec -n 2

The network is ``parnrn.examples.mixed``: hh cells of 200, 1 and 20 compartments, big and
small alternating in the first half of the gids, medium ones in the second, so that round
robin and block both load one rank more. On 2 ranks (bound one per core, so the times are real)
each strategy builds and runs the network three times, in turn; the table gives the
imbalance of the assignment from the costs alone, the medians of the run report's
imbalance and load balance and of psolve's wall time (slowest rank), and the speed-up of
each strategy over the better of round robin and block. The spikes of every run must be
the same. Then, without running, the imbalance of each assignment on 4 ranks. With
``--chart FILE`` the run reports of the last repeat are drawn side by side.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))

from _common import emit, mpiexec, table  # noqa: E402

from parnrn.examples import mixed  # noqa: E402

REPEATS = 3
TIME_LIMIT = 150  # seconds for the 2-rank run


def arguments() -> argparse.Namespace:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--ncell", type=int, default=200)
    cli.add_argument("--tstop", type=float, default=60.0)
    cli.add_argument("--chart", metavar="FILE", help="draw the last reports (.png)")
    return cli.parse_args()


def assigned_imbalance(ncell: int, size: int) -> dict[str, float]:
    """Imbalance (max / mean - 1) of the summed costs each strategy gives ``size`` ranks."""
    from neuron import h

    from parnrn.context import balance, gids
    from parnrn.context.runreport import imbalance

    kinds = {kind: (lambda k=kind: mixed.make_cell(k)) for kind in mixed.COMPARTMENTS}
    costs = balance.cost_per_type(h, kinds)
    cost = [costs[mixed.cell_type(gid, ncell)] for gid in range(ncell)]
    found = {}
    for strategy in mixed.STRATEGIES:
        loads = [
            sum(cost[gid] for gid in gids.distribute(range(ncell), rank, size, strategy, cost=cost))
            for rank in range(size)
        ]
        found[strategy] = imbalance(loads)
    return found


def child(args: argparse.Namespace) -> None:
    """On 2 ranks: every strategy, REPEATS times in turn; rank 0 prints the table."""
    import gc

    from parnrn import p

    parallel = p.parallel
    runs: dict[str, list] = {strategy: [] for strategy in mixed.STRATEGIES}
    digests = set()
    for _ in range(REPEATS):
        for strategy in mixed.STRATEGIES:
            parallel.gid_clear()
            model = mixed.build(args.ncell, strategy)
            parallel.barrier()
            parallel.run(args.tstop, quiet=True)
            spikes = parallel.gather_spikes()
            runs[strategy].append(parallel.run_report())
            if spikes is not None:
                digests.add(spikes.digest())
            del model
            gc.collect()
    if parallel.rank != 0:
        return
    assigned = assigned_imbalance(args.ncell, parallel.size)
    psolve = {s: statistics.median(float(r.psolve.max()) for r in runs[s]) for s in runs}
    best_plain = min(psolve["round_robin"], psolve["block"])
    rows = [
        [
            strategy,
            f"{assigned[strategy]:.1%}",
            f"{statistics.median(r.imbalance for r in runs[strategy]):.1%}",
            f"{statistics.median(r.load_balance for r in runs[strategy]):.2f}",
            f"{psolve[strategy]:.2f} s",
            f"{best_plain / psolve[strategy]:.2f}x",
        ]
        for strategy in mixed.STRATEGIES
    ]
    headers = ["strategy", "assigned imbalance", "measured imbalance", "load balance"]
    headers += ["psolve (median)", "vs better of rr/block"]
    notes = [
        f"{args.ncell} cells, {args.tstop:g} ms, 2 ranks bound one per core, medians of "
        f"{REPEATS}; imbalance = "
        "max/mean - 1 of computation (pc.step_time), load balance = mean computation / "
        "max(computation + wait)",
        f"spikes identical across strategies and repeats: {len(digests) == 1}",
    ]
    title = "Load balance: mixed hh network (parnrn.examples.mixed)"
    emit(title, headers, rows, notes, {"psolve": psolve})
    if args.chart:
        chart([(s, runs[s][-1]) for s in mixed.STRATEGIES], args.chart)


def chart(reports: list, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(reports), figsize=(10, 3.2), sharey=True)
    for ax, (strategy, report) in zip(axes, reports):
        report.plot(ax=ax)
        ax.set_title(f"{strategy}: imbalance {report.imbalance:.0%}", fontsize="medium")
    top = max(float((report.computation + report.wait).max()) for _, report in reports)
    axes[0].set_ylim(0, 1.35 * top)  # shared: room for the tallest bars and the legend
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    print(f"chart written to {path}")


def main() -> None:
    args = arguments()
    if os.environ.get("PARNRN_BENCH_CHILD"):
        child(args)
        return
    # One rank per core, each staying on its own: an unbound rank that moves between cores
    # of different speed (a shared VM) measures the cores, not the assignment.
    argv = [mpiexec(), "-n", "2", "-bind-to", "core", sys.executable, *sys.argv]
    env = {**os.environ, "PARNRN_BENCH_CHILD": "1"}
    launched = subprocess.Popen(argv, env=env, start_new_session=True)
    try:
        returncode = launched.wait(timeout=TIME_LIMIT)
    except subprocess.TimeoutExpired:
        os.killpg(launched.pid, signal.SIGKILL)  # mpiexec and its ranks
        launched.wait()
        sys.exit(f"the 2-rank benchmark did not finish in {TIME_LIMIT} s")
    if returncode:
        sys.exit(returncode)
    assigned = assigned_imbalance(args.ncell, 4)
    print()
    print(f"Assignments on 4 ranks (costs alone, not run), {args.ncell} cells")
    print(table(["strategy", "assigned imbalance"], [[s, f"{v:.1%}"] for s, v in assigned.items()]))


if __name__ == "__main__":
    main()
