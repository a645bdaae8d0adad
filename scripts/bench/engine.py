"""Engine benchmark: NEURON against CoreNEURON on the same network, on 1 and 2 ranks.

    python scripts/bench/engine.py [--repeats 3] [--models ring mixed ballstick]  # ~8 min

Three networks, 100 ms each:

- the ring (``parnrn.examples.ring``, 2,000 one-compartment hh cells, 3 inputs each), one
  wave of activity;
- the mixed network (``parnrn.examples.mixed``, 1,000 cells of an hh soma and an hh
  dendrite, 1 to 200 compartments, dealt by cost), hh in every compartment;
- ball-and-stick (defined here, the kind of network issue 25 measured): 2,000 cells of an
  hh soma and a passive dendrite of 5 compartments, each hearing the 3 cells before it in
  a ring and a Poisson drive on its own stream (``p.parallel.noise``), about 8 spikes a
  cell.

Every figure comes
from a fresh process (``mpiexec -n 1`` or ``-n 2``, one rank per core), so that its peak
memory is its own, launched in turn for the engines and rank counts, ``--repeats`` times;
the table gives medians:

- psolve: the run report's psolve (slowest rank) of ``p.parallel.run(100)``. Under
  CoreNEURON it includes the model's transfer to CoreNEURON and back.
- 1-step psolve: the same, of a run to one time step (``p.parallel.run(h.dt)``) in a
  process of its own: for CoreNEURON the transfer there and back, its set-up and one
  step; for NEURON one step.
- set-up + transfer: the run report's set-up (gid check, ``set_maxstep``,
  ``finitialize``) plus the 1-step psolve; building the cells is not counted (the same
  Python code for both engines).
- integration: psolve minus the 1-step psolve.
- peak RSS: ``ru_maxrss`` at the end of the 100 ms run, the largest rank's (the whole
  process: Python, NEURON, MPI, the model and CoreNEURON's copy of it).

The speed-ups are NEURON's over CoreNEURON's: of the integration alone, and of psolve
(the model's transfer included). Target (issue 25): CoreNEURON >= 1.3x faster on psolve
at 1,000 cells and more. The spikes of every 100 ms run of a model must be the same
(every engine, rank count and repeat); the benchmark fails otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))

from _common import emit, fmt_time, mpiexec  # noqa: E402

TSTOP = 100.0
MODELS = {"ring": 2000, "mixed": 1000, "ballstick": 2000}  # cells
RANKS = (1, 2)
ENGINES = ("neuron", "coreneuron")
TIME_LIMIT = 300  # seconds for one launch
TARGET = 1.3  # CoreNEURON's psolve speed-up at 1,000 cells and more (issue 25)
MARK = "engine-bench:"  # the line of a launch's result, among NEURON's own output


def arguments() -> argparse.Namespace:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--repeats", type=int, default=3)
    cli.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    cli.add_argument("--child", nargs=4, metavar=("MODEL", "NCELL", "ENGINE", "TSTOP"),
                     help=argparse.SUPPRESS)  # fmt: skip
    return cli.parse_args()


def child(model: str, ncell: int, engine: str, tstop: float) -> None:
    """One launch: build ``model``, run it to ``tstop`` with ``engine``, print the run
    report's figures, the spikes' digest and the peak memory on rank 0."""
    from parnrn import p
    from parnrn.examples import mixed, ring

    builders = {
        "ring": lambda: ring.build(ncell, 3),
        "mixed": lambda: mixed.build(ncell, "cost"),
        "ballstick": lambda: ball_and_stick(ncell),
    }
    keep = builders[model]()
    if tstop <= 0:
        tstop = p.dt  # one time step
    p.parallel.run(tstop, quiet=True, engine=engine)
    report = p.parallel.run_report()
    spikes = p.parallel.gather_spikes()
    peaks = p.parallel.gather(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    del keep
    if report is None:
        return
    assert report.engine == engine, (report.engine, engine)
    result = {
        "setup": float(report.setup.max()),
        "psolve": float(report.psolve.max()),
        "spikes": len(spikes),
        "digest": spikes.digest(),
        "rss": max(peaks) * 1024,  # ru_maxrss is in KiB on Linux
        "compartments": int(report.compartments.sum()),
    }
    print(MARK, json.dumps(result), flush=True)


class BallAndStick:
    """An hh soma (500 um2) and a passive dendrite (200 um, 5 compartments) with an ExpSyn
    in its middle."""

    def __init__(self) -> None:
        from parnrn import p

        self.soma = p.Section(name="soma", cell=self)
        self.soma.L = self.soma.diam = 12.6157
        self.soma.insert("hh")
        self.dend = p.Section(name="dend", cell=self)
        self.dend.L, self.dend.diam, self.dend.nseg = 200, 1, 5
        self.dend.insert("pas")
        for seg in self.dend:
            seg.pas.g, seg.pas.e = 0.001, -65
        self.dend.connect(self.soma(1))
        self.syn = p.ExpSyn(self.dend(0.5))
        self.syn.tau = 2


def ball_and_stick(ncell: int) -> dict[int, object]:
    """This rank's share of the ball-and-stick network; what must stay alive, by gid."""
    from parnrn import p

    cells = {int(gid): BallAndStick() for gid in p.parallel.distribute(range(ncell))}
    for gid, cell in cells.items():
        p.ParallelCon(cell.soma, gid)
    keep: dict[int, object] = dict(cells)
    for gid, cell in cells.items():
        for k in (1, 2, 3):
            p.ParallelCon((gid - k) % ncell, cell.syn, weight=0.01, delay=1.0 + k)
        drive = p.NetStim()
        drive.interval, drive.number, drive.start, drive.noise = 10, 1e9, 0, 1
        p.parallel.noise(drive, gid, 0)
        drive_nc = p.NetCon(drive, cell.syn)
        drive_nc.weight[0], drive_nc.delay = 0.05, 1
        keep[-gid - 1] = (drive, drive_nc)
    return keep


def launch(model: str, ranks: int, engine: str, tstop: float) -> dict:
    """One fresh job of ``ranks`` ranks (one per core); its result."""
    argv = [mpiexec(), "-n", str(ranks), "-bind-to", "core", sys.executable, __file__]
    argv += ["--child", model, str(MODELS[model]), engine, str(tstop)]
    job = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, _ = job.communicate(timeout=TIME_LIMIT)
    except subprocess.TimeoutExpired:
        os.killpg(job.pid, signal.SIGKILL)  # mpiexec and its ranks
        job.wait()
        sys.exit(f"{model} on {ranks} rank(s) with {engine} did not finish in {TIME_LIMIT} s")
    lines = [line for line in out.splitlines() if line.startswith(MARK)]
    if job.returncode or not lines:
        sys.exit(f"{model} on {ranks} rank(s) with {engine} failed ({job.returncode}):\n{out}")
    return json.loads(lines[-1][len(MARK) :])


def measure(models: list[str], repeats: int) -> dict:
    """Every launch, ``repeats`` times in turn; the medians by (model, ranks, engine)."""
    runs: dict[tuple, list[dict]] = {}
    steps: dict[tuple, list[dict]] = {}
    for repeat in range(repeats):
        for model in models:
            for ranks in RANKS:
                for engine in ENGINES:
                    key = (model, ranks, engine)
                    print(f"   repeat {repeat + 1}: {model}, {ranks} rank(s), {engine}", flush=True)
                    runs.setdefault(key, []).append(launch(model, ranks, engine, TSTOP))
                    steps.setdefault(key, []).append(launch(model, ranks, engine, 0))
    figures = {}
    for key, full in runs.items():
        one = steps[key]
        step = statistics.median(r["psolve"] for r in one)
        psolve = statistics.median(r["psolve"] for r in full)
        figures[key] = {
            "psolve": psolve,
            "step": step,
            "setup": statistics.median(r["setup"] for r in one) + step,
            "integration": psolve - step,
            "rss": statistics.median(r["rss"] for r in full),
            "digests": sorted({r["digest"] for r in full}),
            "spikes": full[0]["spikes"],
            "compartments": full[0]["compartments"],
        }
    return figures


def main() -> None:
    args = arguments()
    if args.child:
        model, ncell, engine, tstop = args.child
        child(model, int(ncell), engine, float(tstop))
        return
    figures = measure(args.models, args.repeats)
    rows, notes, missed = [], [], []
    for model in args.models:
        for ranks in RANKS:
            base = figures[(model, ranks, "neuron")]
            for engine in ENGINES:
                f = figures[(model, ranks, engine)]
                integration = base["integration"] / f["integration"]
                psolve = base["psolve"] / f["psolve"]
                if engine == "coreneuron" and psolve < TARGET:
                    missed.append(f"{model} on {ranks} rank(s): {psolve:.2f}x")
                rows.append(
                    [
                        f"{model}, {MODELS[model]:,} cells",
                        str(ranks),
                        engine,
                        fmt_time(f["setup"]),
                        fmt_time(f["step"]),
                        fmt_time(f["psolve"]),
                        fmt_time(f["integration"]),
                        f"{f['rss'] / 2**20:.0f} MiB",
                        f"{integration:.2f}x",
                        f"{psolve:.2f}x",
                        f"{f['rss'] / base['rss']:.2f}x",
                    ]
                )
    for model in args.models:
        digests = {d for key, f in figures.items() if key[0] == model for d in f["digests"]}
        f = figures[(model, 1, "neuron")]
        same = "identical" if len(digests) == 1 else f"DIFFERENT ({len(digests)} digests)"
        notes.append(
            f"{model}: {f['compartments']:,} compartments; spikes {same} for both engines, "
            f"1 and 2 ranks, every repeat ({f['spikes']} spikes, digest {min(digests)})"
        )
    notes += [
        f"Medians of {args.repeats}, each figure from a fresh process (mpiexec, one rank "
        f"per core). psolve: the run report's (slowest rank) for {TSTOP:g} ms; under "
        "CoreNEURON it includes the model's transfer there and back. 1-step psolve: a "
        "run to one time step in a process of its own (CoreNEURON: the transfer, its set-up "
        "and one step). set-up + transfer: the run report's set-up (gid check, "
        "set_maxstep, finitialize) plus the 1-step psolve; building the cells is not "
        "counted. integration: psolve minus the 1-step psolve. peak RSS: ru_maxrss of the "
        "largest rank, the whole process.",
        "speed-ups: NEURON's time over this engine's, of the integration and of psolve "
        "(transfer included); RSS: this engine's peak over NEURON's.",
        f"target (issue 25): CoreNEURON >= {TARGET}x faster on psolve at 1,000 cells and "
        "more: " + ("met" if not missed else "missed for " + "; ".join(missed)),
    ]
    headers = ["model", "ranks", "engine", "set-up + transfer", "1-step psolve"]
    headers += [f"psolve {TSTOP:g} ms", "integration", "peak RSS", "speed-up integration"]
    headers += ["speed-up psolve", "RSS vs neuron"]
    data = {"figures": {"/".join(map(str, key)): f for key, f in figures.items()}}
    emit("engine: NEURON against CoreNEURON, 100 ms (1 and 2 ranks)", headers, rows, notes, data)
    if any("DIFFERENT" in note for note in notes):
        sys.exit("the engines' spikes differ")


if __name__ == "__main__":
    main()
