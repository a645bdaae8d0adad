"""Process-wide parnrn settings, read from the environment and ``configure()``.

Settings must be identical on every rank (the environment of an ``mpiexec`` job is, and
``configure`` is meant to be called by the same script on every rank). A value from the
environment is checked as strictly as the same value given to ``configure``: a bad one
raises ``ValueError`` naming the variable when parnrn is imported.
"""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_RANKS = ("root", "all")
CHECKPOINT_SIGNALS = ("SIGUSR1", "SIGUSR2", "SIGTERM", "SIGHUP", "SIGXCPU", "none")
LAUNCHER_CHECKS = ("error", "warn")
ENGINES = ("neuron", "coreneuron")
_OFF = ("", "0", "off", "none")
_FALSE = ("0", "false", "no", "off")
_TRUE = ("1", "true", "yes", "on")
# Seeds fill 30 bits of a Random123 id; the other two mark parnrn's streams (see
# parnrn/context/randomness.py).
SEED_LIMIT = 2**30


def checked_timeout(value: Any, source: str = "timeout") -> float | None:
    """``value`` as a timeout in seconds: None (or 0) turns it off; anything but a
    positive finite number raises ``ValueError`` naming ``source``."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _OFF:
            return None
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{source}={value!r} is not a number of seconds") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{source} must be a number of seconds or None, not {value!r}")
    if value == 0:
        return None
    if not 0 < value < float("inf"):  # also refuses nan
        raise ValueError(
            f"{source}={value!r}: a timeout must be a positive finite number of seconds "
            f"(0 or None turns it off)"
        )
    return float(value)


def checked_choice(value: str, choices: tuple[str, ...], source: str) -> str:
    """``value`` if it is one of ``choices`` (compared as written there), else ``ValueError``."""
    wanted = str(value).strip()
    wanted = wanted.upper() if choices is LOG_LEVELS else wanted.lower()
    if wanted not in choices:
        raise ValueError(f"{source} must be one of {', '.join(choices)}, not {value!r}")
    return wanted


def checked_seed(value: Any, source: str = "seed") -> int:
    """``value`` as a random seed: an integer in 0 .. 2**30 - 1 (a string of one, from
    the environment); anything else raises ``ValueError`` naming ``source``."""
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise ValueError(f"{source}={value!r} is not an integer") from None
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise ValueError(f"{source} must be an integer, not {value!r}")
    if not 0 <= value < SEED_LIMIT:
        raise ValueError(f"{source}={value!r}: a seed must be in 0 .. 2**30 - 1 ({SEED_LIMIT - 1})")
    return int(value)


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value not in _FALSE + _TRUE:
        raise ValueError(f"{name} must be one of {', '.join(_FALSE + _TRUE)}, not {value!r}")
    return value in _TRUE


def _env_choice(name: str, choices: tuple[str, ...], default: str | None) -> str | None:
    value = os.environ.get(name, "").strip()
    return checked_choice(value, choices, name) if value else default


class Settings(SimpleNamespace):
    """Current settings; see ``configure`` for the meaning of each field.

    A namespace rather than a dataclass: ``dataclasses`` alone would double the time
    ``import parnrn`` takes.
    """

    timeout: float | None
    exit_patience: float
    checks: bool
    strict: bool
    log_level: str
    log_ranks: str
    checkpoint_signal: str
    launcher_check: str
    engine: str | None
    seed: int


settings = Settings(
    timeout=checked_timeout(os.environ.get("PARNRN_TIMEOUT"), "PARNRN_TIMEOUT"),
    exit_patience=checked_timeout(
        os.environ.get("PARNRN_EXIT_PATIENCE", "10"), "PARNRN_EXIT_PATIENCE"
    )
    or 10.0,
    checks=_env_flag("PARNRN_CHECKS", True),
    strict=_env_flag("PARNRN_STRICT", False),
    log_level=_env_choice("PARNRN_LOG_LEVEL", LOG_LEVELS, "INFO"),
    log_ranks=_env_choice("PARNRN_LOG_RANKS", LOG_RANKS, "root"),
    checkpoint_signal=_env_choice("PARNRN_CHECKPOINT_SIGNAL", CHECKPOINT_SIGNALS, "SIGUSR1"),
    launcher_check=_env_choice("PARNRN_LAUNCHER_CHECK", LAUNCHER_CHECKS, "error"),
    engine=_env_choice("PARNRN_ENGINE", ENGINES, None),
    seed=checked_seed(os.environ.get("PARNRN_SEED", "").strip() or 0, "PARNRN_SEED"),
)

_UNSET: Any = object()


def configure(
    *,
    timeout: float | None = _UNSET,
    exit_patience: float | None = None,
    checks: bool | None = None,
    strict: bool | None = None,
    log_level: str | None = None,
    log_ranks: str | None = None,
    checkpoint_signal: str | None = None,
    launcher_check: str | None = None,
    engine: str | None = None,
    seed: int | None = None,
) -> Settings:
    """Change parnrn's settings; call it with the same arguments on every rank.

    - ``timeout``: seconds a parnrn collective may wait before raising
      ``CollectiveTimeoutError``; ``None`` or 0 turns it off (the default, or
      ``PARNRN_TIMEOUT``).
    - ``exit_patience``: seconds the ranks at the end of the program wait before asking
      the late ranks whether they are still working; a rank that cannot answer is stuck
      (inside NEURON, holding the GIL) and the job ends naming it (default 10,
      ``PARNRN_EXIT_PATIENCE``). A late rank that answers is waited for.
    - ``checks``: exchange call fingerprints to detect mismatched collectives (default on;
      ``PARNRN_CHECKS=0`` turns it off).
    - ``strict``: problems found at the start of a run raise instead of warning: gid
      problems (``GidError``) and NetStims on NEURON's rank-dependent default random
      stream (``ParallelError``), on every rank.
    - ``log_level`` and ``log_ranks`` (``"root"`` or ``"all"``): the ``parnrn`` logger.
    - ``checkpoint_signal``: the signal that makes ``p.parallel.run(...,
      checkpoint=path)`` write a checkpoint and end the job (``"SIGUSR1"``, the default,
      ``"SIGUSR2"``, ``"SIGTERM"``, ``"SIGHUP"``, ``"SIGXCPU"``, or ``"none"``;
      ``PARNRN_CHECKPOINT_SIGNAL``): what a batch system sends before the walltime.
    - ``launcher_check``: what MPI's start does when the launcher (``srun``, ``mpiexec``)
      started more or fewer tasks than MPI has ranks, as when ``srun`` starts an MPI that
      does not speak its process-management interface and every task runs alone:
      ``"error"`` raises ``MPIConfigError`` (the default), ``"warn"`` logs it and goes on
      with MPI's ranks (``PARNRN_LAUNCHER_CHECK``). Set it before MPI starts: the
      environment variable is the sure way.
    - ``engine``: what ``p.parallel.run`` integrates with when its call names none:
      ``"neuron"`` or ``"coreneuron"`` (``PARNRN_ENGINE``). Unset, it is NEURON, or
      CoreNEURON when the script set ``neuron.coreneuron.enable = True`` itself.
    - ``seed``: the job's random seed, 0 .. 2**30 - 1, which keys every stream of
      ``p.parallel.random_stream``, ``numpy_rng`` and ``noise`` (default 0, or
      ``PARNRN_SEED``); it must be the same on every rank, which each run checks.

    Every value is checked before any is changed: a bad one raises ``ValueError``.

    Example::

        import parnrn
        parnrn.configure(timeout=30, seed=12345)
    """
    new = {}
    if timeout is not _UNSET:
        new["timeout"] = checked_timeout(timeout)
    if exit_patience is not None:
        new["exit_patience"] = checked_timeout(exit_patience, "exit_patience") or 10.0
    if log_level is not None:
        new["log_level"] = checked_choice(log_level, LOG_LEVELS, "log_level")
    if log_ranks is not None:
        new["log_ranks"] = checked_choice(log_ranks, LOG_RANKS, "log_ranks")
    if checkpoint_signal is not None:
        new["checkpoint_signal"] = checked_choice(
            checkpoint_signal, CHECKPOINT_SIGNALS, "checkpoint_signal"
        )
    if launcher_check is not None:
        new["launcher_check"] = checked_choice(launcher_check, LAUNCHER_CHECKS, "launcher_check")
    if engine is not None:
        new["engine"] = checked_choice(engine, ENGINES, "engine")
    if checks is not None:
        new["checks"] = bool(checks)
    if strict is not None:
        new["strict"] = bool(strict)
    if seed is not None:
        new["seed"] = checked_seed(seed)
    for name, value in new.items():
        setattr(settings, name, value)
    return settings
