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
