"""``python -m parnrn doctor``: what parnrn finds about MPI and NEURON, and whether they
agree. Under ``mpiexec`` rank 0 prints one report for every rank; the exit status is
non-zero on a disagreement.
"""

from __future__ import annotations

import os
import socket
import sys
from importlib import metadata
from typing import Any

from . import failfast, runtime
from .ranks import launched_as, rank_tag


def doctor() -> int:
    """Print what parnrn finds about MPI and NEURON; non-zero status if they disagree.

    Under ``mpiexec`` rank 0 prints the report for every rank. A launcher that started
    more or fewer tasks than MPI has ranks is a disagreement too: under ``srun`` with an MPI
    that cannot join its job, each task prints a report of its own.
    """
    rt = runtime.start(check_launcher=False)  # a disagreement is reported with the rest
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
    report: dict[str, Any] = {
        "host": socket.gethostname(),
        "rank": rt.rank,
        "nhost": "?",
        "neuron": None,
        "error": None,
        "launcher": None,
    }
    disagreement = runtime.launcher_disagreement(rt.size, rt.MPI, rt.library)
    if disagreement:
        report["launcher"] = f"MPIConfigError: {disagreement}"
    try:
        _, pc = runtime.neuron_context()  # imports NEURON, as a script's import would
        report["nhost"] = int(pc.nhost())
    except ImportError as error:
        report["error"] = f"NEURON cannot be imported: {error}"
    except Exception as error:  # the point of doctor is to report any set-up failure
        message = str(error).removeprefix(f"{rank_tag(rt.rank, rt.size)} ")
        report["error"] = f"{type(error).__name__}: {message}"
    try:  # from the installed package: a failed set-up unloads the module
        report["neuron"] = metadata.version("neuron")
    except metadata.PackageNotFoundError:
        report["neuron"] = getattr(sys.modules.get("neuron"), "__version__", None)
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
        # Open MPI counts the string's terminating NUL in its length: mpi4py returns it too.
        first_line = MPI.Get_library_version().replace("\0", "").strip().splitlines()[0]
        lines += [
            f"MPI:          {vendor} {'.'.join(map(str, version))} ({first_line})",
            f"mpi4py:       {mpi4py.__version__}, MPI standard {MPI.Get_version()[0]}."
            f"{MPI.Get_version()[1]}",
            f"library:      {rt.library or 'not found'}",
            f"thread level: {level}",
        ]
    hosts = sorted({r["host"] for r in reports})
    lines.append(f"ranks:        {rt.size} on {len(hosts)} host(s): {', '.join(hosts)}")
    lines.append(f"launcher:     {_launcher_line()}")
    first = reports[0]
    lines += [
        f"NEURON:       {first['neuron'] or 'not available'}",
        f"NEURON nhost: {', '.join(str(r['nhost']) for r in reports)} (per rank)",
        f"MPI_LIB_NRN_PATH: {os.environ.get('MPI_LIB_NRN_PATH', '<unset>')}",
        f"NEURON's MPI: {', '.join(first['nrnmpi']) or 'none loaded (one rank)'}",
    ]
    problems: dict[str, list[int]] = {}  # the same problem on many ranks is shown once
    for report in reports:
        for problem in (report["launcher"], report["error"]):
            if problem:
                problems.setdefault(problem, []).append(report["rank"])
    agree = not problems and all(r["nhost"] == rt.size for r in reports)
    verdict = "yes" if agree else "NO"
    lines.append(f"agree:        {verdict} (MPI has {rt.size} rank(s))")
    lines += [
        f"problem on rank(s) {', '.join(map(str, ranks))}: {problem}"
        for problem, ranks in problems.items()
    ]
    print("\n".join(lines), flush=True)
    return agree


def _launcher_line() -> str:
    """Who started this process and as how many tasks, from the launcher's environment."""
    launch = launched_as()
    if launch is None:
        return "none that started several tasks (one process)"
    return (
        f"{launch.launcher}: task {launch.rank} of {launch.size} "
        f"({launch.rank_variable}, {launch.size_variable})"
    )
