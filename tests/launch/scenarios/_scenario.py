"""Shared set-up for the failure scenarios: ``python SCRIPT MODE BAD_RANK``.

``BAD_RANK`` is a rank number or ``last``. ``failing_now()`` prints ``@fail <time>`` just
before the scenario fails, so the test can measure how long the job takes to end.
"""

import sys
import time

from parnrn import runtime


def setup():
    """Start parnrn's runtime; return (runtime, mode, the rank that fails)."""
    rt = runtime.start()
    mode, bad = sys.argv[1], sys.argv[2]
    return rt, mode, rt.size - 1 if bad == "last" else int(bad)


def failing_now(delay: float = 0.0) -> None:
    """Mark the moment of failure (``delay`` seconds from now, for timeouts)."""
    print(f"@fail {time.time() + delay:.6f}", flush=True)
