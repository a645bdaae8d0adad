"""Settings from the environment and configure(): bad values fail clearly, empty ones
fall back to the defaults."""

import pytest
from conftest import run_python

from parnrn import configure
from parnrn.settings import settings


def test_empty_environment_values_mean_the_defaults():
    result = run_python(
        "import parnrn.log\n"
        "from parnrn.settings import settings\n"
        "print(settings.log_level, settings.log_ranks, settings.timeout, settings.checks)",
        env={"PARNRN_LOG_LEVEL": "", "PARNRN_LOG_RANKS": " ", "PARNRN_TIMEOUT": ""},
    )
    assert result.returncode == 0, result.output
    assert result.stdout.split() == ["INFO", "root", "None", "True"]


def test_timeout_from_the_environment():
    result = run_python(
        "from parnrn.settings import settings; print(settings.timeout)",
        env={"PARNRN_TIMEOUT": "2.5"},
    )
    assert result.stdout.strip() == "2.5"


def test_bad_timeout_in_the_environment_names_the_variable():
    result = run_python("import parnrn.settings", env={"PARNRN_TIMEOUT": "soon"})
    assert result.returncode != 0
    assert "PARNRN_TIMEOUT='soon' is not a number of seconds" in result.stderr


def test_a_bad_log_level_is_refused_and_not_stored():
    with pytest.raises(ValueError, match="log_level must be one of DEBUG, INFO"):
        configure(log_level="loud")
    assert settings.log_level == "INFO"


def test_log_ranks_must_be_root_or_all():
    with pytest.raises(ValueError, match="log_ranks must be one of root, all, not 'some'"):
        configure(log_ranks="some")
