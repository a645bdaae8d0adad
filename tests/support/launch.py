"""Launch Python or mpiexec in a subprocess, bounded by a timeout: ``run_python``,
``run_mpi`` and the general ``run_bounded``; ``mpiexec_python`` builds the command line of
an MPI job for the MPI at hand (MPICH's hydra or Open MPI).

The tests use the ``mpiexec`` of the venv they run in (next to ``sys.executable``), so
that each MPI's leg of the suite runs on its own launcher.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass

import pytest

MPIEXEC = os.path.join(os.path.dirname(sys.executable), "mpiexec")
if not os.path.exists(MPIEXEC):
    MPIEXEC = shutil.which("mpiexec") or "mpiexec"


def _is_open_mpi(mpiexec: str) -> bool:
    try:
        version = subprocess.run([mpiexec, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "Open MPI" in version.stdout


OPEN_MPI = _is_open_mpi(MPIEXEC)
# Open MPI refuses more ranks than cores (the tests run 3 and 8 ranks on 2 cores) and, as
# root (CI), any job at all, unless told otherwise; MPICH's hydra needs neither flag.
MPIEXEC_FLAGS = ["--oversubscribe", "--allow-run-as-root"] if OPEN_MPI else []


def mpiexec_python(n: int, *argv: str, flags: tuple[str, ...] = ()) -> list[str]:
    """The command line ``mpiexec -n N python argv...`` with the flags this MPI needs, and
    ``flags`` for mpiexec itself."""
    return [MPIEXEC, *MPIEXEC_FLAGS, *flags, "-n", str(n), sys.executable, *argv]


@dataclass
class Completed:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_bounded(
    argv: list[str], timeout: float, env: dict | None = None, cwd: str | None = None
) -> Completed:
    """Run ``argv`` in its own process group; on timeout kill the whole group and fail."""
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"{argv} did not finish in {timeout} s:\n{stdout}\n{stderr}")
    return Completed(proc.returncode, stdout, stderr)


def run_python(code: str, timeout: float = 60, env: dict | None = None) -> Completed:
    """Run ``code`` with this interpreter, serially."""
    return run_bounded([sys.executable, "-c", code], timeout, env)


def run_mpi(
    n: int, argv: list[str], timeout: float = 120, env: dict | None = None, cwd: str | None = None
) -> Completed:
    """Run ``python argv...`` on ``n`` ranks under mpiexec, bounded by ``timeout``."""
    return run_bounded(mpiexec_python(n, *argv), timeout, env, cwd)
