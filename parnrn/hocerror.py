"""Hoc errors as ``HocError``: a ``RuntimeError`` that names the rank and the call.

With ``pc.mpiabort_on_error(0)`` (always set by parnrn) a hoc error raises a
``RuntimeError`` on the failing rank. parnrn's own NEURON calls (``p.parallel.*``) turn it
into a ``HocError`` with ``hoc_error``, at no cost when nothing fails: NEURON 9 puts the
hoc message into the exception. For a block of the user's own NEURON calls,
``hoc_errors(what)`` also captures what NEURON printed to stderr during the block (at the
file-descriptor level, for NEURON's C code, and ``sys.stderr``, through which NEURON prints
when Python hosts it), where under ``mpiexec`` it is easily lost among other ranks' output.
Text written during a block that does not fail is passed on to stderr unchanged.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from .errors import HocError
from .ranks import known_rank_size, rank_tag

T = TypeVar("T")

_capture_file: Any = None  # one reusable temporary file per process
_depth = 0  # nested blocks are captured by the outermost one


@contextmanager
def hoc_errors(what: str) -> Iterator[None]:
    """Raise ``HocError`` with NEURON's message when a hoc error happens in the block.

    Example::

        with hoc_errors("gid_connect"):
            pc.gid_connect(gid, target)
    """
    global _depth
    if _depth:
        yield
        return
    _depth += 1
    capture = _start_capture()
    error: RuntimeError | None = None
    try:
        yield
    except RuntimeError as exc:
        error = exc
    finally:
        _depth -= 1
        text = _stop_capture(capture)
    if error is None or not is_hoc_error(error, text):
        _pass_on(text)
        if error is not None:
            raise error
        return
    raise hoc_error(what, error, text) from error


def raising_hoc_errors(what: str, function: Callable[..., T]) -> Callable[..., T]:
    """``function``, with a hoc error it raises turned into a ``HocError`` naming
    ``what``; free when nothing fails (nothing is captured).

    Example::

        psolve = raising_hoc_errors("psolve", pc.psolve)
        psolve(100.0)   # HocError: [rank 1/4] NEURON error in psolve: ...
    """

    def call(*args: Any, **kwargs: Any) -> T:
        try:
            return function(*args, **kwargs)
        except RuntimeError as exc:
            if is_hoc_error(exc):
                raise hoc_error(what, exc) from exc
            raise

    call.__name__ = call.__qualname__ = what
    call.__doc__ = getattr(function, "__doc__", None)
    return call


def is_hoc_error(error: BaseException, text: str = "") -> bool:
    """Whether ``error`` is NEURON reporting a hoc error (``text``: what it printed)."""
    return (
        isinstance(error, RuntimeError)
        and not isinstance(error, HocError)
        and ("NEURON:" in text or "hoc" in str(error))
    )


def hoc_error(what: str, error: RuntimeError, text: str = "") -> HocError:
    """The ``HocError`` for NEURON's ``error`` in the call ``what`` on this rank; ``text``
    is what NEURON printed, if it was captured.

    Example::

        try:
            pc.set_gid2node(gid, rank)
        except RuntimeError as exc:
            raise hoc_error(f"set_gid2node({gid})", exc) from exc
    """
    rank, size = known_rank_size()
    hoc_text = text.strip("\n") or str(error)
    lines = "".join(f"\n    {line}" for line in text.strip("\n").splitlines())
    message = f"{rank_tag(rank, size)} NEURON error in {what}: {error}{lines}"
    return HocError(message, hoc_text, rank, what)


def _start_capture() -> tuple[int, Any, io.StringIO]:
    global _capture_file
    if _capture_file is None:
        _capture_file = tempfile.TemporaryFile()
    _capture_file.seek(0)
    _capture_file.truncate()
    _flush()
    saved_fd = os.dup(2)
    os.dup2(_capture_file.fileno(), 2)
    saved_stream, sys.stderr = sys.stderr, io.StringIO()
    return saved_fd, saved_stream, sys.stderr


def _stop_capture(capture: tuple[int, Any, io.StringIO]) -> str:
    saved_fd, saved_stream, python_side = capture
    _flush()
    sys.stderr = saved_stream
    os.dup2(saved_fd, 2)
    os.close(saved_fd)
    _capture_file.seek(0)
    return _capture_file.read().decode(errors="replace") + python_side.getvalue()


def _pass_on(text: str) -> None:
    if text:
        sys.stderr.write(text)
        sys.stderr.flush()


def _flush() -> None:
    try:
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass
