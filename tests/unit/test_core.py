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
