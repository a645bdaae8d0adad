"""Run every benchmark and write docs/benchmarks.md with its tables and two plots.

    scripts/bench/report          # about 5 minutes on 2 cores

Each benchmark runs on 2 ranks (the engine one on 1 and 2) and leaves its table as JSON
(``PARNRN_BENCH_JSON``); this script turns them into Markdown, names the machine and the
date, and plots broadcast time and spike-gather time against size (log-log).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DOCS = os.path.join(ROOT, "docs")
BENCHMARKS = [
    "broadcast",
    "network",
    "spikes",
    "guard",
    "map",
    "balance",
    "output",
    "checkpoint",
    "engine",
]
TIME_LIMIT = 600  # seconds for one benchmark


def run(name: str, out_dir: str) -> dict | None:
    path = os.path.join(out_dir, f"{name}.json")
    env = {**os.environ, "PARNRN_BENCH_JSON": path}
    script = os.path.join(HERE, f"{name}.py")
    print(f"== {name}", flush=True)
    completed = subprocess.run([sys.executable, script], env=env, timeout=TIME_LIMIT)
    if completed.returncode != 0 or not os.path.exists(path):
        print(f"{name} failed with status {completed.returncode}", file=sys.stderr)
        return None
    with open(path) as file:
        return json.load(file)


def machine() -> list[str]:
    import neuron
    from mpi4py import MPI

    cpu = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if "model name" in line),
        platform.processor() or "unknown CPU",
    )
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    mpi = " ".join(MPI.Get_library_version().splitlines()[0].split())
    return [
        f"- Date: {datetime.date.today().isoformat()}",
        f"- Machine: {cpu}, {os.cpu_count()} cores, {memory:.0f} GiB, {platform.platform()}",
        f"- Python {platform.python_version()}, NEURON {neuron.__version__}, "
        f"mpi4py {__import__('mpi4py').__version__}, {mpi}",
    ]


def markdown_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def plot(sweep: dict, x_key: str, x_label: str, title: str, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method, seconds in sweep.items():
        if method == x_key:
            continue
        points = [(x, t) for x, t in zip(sweep[x_key], seconds) if t is not None]
        if points:
            ax.loglog(*zip(*points), marker="o", label=method)
    ax.set_xlabel(x_label)
    ax.set_ylabel("seconds per call")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    os.makedirs(os.path.join(DOCS, "img"), exist_ok=True)
    lines = ["# Benchmarks", "", "Produced by `scripts/bench/report`.", "", *machine(), ""]
    with tempfile.TemporaryDirectory() as out_dir:
        results = {name: run(name, out_dir) for name in BENCHMARKS}
    for name, result in results.items():
        lines += [f"## {name}", ""]
        if result is None:
            lines += [f"`scripts/bench/{name}.py` failed; see its output.", ""]
            continue
        lines += [result["title"], "", *markdown_table(result["headers"], result["rows"]), ""]
        lines += [f"- {note}" for note in result["notes"]] + [""]
    broadcast, spikes = results.get("broadcast"), results.get("spikes")
    if broadcast and "sweep" in broadcast:
        plot(broadcast["sweep"], "bytes", "array size (bytes)", "broadcast on 2 ranks",
             os.path.join(DOCS, "img", "broadcast.png"))  # fmt: skip
        lines += ["## Plots", "", "![broadcast time against size](img/broadcast.png)", ""]
    if spikes and "sweep" in spikes:
        plot(spikes["sweep"], "spikes", "spikes per rank", "spike gather to rank 0, 2 ranks",
             os.path.join(DOCS, "img", "spikes.png"))  # fmt: skip
        lines += ["![spike gather time against size](img/spikes.png)", ""]
    with open(os.path.join(DOCS, "benchmarks.md"), "w") as file:
        file.write("\n".join(lines))
    print(f"wrote {os.path.join(DOCS, 'benchmarks.md')}")


main()
