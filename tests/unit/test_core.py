"""The core layer in-process: rank tags, settings checked as strictly from the environment
as from configure(), error records that survive any exception, the start hook."""

import math

import pytest

from parnrn import ranks, runtime, settings
from parnrn.errors import describe_failures, error_record


def test_rank_tag_of_this_process_and_of_any_rank():
    assert ranks.rank_tag() == "[rank 0/1]"
    assert ranks.rank_tag(3, 8) == "[rank 3/8]"


def test_known_rank_size_before_mpi_comes_from_the_launcher(monkeypatch):
    monkeypatch.setattr(ranks, "_known", None)
    monkeypatch.setenv("PMI_RANK", "2")
    monkeypatch.setenv("PMI_SIZE", "4")
    assert ranks.known_rank_size() == (2, 4)


LAUNCHER_VARIABLES = (
    "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "PMI_RANK", "PMI_SIZE", "PMIX_RANK",
    "SLURM_PROCID", "SLURM_NTASKS", "SLURM_STEP_ID", "SLURM_STEP_NUM_TASKS",
)  # fmt: skip
# The environment each launcher gives the processes it starts, and what launched_as()
# makes of it: (part of the launcher's name, rank, size, rank variable, size variable).
LAUNCHES = {
    "srun task": (
        {"SLURM_PROCID": "1", "SLURM_NTASKS": "2", "SLURM_STEP_ID": "0",
         "SLURM_STEP_NUM_TASKS": "2"},
        ("srun", 1, 2, "SLURM_PROCID", "SLURM_STEP_NUM_TASKS"),
    ),
    "srun task without its step's size": (
        {"SLURM_PROCID": "1", "SLURM_NTASKS": "2"},
        ("srun", 1, 2, "SLURM_PROCID", "SLURM_NTASKS"),
    ),
    "Open MPI's mpiexec": (
        {"OMPI_COMM_WORLD_RANK": "3", "OMPI_COMM_WORLD_SIZE": "4", "PMIX_RANK": "3"},
        ("Open MPI", 3, 4, "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
    ),
    "MPICH's mpiexec": (
        {"PMI_RANK": "0", "PMI_SIZE": "8"}, ("PMI", 0, 8, "PMI_RANK", "PMI_SIZE"),
    ),
    # hydra's proxies are srun tasks, one per node: the ranks' own variables count
    "MPICH's mpiexec with srun proxies": (
        {"PMI_RANK": "5", "PMI_SIZE": "8", "SLURM_PROCID": "1", "SLURM_STEP_NUM_TASKS": "2"},
        ("PMI", 5, 8, "PMI_RANK", "PMI_SIZE"),
    ),
    # One process: an sbatch script, a shell in salloc, salloc's interactive step.
    "sbatch script": ({"SLURM_PROCID": "0", "SLURM_NTASKS": "64"}, None),
    "salloc shell": ({"SLURM_NTASKS": "64"}, None),
    "salloc interactive step": (
        {"SLURM_PROCID": "0", "SLURM_NTASKS": "64", "SLURM_STEP_ID": "4294967290",
         "SLURM_STEP_NUM_TASKS": "1"},
        ("srun", 0, 1, "SLURM_PROCID", "SLURM_STEP_NUM_TASKS"),
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(LAUNCHES))
def test_which_launcher_started_this_process_as_one_of_several_tasks(name, monkeypatch):
    env, expected = LAUNCHES[name]
    for variable in LAUNCHER_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    launch = ranks.launched_as()
    if expected is None:
        assert launch is None
    else:
        assert expected[0] in launch.launcher and launch[1:] == expected[1:]


@pytest.mark.parametrize("value", ["inf", "-5", "nan", "soon", math.inf, -1, math.nan, True])
def test_a_timeout_must_be_positive_and_finite(value):
    with pytest.raises(ValueError, match="PARNRN_TIMEOUT"):
        settings.checked_timeout(value, "PARNRN_TIMEOUT")


@pytest.mark.parametrize("value", [None, "", " 0 ", "off", "None", 0])
def test_a_timeout_of_nothing_or_zero_is_off(value):
    assert settings.checked_timeout(value) is None


def test_a_timeout_in_seconds():
    assert settings.checked_timeout(" 2.5 ") == 2.5 and settings.checked_timeout(3) == 3.0


def test_environment_choices_are_checked(monkeypatch):
    monkeypatch.setenv("PARNRN_LOG_RANKS", "some")
    with pytest.raises(ValueError, match="PARNRN_LOG_RANKS must be one of root, all, not 'some'"):
        settings._env_choice("PARNRN_LOG_RANKS", settings.LOG_RANKS, "root")
    monkeypatch.setenv("PARNRN_CHECKS", "maybe")
    with pytest.raises(ValueError, match="PARNRN_CHECKS must be one of"):
        settings._env_flag("PARNRN_CHECKS", True)


def test_configure_checks_every_value_before_changing_any():
    before = dict(vars(settings.settings))
    with pytest.raises(ValueError, match="log_level"):
        settings.configure(timeout=5, log_level="loud")
    assert vars(settings.settings) == before


class BrokenStr(Exception):
    def __str__(self):
        raise RuntimeError("no text for you")


def test_error_record_survives_an_exception_whose_str_raises():
    try:
        raise BrokenStr()
    except BrokenStr as exc:
        name, message, text = error_record(exc)
    assert (name, message) == ("BrokenStr", "<BrokenStr whose str() failed>")
    assert "BrokenStr" in text
    failures = {1: (name, message, text), 0: ("TypeError", "bad", "")}
    assert describe_failures(failures, root=0) == (
        "rank 0 (root): TypeError: bad; rank 1: BrokenStr: <BrokenStr whose str() failed>"
    )


def test_on_start_hooks_run_once_mpi_has_started():
    seen = []
    runtime.on_start(seen.append)
    started = runtime.start()
    assert seen == [started]
    runtime._start_hooks.remove(seen.append)
