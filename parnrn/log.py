"""The rank-aware ``parnrn`` logger.

Records carry ``[rank r/N]``. By default info goes to stderr from rank 0 only, and warnings
and errors from every rank; ``configure(log_level=..., log_ranks="all")``,
``PARNRN_LOG_LEVEL`` and ``PARNRN_LOG_RANKS`` change that. ``warn_once`` logs a given
warning once per process.

The rank tag and the rank policy are a filter on the logger itself, so a handler you add
to it (a file, say) gets them too::

    import logging

    handler = logging.FileHandler("parnrn.log")
    handler.setFormatter(logging.Formatter("%(rank_tag)s %(levelname)s: %(message)s"))
    logging.getLogger("parnrn").addHandler(handler)
"""

from __future__ import annotations

import logging
import sys

from .settings import LOG_LEVELS as LEVELS
from .settings import settings

logger = logging.getLogger("parnrn")
_warned: set[str] = set()


class _RankFilter(logging.Filter):
    """Tags records with the rank and drops sub-warning records off rank 0 by default."""

    def filter(self, record: logging.LogRecord) -> bool:
        from .runtime import known_rank_size

        rank, size = known_rank_size()
        record.rank_tag = f"[rank {rank}/{size}]"
        if settings.log_ranks == "root" and rank != 0:
            return record.levelno >= logging.WARNING
        return True


class _StderrHandler(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is when a record is logged, so that redirecting
    ``sys.stderr`` redirects parnrn's messages too."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr


_handler = _StderrHandler()
_handler.setFormatter(logging.Formatter("%(rank_tag)s parnrn %(levelname)s: %(message)s"))
logger.addHandler(_handler)
logger.addFilter(_RankFilter())
logger.propagate = False


def apply_settings() -> None:
    """Make the logger follow the current settings.

    Raises ``ValueError`` naming the valid levels when ``settings.log_level`` (from
    ``configure(log_level=...)`` or ``PARNRN_LOG_LEVEL``) is not one of them.

    Example::

        settings.log_level = "DEBUG"
        apply_settings()   # what configure(log_level="debug") does
    """
    if settings.log_level not in LEVELS:
        raise ValueError(
            f"parnrn log level {settings.log_level!r} (configure(log_level=...) or "
            f"PARNRN_LOG_LEVEL) is not one of {', '.join(LEVELS)}"
        )
    logger.setLevel(settings.log_level)


def warn_once(key: str, message: str) -> None:
    """Log ``message`` as a warning the first time ``key`` is seen in this process.

    Example::

        warn_once("mpi-fallback", "found the MPI library by symbol lookup")
    """
    if key in _warned:
        return
    _warned.add(key)
    logger.warning(message)


apply_settings()
