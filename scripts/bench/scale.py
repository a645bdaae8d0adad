"""Scale benchmark: MPI calls and bytes per rank of each parnrn operation, at 2 to 16 ranks.

    python scripts/bench/scale.py                            # relaunches itself at each P
    python scripts/bench/scale.py --markdown docs/scale.md   # and rewrites the page's tables

Counts, not times, so oversubscribing a small machine is fine. For P = 2, 4, 8 and 16 the
script runs itself under ``mpiexec -n P`` (``--child``); each operation is called once
through ``support.counting.CountingComm`` (tests/support/counting.py), which counts every
MPI call made through the communicator and the bytes taken from and delivered into each
rank's buffers: what a rank must send, receive and hold, not the wire traffic of MPI's
algorithm. The pickle-based mpi4py calls count the pickled size of what they take and
return. NEURON's own MPI (``set_maxstep``'s reduction, ``psolve``'s spike exchange,
``pc.barrier()``, ``pc.allreduce``) does not go through mpi4py and is not counted.

Operations: parnrn's transport collectives (``comm=`` the counting wrapper), the gid check
(``parnrn.context.gids.check``: each rank owns 100 gids and connects to 100 of the next
rank's) and, with ``p.parallel.comm`` set to the wrapper, ``p.parallel.run`` of a tiny
IntFire1 network for 1 ms (everything between its start and end) and
``p.parallel.gather_spikes()``; each followed by its raw mpi4py equivalent where there is
one. Tables: bytes received per call by a non-root rank (the other rank that receives the
most) and by rank 0 (the root), then bytes sent, with the MPI calls per rank in brackets.
"growth" fits, for each MPI method an operation uses, the slowest-growing form a + b f(P)
(f: constant, log P, P, P log P, P^2) to the four points (within 8 bytes or 0.01 %), and
sums them ("~" when some method fits none); the model evaluates that at P = 65,536, for the
bytes per call and for the largest single receive buffer a rank must allocate. The parnrn
measured is that of this checkout (the repository holding this script).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [HERE, os.path.join(ROOT, "tests"), ROOT]  # _common, support, this parnrn

from _common import mpiexec, table  # noqa: E402

SIZES = (2, 4, 8, 16)
TARGET = 65_536
CHILD_TIMEOUT = 240  # seconds for one mpiexec
MB = 1 << 20
SMALL = {"name": "ring", "ncell": 100, "tstop": 250.0, "seed": 12345}
GIDS_PER_RANK = 100
CELLS_PER_RANK = 3
BEGIN, END = "<!-- scale:begin -->", "<!-- scale:end -->"
RAW = "  mpi4py "  # prefix of the raw rows, under the parnrn row they compare with


# ---------------------------------------------------------------- child: one P, counted


def operations(counting, real, rank: int, size: int) -> list[tuple]:
    """(row name, call, set-up or None) in table order; every call goes through
    ``counting``, the set-up is not counted."""
    import numpy as np
    from mpi4py import MPI

    from parnrn import p, transport
    from parnrn.context import gids

    parallel = p.parallel
    small = SMALL if rank == 0 else None
    items = [SMALL] * size if rank == 0 else None
    array = np.random.default_rng(rank).random(MB // 8)
    big = array if rank == 0 else None
    out = np.empty_like(array)
    registry = gids.GidRegistry()
    registry.owned.update(range(rank * GIDS_PER_RANK, (rank + 1) * GIDS_PER_RANK))
    following = (rank + 1) % size * GIDS_PER_RANK
    registry.wanted.update(range(following, following + GIDS_PER_RANK))
    network = []  # kept alive until the end

    def on_parallel(call):
        """``call()`` with ``p.parallel`` talking through the counting communicator."""

        def counted():
            parallel.comm = counting
            try:
                call()
            finally:
                parallel.comm = real

        return counted

    def build():
        network.extend(tiny_network(rank, size))

    return [
        ("broadcast small dict", lambda: transport.broadcast(small, 0, counting), None),
        (RAW + "comm.bcast", lambda: counting.bcast(small, 0), None),
        ("broadcast 1 MB array", lambda: transport.broadcast(big, 0, counting), None),
        (RAW + "comm.Bcast", lambda: counting.Bcast(array, 0), None),
        ("barrier", lambda: transport.barrier(counting), None),
        (RAW + "comm.Barrier", lambda: counting.Barrier(), None),
        ("allreduce int (sum)", lambda: transport.allreduce(rank, "sum", counting), None),
        (RAW + "comm.allreduce", lambda: counting.allreduce(rank, MPI.SUM), None),
        ("allreduce 1 MB array (sum)", lambda: transport.allreduce(array, "sum", counting), None),
        (RAW + "comm.Allreduce", lambda: counting.Allreduce(array, out, MPI.SUM), None),
        ("gather small dict", lambda: transport.gather(SMALL, 0, counting), None),
        (RAW + "comm.gather", lambda: counting.gather(SMALL, 0), None),
        ("scatter small dict", lambda: transport.scatter(items, 0, counting), None),
        (RAW + "comm.scatter", lambda: counting.scatter(items, 0), None),
        ("allgather small dict", lambda: transport.allgather(SMALL, counting), None),
        (RAW + "comm.allgather", lambda: counting.allgather(SMALL), None),
        (
            "gather_arrays 1000 float64",
            lambda: transport.gather_arrays([array[:1000]], 0, counting),
            None,
        ),
        (
            f"gid check ({GIDS_PER_RANK} + {GIDS_PER_RANK} gids)",
            lambda: gids.check(counting, registry),
            None,
        ),
        ("p.parallel.run (1 ms)", on_parallel(lambda: parallel.run(1.0)), build),
        ("p.parallel.gather_spikes", on_parallel(parallel.gather_spikes), None),
    ]


def tiny_network(rank: int, size: int) -> list:
    """``CELLS_PER_RANK`` IntFire1 cells per rank, each kicked once by a NetStim and
    connected (p.ParallelCon) to a cell of the next rank. Built without communication."""
    from parnrn import p

    ncell = CELLS_PER_RANK * size
    mine = range(rank * CELLS_PER_RANK, (rank + 1) * CELLS_PER_RANK)
    cells = [p.IntFire1() for _ in mine]
    keep: list = [*cells]
    for gid, cell in zip(mine, cells):
        p.ParallelCon(cell, gid)
    for gid, cell in zip(mine, cells):
        kick = p.NetStim()
        kick.start, kick.number = 0.1 * (gid % 5), 1
        kick_nc = p.NetCon(kick, cell)
        kick_nc.weight[0], kick_nc.delay = 2.0, 0.1
        source = (gid + CELLS_PER_RANK) % ncell
        keep += [kick, kick_nc, p.ParallelCon(source, cell, weight=0.5, delay=0.5)]
    return keep


def child(path: str) -> None:
    """Count every operation once on this P; rank 0 writes every rank's counts to ``path``."""
    from mpi4py import MPI
    from support.counting import CountingComm

    from parnrn import p

    real = p.parallel.comm
    rank, size = real.Get_rank(), real.Get_size()
    counting = CountingComm(real)
    counts = {}
    for name, call, setup in operations(counting, real, rank, size):
        if setup is not None:
            setup()
        real.Barrier()
        counting.reset()
        call()
        everyone = real.gather(counting.snapshot(), 0)  # not counted
        if rank == 0:
            counts[name] = everyone
    if rank == 0:
        record = {
            "size": size,
            "mpi": " ".join(MPI.Get_library_version().splitlines()[0].split()),
            "mpi4py": __import__("mpi4py").__version__,
            "counts": counts,
        }
        with open(path, "w") as file:
            json.dump(record, file)


# ---------------------------------------------------------------- parent: launch, fit, print


def launch(size: int, path: str) -> dict:
    argv = [mpiexec(), "-n", str(size), sys.executable, os.path.abspath(__file__), "--child", path]
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        output, _ = proc.communicate(timeout=CHILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        sys.exit(f"{output}\nP = {size}: no answer after {CHILD_TIMEOUT} s")
    if proc.returncode != 0 or not os.path.exists(path):
        sys.exit(f"{output}\nP = {size} failed with status {proc.returncode}")
    print(f"counted at P = {size} in {time.perf_counter() - started:.1f} s", flush=True)
    with open(path) as file:
        return json.load(file)


def role(everyone: list[dict], name: str, key: str) -> dict:
    """The counts of rank 0 (``name`` "root"), or of the other rank with the most ``key``."""
    if name == "root":
        return everyone[0]
    return max(everyone[1:], key=lambda snapshot: snapshot[key])


# Forms a count may take, from the slowest growing: a + b f(P).
FORMS = {
    "constant": lambda p: 0.0,
    "log P": math.log2,
    "P": float,
    "P log P": lambda p: p * math.log2(p),
    "P^2": lambda p: float(p * p),
}
TERMS = {"log P": "log2 P", "P": "P", "P log P": "P log2 P", "P^2": "P^2"}


class Fit:
    """The slowest-growing form ``a + b f(P)`` that fits the points to within
    ``tolerance`` (the closest form when none does)."""

    def __init__(self, sizes: list[int], values: list[float], tolerance: float):
        import numpy as np

        y = np.array(values, dtype=float)
        best = None
        for form, f in FORMS.items():
            x = np.array([f(p) for p in sizes])
            design = np.ones((len(sizes), 1)) if form == "constant" else np.c_[np.ones_like(x), x]
            coef, *_ = np.linalg.lstsq(design, y, rcond=None)
            error = float(np.max(np.abs(design @ coef - y)))
            if best is None or error < best[0]:
                best = (error, form, [*coef.tolist(), 0.0][:2])
            if error <= tolerance:
                best = (error, form, [*coef.tolist(), 0.0][:2])
                break
        error, self.form, (self.a, self.b) = best
        self.exact = error <= tolerance

    def __call__(self, p: int) -> float:
        return self.a + self.b * FORMS[self.form](p)


class Model:
    """A count as the sum of one ``Fit`` per MPI method (each method's messages have one
    form; their sum need not): evaluates at any P and prints as a formula."""

    def __init__(self, sizes: list[int], per_method: dict[str, list[float]], tolerance):
        self.fits = [Fit(sizes, v, tolerance(v)) for v in per_method.values()]
        self.constant = sum(fit.a for fit in self.fits)
        self.terms = {form: 0.0 for form in TERMS}
        for fit in self.fits:
            if fit.form != "constant":
                self.terms[fit.form] += fit.b
        self.exact = all(fit.exact for fit in self.fits)

    def __call__(self, p: int) -> float:
        return self.constant + sum(b * FORMS[form](p) for form, b in self.terms.items())

    def __str__(self) -> str:
        terms = [(b, TERMS[f]) for f, b in reversed(self.terms.items()) if abs(b) >= 0.05]
        if not terms:
            text = "constant"
        else:
            if abs(self.constant) >= 0.5:
                terms.append((self.constant, ""))
            parts = []
            for i, (b, term) in enumerate(terms):
                sign = ("- " if b < 0 else "+ ") if i else ("-" if b < 0 else "")
                number = "" if term and round(abs(b), 3) == 1 else _num(abs(b))
                parts.append(f"{sign}{number}{' ' if number and term else ''}{term}")
            text = " ".join(parts)
        return text if self.exact else f"~ {text}"


def bytes_tolerance(values: list[float]) -> float:
    """Pickled sizes vary by a few bytes with the values: 8 bytes or 0.01 %."""
    return max(8.0, 1e-4 * max(abs(v) for v in values))


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 10 or x == round(x) else f"{x:.3g}"


def fmt_bytes(n: float) -> str:
    """Bytes in binary units (exact below 1 KiB)."""
    if n < 1024:
        return f"{max(n, 0):.0f} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024
        if n < 1024 or unit == "TiB":
            return f"{n:.3g} {unit}"
    raise AssertionError


def per_method(snapshots: list[dict], key: str) -> dict[str, list[float]]:
    """``key`` of each method, one value per P (0 where a P did not call it)."""
    names = sorted({name for s in snapshots for name in s["methods"]})
    return {n: [s["methods"].get(n, {}).get(key, 0) for s in snapshots] for n in names}


def rows_for(results: dict[int, dict], who: str, key: str) -> tuple[list[str], list[list[str]]]:
    """A table of ``key`` for ``who`` ("root" or "other"): one column per P (with the
    calls), the growth, and the model at ``TARGET`` (with the memory, for receives)."""
    sizes = sorted(results)
    headers = [
        "operation", *(f"P={p}" for p in sizes), "growth", f"at P={TARGET:,}",
        *([f"largest buffer at P={TARGET:,}"] if key == "received" else []),
    ]  # fmt: skip
    rows = []
    for name in results[sizes[0]]["counts"]:
        counted = [role(results[p]["counts"][name], who, key) for p in sizes]
        model = Model(sizes, per_method(counted, key), bytes_tolerance)
        calls = Model(sizes, per_method(counted, "calls"), lambda _: 1e-6)
        growth = str(model) if str(calls) == "constant" else f"{model}; calls {calls}"
        row = [name, *(f"{c[key]:,} ({c['calls']})" for c in counted), growth]
        row.append(fmt_bytes(model(TARGET)))
        if key == "received":  # the largest buffer of any one method
            fits = [
                Fit(sizes, v, bytes_tolerance(v)) for v in per_method(counted, "largest").values()
            ]
            row.append(fmt_bytes(max((fit(TARGET) for fit in fits), default=0)))
        rows.append(row)
    return headers, rows


TABLES = [
    ("Bytes received per call by a non-root rank (MPI calls per rank)", "other", "received"),
    ("Bytes received per call by rank 0, the root (MPI calls)", "root", "received"),
    ("Bytes sent per call by a non-root rank (MPI calls per rank)", "other", "sent"),
    ("Bytes sent per call by rank 0, the root (MPI calls)", "root", "sent"),
]


def notes(results: dict[int, dict]) -> list[str]:
    lines = [
        "Counted through mpi4py: bytes taken from and delivered into each rank's buffers, "
        "not the wire traffic of MPI's algorithm; non-root: of ranks 1..P-1, the one with "
        "the most.",
        "growth: for each MPI method, the slowest-growing a + b f(P) (f: constant, log P, P, "
        f"P log P, P^2) fitting P = {', '.join(map(str, sorted(results)))}, summed over methods "
        '("~": some method fits none; the closest is used), and its value at '
        f"P = {TARGET:,}.",
        "largest buffer: the largest single receive buffer a rank allocates, extrapolated the "
        "same way; a call that keeps several buffers holds up to the bytes received.",
        "Not countable through mpi4py, so not counted: NEURON's own MPI (set_maxstep's "
        "reduction and psolve's spike exchange inside p.parallel.run, pc.barrier(), "
        "pc.allreduce).",
    ]
    uncounted = sorted(
        {
            f"{name}: {method}"
            for record in results.values()
            for name, everyone in record["counts"].items()
            for snapshot in everyone
            for method in snapshot["uncounted"]
        }
    )
    if uncounted:
        lines.append("Calls whose bytes could not be counted: " + "; ".join(uncounted))
    return lines


def provenance(results: dict[int, dict]) -> str:
    record = next(iter(results.values()))
    commit = subprocess.run(  # the last commit that changed parnrn
        ["git", "-C", ROOT, "log", "-1", "--format=%h", "--", "parnrn"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", ROOT, "status", "--porcelain", "--", "parnrn"], capture_output=True, text=True
    ).stdout.strip()
    version = f"{commit or 'unknown'}{' with local changes' if dirty else ''}"
    return (
        f"{datetime.date.today().isoformat()}, parnrn as of commit {version}, "
        f"{record['mpi']}, mpi4py {record['mpi4py']}"
    )


def markdown_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|---|" + "--:|" * (len(headers) - 1)]
    for row in rows:
        name = row[0].strip()
        name = f"↳ {name}" if row[0].startswith(RAW) else name
        lines.append("| " + " | ".join([name, *row[1:]]) + " |")
    return lines


def write_markdown(path: str, results: dict[int, dict], tables: list) -> None:
    with open(path) as file:
        text = file.read()
    if BEGIN not in text or END not in text:
        sys.exit(f"{path} has no {BEGIN} ... {END} section to rewrite")
    body = [
        BEGIN,
        "",
        f"Generated by `python scripts/bench/scale.py --markdown {os.path.relpath(path, ROOT)}` "
        f"on {provenance(results)}.",
    ]
    for title, headers, rows in tables:
        body += ["", f"### {title}", "", *markdown_table(headers, rows)]
    body += ["", *(f"- {line}" for line in notes(results)), "", END]
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    with open(path, "w") as file:
        file.write(head + "\n".join(body) + tail)
    print(f"wrote {path}")


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--child", metavar="JSON", help=argparse.SUPPRESS)
    cli.add_argument(
        "--markdown", metavar="PATH", help=f"rewrite the tables between {BEGIN} and {END}"
    )
    args = cli.parse_args()
    if args.child:
        child(args.child)
        return
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in SIZES:
            results[size] = launch(size, os.path.join(tmp, f"scale-{size}.json"))
    tables = [(title, *rows_for(results, role, key)) for title, role, key in TABLES]
    width = max(len(row[0]) for _, _, rows in tables for row in rows)
    for title, headers, rows in tables:  # operations left-aligned
        print(f"\n{title}")
        print(
            table(
                [headers[0].ljust(width), *headers[1:]], [[r[0].ljust(width), *r[1:]] for r in rows]
            )
        )
    print()
    for line in notes(results):
        print(line)
    if args.markdown:
        write_markdown(os.path.abspath(args.markdown), results, tables)


if __name__ == "__main__":
    main()
