"""Settings through configure(): bad values are refused clearly and not stored. The
environment is tests/launch/test_settings_env.py."""

import pytest

from parnrn import configure
from parnrn.settings import settings


def test_a_bad_log_level_is_refused_and_not_stored():
    with pytest.raises(ValueError, match="log_level must be one of DEBUG, INFO"):
        configure(log_level="loud")
    assert settings.log_level == "INFO"


def test_log_ranks_must_be_root_or_all():
    with pytest.raises(ValueError, match="log_ranks must be one of root, all, not 'some'"):
        configure(log_ranks="some")


def test_launcher_check_must_be_error_or_warn():
    with pytest.raises(ValueError, match="launcher_check must be one of error, warn, not 'no'"):
        configure(launcher_check="no")
    assert settings.launcher_check == "error"


def test_configure_validates_timeout():
    with pytest.raises(ValueError, match="timeout must be"):
        configure(timeout=-1)
    assert configure(timeout=None).timeout is None


@pytest.mark.parametrize(
    ("seed", "message"),
    [
        (-1, "seed=-1: a seed must be in 0 .. 2\\*\\*30 - 1"),
        (2**30, "seed=1073741824: a seed must be in 0 .. 2\\*\\*30 - 1"),
        (1.5, "seed must be an integer, not 1.5"),
        (True, "seed must be an integer, not True"),
    ],
)
def test_a_bad_seed_is_refused_and_not_stored(seed, message):
    before = settings.seed
    with pytest.raises(ValueError, match=message):
        configure(seed=seed)
    assert settings.seed == before


def test_configure_sets_the_seed():
    before = settings.seed
    try:
        assert configure(seed=2**30 - 1).seed == 2**30 - 1
    finally:
        configure(seed=before)
