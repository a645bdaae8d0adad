"""Command line: ``python -m parnrn SCRIPT`` runs a script so that any failure on any rank
ends the whole job; ``python -m parnrn doctor`` checks the MPI and NEURON set-up
(``parnrn.doctor``).

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

from . import failfast, runtime
from .doctor import doctor
from .ranks import known_rank_size

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
    if known_rank_size()[1] > 1:
        runtime.start()  # MPI starts, and with it failfast: a failure now aborts the job
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
