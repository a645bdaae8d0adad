"""The rank-aware ``parnrn`` logger.

Records carry ``[rank r/N]``. By default info goes to stderr from rank 0 only, and warnings
and errors from every rank; ``configure(log_level=..., log_ranks="all")`` or
``PARNRN_LOG_LEVEL`` change that. ``warn_once`` logs a given warning once per process.
"""

from __future__ import annotations

import logging

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


def _make_handler() -> logging.Handler:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(rank_tag)s parnrn %(levelname)s: %(message)s"))
    handler.addFilter(_RankFilter())
    return handler


_handler = _make_handler()
logger.addHandler(_handler)
logger.propagate = False


def apply_settings() -> None:
    """Make the logger follow the current settings."""
    logger.setLevel(settings.log_level)


def warn_once(key: str, message: str) -> None:
    """Log ``message`` as a warning the first time ``key`` is seen in this process."""
    if key in _warned:
        return
    _warned.add(key)
    logger.warning(message)


apply_settings()
