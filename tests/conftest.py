"""Fixtures shared by tests/unit, tests/launch and tests/mpi. Helpers that are not
fixtures live in the ordinary package ``support``."""

import pytest


@pytest.fixture
def pc():
    """``p.parallel`` with no gids registered before and after the test."""
    from parnrn import p

    parallel = p.parallel
    parallel.gid_clear()
    yield parallel
    parallel.gid_clear()


@pytest.fixture
def restore_settings():
    """The log level and rank policy as they were before the test."""
    from parnrn import configure
    from parnrn.settings import settings

    saved = (settings.log_level, settings.log_ranks)
    yield
    configure(log_level=saved[0], log_ranks=saved[1])
