"""The rank-aware ``parnrn`` logger.

Records carry ``[rank r/N]``. By default info goes to stderr from rank 0 only, and warnings
and errors from every rank; ``configure(log_level=..., log_ranks="all")``,
``PARNRN_LOG_LEVEL`` and ``PARNRN_LOG_RANKS`` change that. ``warn_once`` logs a given
warning once per process.

The rank tag, the level and the rank policy are a filter on the logger itself that reads
the current settings for each record, so a handler you add to it (a file, say) gets them
too::

    import logging

    handler = logging.FileHandler("parnrn.log")
    handler.setFormatter(logging.Formatter("%(rank_tag)s %(levelname)s: %(message)s"))
    logging.getLogger("parnrn").addHandler(handler)

parnrn's records go to its own stderr handler and do not propagate to the root logger, so
that every line carries its rank even in an application that configures no logging.
"""

from __future__ import annotations

import logging
import sys

from .ranks import known_rank_size, rank_tag
from .settings import settings

logger = logging.getLogger("parnrn")
_warned: set[str] = set()


class _RankFilter(logging.Filter):
    """Tags records with the rank; drops those below the configured level, and
    sub-warning records off rank 0 unless every rank logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.getLevelName(settings.log_level):
            return False
        rank, size = known_rank_size()
        record.rank_tag = rank_tag(rank, size)
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
logger.setLevel(logging.DEBUG)  # the filter applies the configured level
logger.propagate = False


def warn_once(key: str, message: str) -> None:
    """Log ``message`` as a warning the first time ``key`` is seen in this process.

    Example::

        warn_once("mpi-fallback", "found the MPI library by symbol lookup")
    """
    if key in _warned:
        return
    _warned.add(key)
    logger.warning(message)
