"""Launch Python or mpiexec in a subprocess, bounded by a timeout: ``run_python``,
``run_mpi`` and the general ``run_bounded``."""

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
    return run_bounded([MPIEXEC, "-n", str(n), sys.executable, *argv], timeout, env, cwd)
