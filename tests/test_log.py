"""The rank-aware parnrn logger: rank tag, rank policy, levels, warn_once."""

import logging

import pytest
from conftest import run_mpi, run_python

from parnrn import configure, log
from parnrn.settings import settings

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


@pytest.fixture
def restore_settings():
    saved = (settings.log_level, settings.log_ranks)
    yield
    configure(log_level=saved[0], log_ranks=saved[1])


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


def test_configure_changes_level_and_rejects_bad_values(capsys, restore_settings):
    configure(log_level="warning")
    log.logger.info("not shown")
    log.logger.warning("shown")
    assert capsys.readouterr().err == "[rank 0/1] parnrn WARNING: shown\n"
    with pytest.raises(ValueError, match="log_ranks must be one of root, all"):
        configure(log_ranks="some")


def test_warn_once_logs_each_key_once(capsys):
    log.warn_once("test-log-a", "first")
    log.warn_once("test-log-a", "first")
    log.warn_once("test-log-b", "second")
    assert capsys.readouterr().err.splitlines() == [
        "[rank 0/1] parnrn WARNING: first",
        "[rank 0/1] parnrn WARNING: second",
    ]


def test_added_handlers_get_the_rank_tag():
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    handler = Keep()
    handler.setFormatter(logging.Formatter("%(rank_tag)s %(message)s"))
    log.logger.addHandler(handler)
    try:
        log.logger.warning("to my handler")
    finally:
        log.logger.removeHandler(handler)
    assert records == ["[rank 0/1] to my handler"]
