"""Command line: ``python -m parnrn SCRIPT`` runs a script so that any failure on any rank
ends the whole job; ``python -m parnrn doctor`` checks the MPI and NEURON set-up.

Usage::

    mpiexec -n 4 python -m parnrn model.py [args...]
    mpiexec -n 4 python -m parnrn -m package.module [args...]
    mpiexec -n 4 python -m parnrn -c "code" [args...]
    python -m parnrn doctor          # or under mpiexec

Like ``python -m mpi4py``, the runner sees every way the program ends, including
``sys.exit`` and ``raise SystemExit``: a non-zero status or an exception on one rank
prints the rank's traceback and aborts every rank with that status. Under ``mpiexec`` it
starts MPI before the program runs, so even a failure before the program imports parnrn
is caught.
"""

from __future__ import annotations

import os
import runpy
import sys
import traceback
from typing import Any

from . import failfast, runtime

USAGE = "\n" + __doc__.split("Usage::\n\n")[1].split("\n\n")[0]
# Frames of the runner itself, left out of the tracebacks users see.
_RUNNER_FILES = (os.path.abspath(__file__), runpy.__file__, "<frozen runpy>")


def main(argv: list[str]) -> int:
    """Run the command line ``argv`` (without the program name); return the exit status."""
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage:{USAGE}")
        return 0 if argv else 2
    if argv[0] == "doctor":
        return doctor()
    if argv[0] in ("-m", "-c") and len(argv) < 2:
        print(f"parnrn: {argv[0]} needs an argument\nusage:{USAGE}", file=sys.stderr)
        return 2
    return run(argv)


def run(argv: list[str]) -> int:
    """Run a script (``path``), module (``-m name``) or command (``-c code``) with
    ``argv`` as its arguments, ending every rank if it fails on one."""
    if runtime.known_rank_size()[1] > 1:
        runtime.start()  # installs failfast: a failure from here on aborts the job
    try:
        _run_target(argv)
    except BaseException as exc:  # noqa: B036 - every way the program ends is reported
        _drop_runner_frames(exc)
        failfast.ended(exc)  # aborts the job unless the exit is a clean one
        if isinstance(exc, SystemExit):
            raise
        traceback.print_exception(type(exc), exc, exc.__traceback__)
        return failfast.exit_status(exc)
    failfast.ended(None)
    return 0


def _run_target(argv: list[str]) -> None:
    if argv[0] == "-m":
        sys.argv[:] = argv[1:]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    elif argv[0] == "-c":
        sys.argv[:] = ["-c", *argv[2:]]
        code = compile(argv[1], "<string>", "exec")
        exec(code, {"__name__": "__main__", "__builtins__": __builtins__})
    else:
        sys.argv[:] = argv
        sys.path[0] = os.path.dirname(os.path.realpath(argv[0]))
        runpy.run_path(argv[0], run_name="__main__")


def _drop_runner_frames(exc: BaseException) -> None:
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename in _RUNNER_FILES:
        tb = tb.tb_next
    if tb is not None:
        exc.__traceback__ = tb


def doctor() -> int:
    """Print what parnrn finds about MPI and NEURON; non-zero status if they disagree.

    Under ``mpiexec`` rank 0 prints the report for every rank.
    """
    rt = runtime.start()
    mine = _rank_report(rt)
    reports = [mine] if rt.size == 1 else rt.control.gather(mine, root=0)
    agree = True
    if rt.rank == 0:
        agree = _print_report(rt, reports)
    if rt.size > 1:
        agree = rt.control.bcast(agree, root=0)
    if agree:
        return 0
    if rt.size > 1:
        failfast.abort("doctor found MPI and NEURON disagreeing", "", 1)
    return 1


def _rank_report(rt: runtime.Runtime) -> dict[str, Any]:
    """What this rank sees: host, NEURON's version, its nhost and any set-up error."""
    import socket

    report: dict[str, Any] = {"host": socket.gethostname(), "rank": rt.rank, "nhost": "?"}
    try:
        import neuron

        report["neuron"] = neuron.__version__
        _, pc = runtime.neuron_context()
        report.update(nhost=int(pc.nhost()), error=None)
    except ImportError as error:
        report.update(neuron=None, error=f"NEURON cannot be imported: {error}")
    except Exception as error:  # the point of doctor is to report any set-up failure
        message = str(error).removeprefix(f"[rank {rt.rank}/{rt.size}] ")
        report["error"] = f"{type(error).__name__}: {message}"
    report["nrnmpi"] = [p for p in runtime.mapped_libraries() if "libnrnmpi" in p]
    return report


def _print_report(rt: runtime.Runtime, reports: list[dict[str, Any]]) -> bool:
    """Print the job's report; return whether MPI and NEURON agree on every rank."""
    MPI = rt.MPI
    lines = ["parnrn doctor"]
    if MPI is None:
        lines.append("MPI:          mpi4py is not installed: running with one rank")
    else:
        import mpi4py

        vendor, version = MPI.get_vendor()
        level = {
            MPI.THREAD_SINGLE: "single",
            MPI.THREAD_FUNNELED: "funneled",
            MPI.THREAD_SERIALIZED: "serialized",
            MPI.THREAD_MULTIPLE: "multiple",
        }[MPI.Query_thread()]
        first_line = MPI.Get_library_version().strip().splitlines()[0]
        lines += [
            f"MPI:          {vendor} {'.'.join(map(str, version))} ({first_line})",
            f"mpi4py:       {mpi4py.__version__}, MPI standard {MPI.Get_version()[0]}."
            f"{MPI.Get_version()[1]}",
            f"library:      {rt.library or 'not found'}",
            f"thread level: {level}",
        ]
    hosts = sorted({r["host"] for r in reports})
    lines.append(f"ranks:        {rt.size} on {len(hosts)} host(s): {', '.join(hosts)}")
    first = reports[0]
    lines += [
        f"NEURON:       {first['neuron'] or 'not available'}",
        f"NEURON nhost: {', '.join(str(r['nhost']) for r in reports)} (per rank)",
        f"MPI_LIB_NRN_PATH: {os.environ.get('MPI_LIB_NRN_PATH', '<unset>')}",
        f"NEURON's MPI: {', '.join(first['nrnmpi']) or 'none loaded (one rank)'}",
    ]
    problems: dict[str, list[int]] = {}  # the same problem on many ranks is shown once
    for report in reports:
        if report["error"]:
            problems.setdefault(report["error"], []).append(report["rank"])
    agree = not problems and all(r["nhost"] == rt.size for r in reports)
    verdict = "yes" if agree else "NO"
    lines.append(f"agree:        {verdict} (MPI has {rt.size} rank(s))")
    lines += [
        f"problem on rank(s) {', '.join(map(str, ranks))}: {problem}"
        for problem, ranks in problems.items()
    ]
    print("\n".join(lines), flush=True)
    return agree


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
