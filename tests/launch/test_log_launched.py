"""The rank-aware parnrn logger in launched processes: the rank policy under mpiexec, the
level and ranks from the environment."""

from support.launch import run_mpi, run_python

# Logs one message of each level, a warning twice through warn_once, then switches to
# every rank at debug level and logs again.
SCRIPT = """
import parnrn
from parnrn.log import logger, warn_once
from parnrn.runtime import start

start()
logger.debug("debug before")
logger.info("info before")
logger.warning("warning before")
for _ in range(2):
    warn_once("key", "warned once")
parnrn.configure(log_level="debug", log_ranks="all")
logger.debug("debug after")
logger.info("info after")
"""


def lines_of(rank: int, stderr: str) -> list[str]:
    tag = f"[rank {rank}/2] parnrn "
    return [line.removeprefix(tag) for line in stderr.splitlines() if line.startswith(tag)]


def test_default_info_from_rank_0_warnings_from_every_rank():
    result = run_mpi(2, ["-c", SCRIPT])
    assert result.returncode == 0, result.output
    assert lines_of(0, result.stderr) == [
        "INFO: info before",
        "WARNING: warning before",
        "WARNING: warned once",
        "DEBUG: debug after",
        "INFO: info after",
    ]
    assert lines_of(1, result.stderr) == [
        "WARNING: warning before",
        "WARNING: warned once",
        "DEBUG: debug after",
        "INFO: info after",
    ]
    assert "parnrn" not in result.stdout


def test_environment_sets_level_and_ranks():
    env = {"PARNRN_LOG_LEVEL": "debug", "PARNRN_LOG_RANKS": "all"}
    result = run_mpi(2, ["-c", SCRIPT.split("parnrn.configure")[0]], env=env)
    assert result.returncode == 0, result.output
    for rank in (0, 1):
        assert lines_of(rank, result.stderr) == [
            "DEBUG: debug before",
            "INFO: info before",
            "WARNING: warning before",
            "WARNING: warned once",
        ]


def test_warning_level_from_the_environment_hides_info():
    code = "from parnrn.log import logger\nlogger.info('hidden')\nlogger.warning('shown')"
    result = run_python(code, env={"PARNRN_LOG_LEVEL": "WARNING"})
    assert result.returncode == 0, result.output
    assert "hidden" not in result.stderr
    assert "[rank 0/1] parnrn WARNING: shown" in result.stderr


def test_invalid_level_in_the_environment_is_explained():
    result = run_python("import parnrn.log", env={"PARNRN_LOG_LEVEL": "loud"})
    assert result.returncode != 0
    assert "PARNRN_LOG_LEVEL" in result.stderr and "'loud'" in result.stderr
