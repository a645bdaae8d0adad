"""The rank-aware parnrn logger in this process: rank tag, levels, warn_once. The rank
policy under mpiexec and the environment are tests/launch/test_log_launched.py."""

import logging

import pytest

from parnrn import configure, log


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
