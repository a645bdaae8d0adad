"""Watchdog for blocking NEURON calls (psolve, pc.barrier) that hold the GIL.

Placeholder: does nothing yet; the error-propagation work fills it in.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def watchdog(what: str) -> Iterator[None]:
    """Guard a blocking NEURON call named ``what`` with the configured timeout."""
    yield
