"""``python -m parnrn``: the runner (script, ``-m module``, ``-c code``) and ``doctor``,
serial and under ``mpiexec`` (bounded by a timeout: ``support.launch.run_bounded``)."""

from __future__ import annotations

import re
import shutil
import sys

import pytest
from support.launch import MPIEXEC, mpiexec_python, run_bounded

needs_mpiexec = pytest.mark.skipif(not shutil.which(MPIEXEC), reason="mpiexec not found")

SHOW = "import sys; print('name', __name__, 'argv', sys.argv[1:])"


def run(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run ``args`` bounded by a timeout; return (status, stdout and stderr)."""
    done = run_bounded(args, 60, env)
    return done.returncode, done.output


def parnrn(*args: str, **kwargs) -> tuple[int, str]:
    return run([sys.executable, "-m", "parnrn", *args], **kwargs)


def test_help_and_usage_errors():
    status, output = parnrn("--help")
    assert status == 0 and "python -m parnrn doctor" in output
    status, output = parnrn()
    assert status == 2 and "usage:" in output
    status, output = parnrn("-m")
    assert status == 2 and "-m needs an argument" in output


def test_runs_a_script_as_main_with_its_arguments(tmp_path):
    (tmp_path / "show.py").write_text(SHOW)
    status, output = parnrn(str(tmp_path / "show.py"), "a", "--b")
    assert status == 0, output
    assert "name __main__ argv ['a', '--b']" in output


def test_runs_a_module_and_a_command(tmp_path):
    (tmp_path / "shown.py").write_text(SHOW)
    status, output = parnrn("-m", "shown", "x", env={"PYTHONPATH": str(tmp_path)})
    assert status == 0 and "name __main__ argv ['x']" in output, output
    status, output = parnrn("-c", SHOW, "y")
    assert status == 0 and "name __main__ argv ['y']" in output, output


def test_serial_failures_keep_their_status_and_hide_the_runner(tmp_path):
    (tmp_path / "fail.py").write_text("raise ValueError('serial failure')\n")
    status, output = parnrn(str(tmp_path / "fail.py"))
    assert status == 1 and "ValueError: serial failure" in output
    assert "runpy" not in output and "__main__.py" not in output, output
    status, output = parnrn("-c", "import sys; sys.exit(5)")
    assert status == 5, output


@needs_mpiexec
def test_mpi_module_failure_aborts_every_rank(tmp_path):
    (tmp_path / "failing.py").write_text(
        "from mpi4py import MPI\n"
        "if MPI.COMM_WORLD.Get_rank() == 1:\n"
        "    raise SystemExit('module failed')\n"
        "MPI.COMM_WORLD.Barrier()\n"
    )
    args = mpiexec_python(2, "-m", "parnrn", "-m", "failing")
    status, output = run(args, env={"PYTHONPATH": str(tmp_path)})
    assert status == 1, output
    assert "[rank 1/2] parnrn: rank 1 failed: SystemExit('module failed')" in output


def test_doctor_serial():
    status, output = parnrn("doctor")
    assert status == 0, output
    for expected in ("MPI:", "library:", "thread level:", "NEURON:", "agree:        yes"):
        assert expected in output
    assert "launcher:     none that started several tasks (one process)" in output
    assert "\0" not in output  # Open MPI's library version ends with one: grep calls it binary


def test_doctor_fails_when_srun_started_more_tasks_than_mpi_has_ranks():
    """Under srun with an MPI that cannot join its job, each task is a one-rank MPI job."""
    env = {"SLURM_PROCID": "1", "SLURM_NTASKS": "2", "SLURM_STEP_NUM_TASKS": "2"}
    status, output = parnrn("doctor", env=env)
    assert status == 1, output
    assert "launcher:     srun: task 1 of 2 (SLURM_PROCID, SLURM_STEP_NUM_TASKS)" in output
    assert "agree:        NO (MPI has 1 rank(s))" in output
    assert (
        "problem on rank(s) 0: MPIConfigError: srun started this process as task 1 of 2 "
        "(SLURM_PROCID=1, SLURM_STEP_NUM_TASKS=2), but MPI has 1 rank(s)"
    ) in output
    assert "Fix: start the job with that MPI's own mpiexec, or with srun --mpi=pmix" in output


@needs_mpiexec
def test_doctor_under_mpiexec():
    status, output = run(mpiexec_python(2, "-m", "parnrn", "doctor"))
    assert status == 0, output
    assert "ranks:        2" in output and "NEURON nhost: 2, 2" in output
    assert re.search(r"launcher:     .*mpiexec.*: task 0 of 2 \(\w+, \w+\)", output), output
    assert "NEURON's MPI: " in output and "libnrnmpi" in output
    assert output.count("parnrn doctor") == 1  # rank 0 reports for all


@needs_mpiexec
def test_doctor_reports_a_mismatch_with_nonzero_status():
    args = mpiexec_python(2, "-m", "parnrn", "doctor")
    status, output = run(args, env={"MPI_LIB_NRN_PATH": "not-an-mpi-library.so"})
    assert status != 0, output
    assert "agree:        NO" in output
    assert "problem on rank(s) 0, 1: MPIConfigError: NEURON sees 1 rank(s) but MPI has 2" in output
