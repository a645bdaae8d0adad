"""Process-wide parnrn settings, read from the environment and ``configure()``.

Settings must be identical on every rank (the environment of an ``mpiexec`` job is, and
``configure`` is meant to be called by the same script on every rank).
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def _env_float(name: str) -> float | None:
    value = os.environ.get(name, "").strip()
    if not value or value.lower() in ("0", "off", "none"):
        return None
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a number of seconds") from None
    return seconds if seconds > 0 else None


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    return value not in ("0", "false", "no", "off")


@dataclass
class Settings:
    """Current settings; see ``configure`` for the meaning of each field."""

    timeout: float | None
    checks: bool
    strict: bool
    log_level: str
    log_ranks: str


settings = Settings(
    timeout=_env_float("PARNRN_TIMEOUT"),
    checks=_env_flag("PARNRN_CHECKS", True),
    strict=_env_flag("PARNRN_STRICT", False),
    log_level=os.environ.get("PARNRN_LOG_LEVEL", "").strip().upper() or "INFO",
    log_ranks=os.environ.get("PARNRN_LOG_RANKS", "").strip().lower() or "root",
)

_UNSET = object()
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def configure(
    *,
    timeout: float | None = _UNSET,  # type: ignore[assignment]
    checks: bool | None = None,
    strict: bool | None = None,
    log_level: str | None = None,
    log_ranks: str | None = None,
) -> Settings:
    """Change parnrn's settings; call it with the same arguments on every rank.

    - ``timeout``: seconds a parnrn collective may wait before raising
      ``CollectiveTimeoutError``; ``None`` or 0 turns it off (the default, or
      ``PARNRN_TIMEOUT``).
    - ``checks``: exchange call fingerprints to detect mismatched collectives (default on;
      ``PARNRN_CHECKS=0`` turns it off).
    - ``strict``: gid problems found at run time raise ``GidError`` instead of warning.
    - ``log_level`` and ``log_ranks`` (``"root"`` or ``"all"``): the ``parnrn`` logger.

    Example::

        import parnrn
        parnrn.configure(timeout=30)
    """
    if timeout is not _UNSET:
        if timeout is not None and not timeout >= 0:
            raise ValueError(
                f"timeout must be a positive number of seconds or None, not {timeout!r}"
            )
        settings.timeout = timeout or None
    if checks is not None:
        settings.checks = bool(checks)
    if strict is not None:
        settings.strict = bool(strict)
    if log_level is not None:
        if str(log_level).upper() not in LOG_LEVELS:
            raise ValueError(f"log_level must be one of {', '.join(LOG_LEVELS)}, not {log_level!r}")
        settings.log_level = str(log_level).upper()
    if log_ranks is not None:
        if log_ranks not in ("root", "all"):
            raise ValueError(f"log_ranks must be 'root' or 'all', not {log_ranks!r}")
        settings.log_ranks = log_ranks
    from . import log

    log.apply_settings()
    return settings
