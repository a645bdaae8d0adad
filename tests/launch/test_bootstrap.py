"""MPI bootstrap: NEURON and mpi4py agree without the user setting MPI_LIB_NRN_PATH."""

import os
import re
import sys

import pytest
from support.launch import run_bounded, run_mpi, run_python

SCRIPT = """
import os, sys
{neuron_first}
from parnrn import runtime
rt = runtime.start()
h, pc = runtime.neuron_context()
print(f"rank={{rt.rank}} size={{rt.size}} id={{int(pc.id())}} nhost={{int(pc.nhost())}} "
      f"lib={{os.environ.get('MPI_LIB_NRN_PATH')}}", flush=True)
"""


def script(tmp_path, neuron_first=False):
    path = tmp_path / "boot.py"
    path.write_text(SCRIPT.format(neuron_first="from neuron import h" if neuron_first else ""))
    return str(path)


@pytest.mark.parametrize("neuron_first", [False, True])
def test_neuron_sees_every_rank_without_mpi_lib_nrn_path(tmp_path, neuron_first, monkeypatch):
    monkeypatch.delenv("MPI_LIB_NRN_PATH", raising=False)
    result = run_mpi(2, [script(tmp_path, neuron_first)], timeout=120)
    assert result.returncode == 0, result.output
    # Search, not split lines: under mpiexec the ranks' lines may run into each other.
    found = sorted(re.findall(r"rank=(\d) size=(\d) id=(\d) nhost=(\d)", result.stdout))
    assert found == [("0", "2", "0", "2"), ("1", "2", "1", "2")]
    assert len(re.findall(r"lib=/\S*?libmpi", result.stdout)) == 2
    assert "Tried loading" not in result.output


def test_without_mpiexec_runs_one_rank(tmp_path, monkeypatch):
    monkeypatch.delenv("MPI_LIB_NRN_PATH", raising=False)
    result = run_python(open(script(tmp_path)).read(), timeout=120)
    assert result.returncode == 0, result.output
    assert "rank=0 size=1 id=0 nhost=1" in result.stdout


def test_mapped_mpi_library_is_found():
    result = run_python(
        "from parnrn import runtime\n"
        "rt = runtime.start()\n"
        "print(rt.library)\n"
        "print(runtime.mapped_mpi_libraries())\n"
    )
    assert result.returncode == 0, result.output
    library = result.stdout.splitlines()[0]
    assert os.path.basename(library).startswith(("libmpi", "libmpich"))
    assert os.path.exists(library)


def test_neuron_init_mpi_at_import_gets_the_same_library(tmp_path, monkeypatch):
    """With NEURON_INIT_MPI=1 NEURON starts MPI when imported: parnrn must point it at
    mpi4py's library before that import."""
    monkeypatch.delenv("MPI_LIB_NRN_PATH", raising=False)
    path = tmp_path / "init_at_import.py"
    path.write_text(
        "from parnrn import p\n"
        "pc = p.parallel\n"
        "print(f'id={pc.rank} nhost={int(pc.nhost())}', flush=True)\n"
    )
    result = run_mpi(2, [str(path)], timeout=120, env={"NEURON_INIT_MPI": "1"})
    assert result.returncode == 0, result.output
    assert sorted(re.findall(r"id=(\d) nhost=(\d)", result.stdout)) == [("0", "2"), ("1", "2")]


def test_symbol_lookup_finds_the_same_library_as_the_mapped_files():
    """The fallback for systems without /proc/self/maps (macOS) agrees with the maps."""
    result = run_python(
        "import os\n"
        "from parnrn import runtime\n"
        "rt = runtime.start()\n"
        "found = runtime._library_defining('MPI_Init', rt.MPI.__file__)\n"
        "print(found == os.path.realpath(rt.library), found)\n"
    )
    assert result.returncode == 0, result.output
    assert result.stdout.startswith("True /"), result.output


@pytest.mark.parametrize(
    "code",
    [
        "from parnrn import p\np.Section(name='soma')\np.parallel.run(1)",
        "import parnrn\nfrom neuron import h\nprint(h.t)",
    ],
)
def test_no_display_warning_from_neuron(code, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("NEURON_MODULE_OPTIONS", raising=False)
    result = run_python(code)
    assert result.returncode == 0, result.output
    assert "DISPLAY" not in result.output and "No graphics" not in result.output


SHOW_OPTIONS = "import os, parnrn\nprint(os.environ.get('NEURON_MODULE_OPTIONS'))"


def test_nogui_keeps_the_users_options_and_display(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    kept = run_python(SHOW_OPTIONS, env={"NEURON_MODULE_OPTIONS": "-NSTACK 20000"})
    assert kept.stdout.split("\n")[0] == "-NSTACK 20000 -nogui"
    once = run_python(SHOW_OPTIONS, env={"NEURON_MODULE_OPTIONS": "-nogui -nobanner"})
    assert once.stdout.split("\n")[0] == "-nogui -nobanner"
    monkeypatch.delenv("NEURON_MODULE_OPTIONS", raising=False)
    shown = run_python(SHOW_OPTIONS, env={"DISPLAY": ":0"})
    assert shown.stdout.split("\n")[0] == "None"  # a display: the GUI stays possible


# What srun gives its second task of two, and what a one-process python in an allocation
# has (an sbatch script; a shell in salloc has no SLURM_PROCID at all).
SRUN_TASK = {"SLURM_PROCID": "1", "SLURM_NTASKS": "2", "SLURM_STEP_ID": "0",
             "SLURM_STEP_NUM_TASKS": "2"}  # fmt: skip
SBATCH_SCRIPT = {"SLURM_PROCID": "0", "SLURM_NTASKS": "2", "SLURM_JOB_ID": "7"}
NHOST = "from parnrn import p\nprint('nhost', int(p.parallel.nhost()), flush=True)\n"
MISMATCH = (
    r"MPIConfigError: \[rank 1/2\] srun started this process as task 1 of 2 "
    r"\(SLURM_PROCID=1, SLURM_STEP_NUM_TASKS=2\), but MPI has 1 rank\(s\): each task would "
    r"run the whole model alone\. {cause}.*Fix: {fix}"
)


@pytest.mark.parametrize("runner", [[], ["-m", "parnrn"]])
def test_srun_tasks_that_mpi_does_not_join_are_an_error(tmp_path, runner):
    """srun started two tasks, but MPI sees one rank in each: every task would run the
    whole model alone, silently. Starting MPI raises instead, naming both counts."""
    path = tmp_path / "model.py"
    path.write_text(NHOST)
    result = run_bounded([sys.executable, *runner, str(path)], 120, SRUN_TASK)
    assert result.returncode == 1, result.output
    cause = r"The MPI library mpi4py loaded \(/\S+libmpi\S*\) did not join the launcher's job"
    fix = r"start the job with that MPI's own mpiexec, or with srun --mpi=pmix or --mpi=pmi2"
    assert re.search(MISMATCH.format(cause=cause, fix=fix), result.stderr), result.output
    assert "PARNRN_LAUNCHER_CHECK=warn" in result.stderr
    assert "nhost" not in result.stdout


def test_srun_tasks_without_mpi4py_are_an_error():
    result = run_python("import sys\nsys.modules['mpi4py'] = None\n" + NHOST, env=SRUN_TASK)
    assert result.returncode == 1, result.output
    cause, fix = "mpi4py is not installed", "install mpi4py"
    assert re.search(MISMATCH.format(cause=cause, fix=fix), result.stderr), result.output


def test_srun_tasks_run_alone_when_the_user_insists():
    env = {**SRUN_TASK, "PARNRN_LAUNCHER_CHECK": "warn"}
    result = run_python(NHOST, timeout=120, env=env)
    assert result.returncode == 0, result.output
    assert "nhost 1" in result.stdout
    assert re.search(
        r"\[rank 1/2\] parnrn WARNING: srun started this process as task 1 of 2 .* Going on "
        r"with MPI's 1 rank\(s\), as PARNRN_LAUNCHER_CHECK=warn asks",
        result.stderr,
    ), result.output


def test_one_process_in_a_slurm_allocation_is_no_error():
    """python model.py in an sbatch script or an salloc shell: SLURM_NTASKS is the
    allocation's, not a count of processes started."""
    for env in (SBATCH_SCRIPT, {"SLURM_NTASKS": "2"}):
        result = run_python(NHOST, timeout=120, env=env)
        assert result.returncode == 0, result.output
        assert "nhost 1" in result.stdout and "srun" not in result.stderr, result.output
