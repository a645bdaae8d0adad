"""Put NEURON's own error text into the Python exception a hoc error raises.

With ``pc.mpiabort_on_error(0)`` (always set by parnrn) a hoc error raises a bare
``RuntimeError`` such as ``hocobj_call error`` on the failing rank, while the useful text
(``NEURON: arg 2 must be a point process``, the hoc line, the call) goes to stderr, where
under ``mpiexec`` it is easily lost among other ranks' output. ``hoc_errors(what)``
captures what is written to stderr during a block (at the file-descriptor level, for
NEURON's C code, and ``sys.stderr``, through which NEURON prints when Python hosts it) and
turns such a ``RuntimeError`` into a ``HocError`` carrying that text and the rank. Text
written during a block that does not fail is passed on to stderr unchanged.
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
    if error is None or isinstance(error, HocError) or not _is_hoc_error(error, text):
        _pass_on(text)
        if error is not None:
            raise error
        return
    raise _hoc_error(what, error, text) from error


def call(what: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``function(*args, **kwargs)`` inside ``hoc_errors(what)``.

    Example::

        call("psolve", pc.psolve, 100.0)
    """
    with hoc_errors(what):
        return function(*args, **kwargs)


def _is_hoc_error(error: RuntimeError, text: str) -> bool:
    return "NEURON:" in text or "hoc" in str(error)


def _hoc_error(what: str, error: RuntimeError, text: str) -> HocError:
    from .runtime import known_rank_size

    rank, size = known_rank_size()
    hoc_text = text.strip("\n")
    lines = "".join(f"\n    {line}" for line in hoc_text.splitlines())
    message = f"[rank {rank}/{size}] NEURON error in {what}: {error}{lines}"
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
