"""End the whole job, loudly and at once, when one rank fails.

Armed when MPI starts on more than one rank (``parnrn/__init__.py`` registers ``install``
with ``runtime.on_start``). Without it, one
failing rank leaves the others waiting forever: mpi4py's exit calls ``MPI_Finalize``,
which waits for every rank. From ``install()`` on:

- Standard output becomes line-buffered, so that when the job is aborted nothing a
  healthy rank printed is lost with it.
- An unhandled exception (``KeyboardInterrupt`` too) runs the script's own
  ``sys.excepthook`` if it set one before MPI started, then prints its traceback once, each line
  prefixed with ``[rank r/N]``, writes an error record (JSON) into ``PARNRN_ERROR_DIR``
  when that is set, and ends every rank with ``MPI_Abort`` and a non-zero status. A hook
  the script sets after MPI started replaces parnrn's; the exception it took is found at
  interpreter exit (``sys.last_exc``) and ends the job the same way, named.
- A ``RankLostError`` unhandled in a thread other than the main one does the same
  (``threading.excepthook``); other exceptions in threads do not end the job.
- ``sys.exit(code)`` (or ``exit(code)``) with a non-zero code does the same at interpreter
  exit. The interpreter never shows ``SystemExit`` to ``sys.excepthook``, so these are
  wrapped to remember the code; ``python -m parnrn`` catches every exit exactly instead.
- A fatal signal (segfault) prints this rank and the Python stack of each thread
  (``crash``).
- At normal exit, and on ``os._exit(0)``, the ranks agree that everyone is ending, with a
  parnrn collective named ``exit``. A rank that ends while the others wait in a parnrn
  collective makes every rank fail with a ``CollectiveMismatchError`` naming it; with a
  timeout configured, ranks that never reach the end are named once it expires. A rank
  that ends early is therefore never a silent success. ``os._exit(code != 0)`` aborts.
- Inside ``call_inside(what, ...)`` (each task of ``p.parallel.map``) a rank that ends in
  any way (``sys.exit``, ``os._exit``, ``h.quit()``, whatever the status) aborts the job at
  once, naming ``what``: the other ranks cannot finish without it. A fatal signal's stack
  names it too.
"""

from __future__ import annotations

import atexit
import builtins
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, NoReturn

from ..errors import (
    CollectiveMismatchError,
    CollectiveTimeoutError,
    ParallelError,
    RankLostError,
    error_record,
)
from ..ranks import rank_tag
from ..runtime import Runtime
from ..transport import guard
from . import crash, liveness
from .records import write_record

SIGINT_STATUS = 130  # 128 + SIGINT, as shells and mpi4py report an interrupted program
# A rank failing only because another rank failed waits this long before aborting, so
# that the rank where the failure started reports it first.
CONSEQUENCE_GRACE = 0.5
# mpiexec acts on an abort as soon as it arrives and may drop output still in the pipe:
# a failing rank waits this long between printing and aborting.
OUTPUT_GRACE = 0.1
_runtime: Runtime | None = None
_pid = 0
_real_sys_exit = sys.exit
_real_os_exit = os._exit
_requested_exit: tuple[Any, str] | None = None
_end_known = False  # the runner saw how the program ended: no uncaught SystemExit is hidden
_aborting = False
_exit_agreed = False
_users_excepthook: Any = None
_threads_excepthook: Any = None  # threading.excepthook as install() found it
_pulse: liveness.Pulse | None = None
_finalize_keyval: Any = None  # referenced for as long as MPI may call it
_inside: str | None = None  # what ``call_inside`` runs now: ending there is a failure
_none_hint: str | None = None  # said when a TypeError about None ends this rank
_leaving_together: SystemExit | None = None  # raised by leave_together on every rank


def install(runtime: Runtime) -> None:
    """Make any failure on this rank end the whole job (see the module docstring); does
    nothing with one rank."""
    global _runtime, _pid, _users_excepthook, _threads_excepthook
    if _runtime is not None or runtime.size == 1:
        return
    _runtime, _pid = runtime, os.getpid()
    if sys.excepthook is not sys.__excepthook__:  # the script's own: it runs first
        _users_excepthook = sys.excepthook
    sys.excepthook = _excepthook
    _threads_excepthook = threading.excepthook
    threading.excepthook = _thread_excepthook
    sys.exit = _sys_exit
    os._exit = _os_exit
    for name in ("exit", "quit"):
        quitter = getattr(builtins, name, None)
        if quitter is not None:  # absent under `python -S`
            setattr(builtins, name, _Quitter(quitter))
    # atexit runs handlers last-registered first, all before mpi4py finalizes MPI.
    atexit.register(_at_exit)
    # When the job is aborted, mpiexec kills the healthy ranks too: whatever sat in their
    # block-buffered stdout (a pipe) would be lost. Each line goes out when printed.
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        try:
            reconfigure(line_buffering=True)
        except (ValueError, OSError):  # a closed or unusual stdout: keep it as it is
            pass
    # NEURON finalizes MPI itself (workers leaving pc.runworker(), h.quit()) before Python's
    # atexit: MPI then calls the delete callbacks of MPI_COMM_SELF's attributes, first.
    MPI = runtime.MPI
    global _finalize_keyval, _pulse
    _finalize_keyval = MPI.Comm.Create_keyval(delete_fn=_at_mpi_finalize)
    MPI.COMM_SELF.Set_attr(_finalize_keyval, True)
    _pulse = liveness.start(MPI, runtime.control)
    crash.install(runtime.rank, runtime.size)


def installed() -> bool:
    """Whether this process aborts the job on failure."""
    return _runtime is not None


def exit_status(exc: BaseException) -> int:
    """The process exit status an exception ending the program stands for."""
    if isinstance(exc, KeyboardInterrupt):
        return SIGINT_STATUS
    if isinstance(exc, SystemExit):
        if exc.code is None:
            return 0
        return exc.code if isinstance(exc.code, int) else 1
    return 1


def ended(exc: BaseException | None) -> None:
    """Report how the program ended, exactly: ``exc`` is what escaped it (None when it
    ran to its end). Aborts the job on failure; returns when the exit is a clean one,
    leaving the exit agreement to interpreter exit."""
    global _requested_exit, _end_known
    _requested_exit, _end_known = None, True
    if exc is None or not installed():
        return
    status = exit_status(exc)
    if status == 0 or (isinstance(exc, SystemExit) and exc is _leaving_together):
        _requested_exit = (exc.code, "") if status == 0 else None
        return
    if isinstance(exc, SystemExit):
        reason = f"SystemExit({exc.code!r})"
    else:
        reason = f"unhandled {type(exc).__name__}"
    fail(reason, exc, status)


def fail(reason: str, exc: BaseException, code: int = 1) -> NoReturn:
    """Report ``exc`` as the failure of this rank and end every rank with status ``code``.

    Ranks that fail only because another rank failed first (a ``ParallelError`` naming
    other ranks) wait briefly, so the rank where it started is the one that aborts.
    """
    text = error_record(exc)[2]
    if _none_hint is not None and isinstance(exc, (TypeError, AttributeError)):
        if "NoneType" in str(exc):
            text += f"hint: {_none_hint}\n"
    if _is_consequence(exc):
        time.sleep(CONSEQUENCE_GRACE)
    abort(reason, text, code, exc)


def leave_together(status: int) -> NoReturn:
    """End the program on this rank with ``status``, which every rank does at the same
    point (the ranks agreed on it): an exit status of the job, not a failure. The ranks
    then meet at the end of the program as usual, and MPI ends in order.

    Example::

        if transport.allreduce(int(stop_requested), "max", comm):
            leave_together(75)   # on every rank
    """
    global _leaving_together
    _leaving_together = SystemExit(status)
    raise _leaving_together


def hint_for_none(text: str | None) -> None:
    """Say ``text`` when an unhandled ``TypeError`` or ``AttributeError`` about ``None``
    ends this rank (None: say nothing). ``p.parallel.map`` sets it where it returned None.

    Example::

        hint_for_none("map at model.py:40 returned None on this rank: ...")
    """
    global _none_hint
    _none_hint = text


def call_inside(what: str, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, during which this rank ending in any way (``sys.exit`` or
    ``SystemExit`` with any status, ``os._exit``, ``h.quit()``) aborts the whole job at
    once, naming ``what``, and a fatal signal's stack names ``what``. Exceptions pass
    through. With one rank (nothing installed) it is ``fn(*args)``.

    Example::

        value = call_inside("p.parallel.map item 7", fn, item)
    """
    global _inside
    if _runtime is None:
        return fn(*args)
    outer, _inside = _inside, what
    try:
        return crash.call_named(what, fn, *args)  # the stacks of a crash name the rank
    except SystemExit as exc:
        status = exit_status(exc) or 1
        if _requested_exit is not None:  # sys.exit(), exit(): say so, with where it was
            code, stack = _requested_exit
            abort(f"sys.exit({code!r}) inside {what}", stack, status, exc)
        fail(f"SystemExit({exc.code!r}) inside {what}", exc, status)
    finally:
        _inside = outer


def abort(reason: str, detail: str, code: int, exc: BaseException | None = None) -> NoReturn:
    """Print ``detail`` tagged with this rank, record it, and end every rank with ``code``.

    ``code`` is kept in 1..255: exit statuses are taken modulo 256, and 0 would read as
    success.
    """
    global _aborting
    _aborting = True
    code = min(max(int(code), 1), 255)
    rank, size = _runtime.rank, _runtime.size
    write_record(
        rank, size, reason, detail, code,
        type(exc).__name__ if exc is not None else reason, str(exc) if exc is not None else "",
    )  # fmt: skip
    prefix = rank_tag(rank, size)
    lines = detail.rstrip("\n").splitlines()
    message = f"{prefix} parnrn: rank {rank} failed: {reason}; aborting all {size} ranks\n"
    for stream in (sys.stdout, sys.stderr):
        try:  # output the user printed must not be lost to os._exit
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    try:
        os.write(2, (message + "".join(f"{prefix} {line}\n" for line in lines)).encode())
    except OSError:  # no stderr left: the record and the exit status still tell
        pass
    time.sleep(OUTPUT_GRACE)
    MPI = _runtime.MPI
    if not MPI.Is_finalized():
        MPI.COMM_WORLD.Abort(code)
    # Abort returns at once and this rank would keep running until killed.
    _real_os_exit(code)


def _is_consequence(exc: BaseException) -> bool:
    """Whether ``exc`` only reports that another rank failed or ended early."""
    if isinstance(exc, CollectiveMismatchError):
        ended_elsewhere = [rank for rank, (op, *_) in exc.where.items() if op == "exit"]
        return any(rank != _runtime.rank for rank in ended_elsewhere)
    return (
        isinstance(exc, ParallelError) and bool(exc.failures) and _runtime.rank not in exc.failures
    )


def _excepthook(exc_type: type, exc: BaseException, tb: Any) -> None:
    if os.getpid() != _pid:  # a forked child is not a rank
        (_users_excepthook or sys.__excepthook__)(exc_type, exc, tb)
        return
    if _users_excepthook is not None:
        try:
            _users_excepthook(exc_type, exc, tb)
        except Exception as hook_error:  # the job must still end, and say why
            sys.stderr.write(f"parnrn: the script's sys.excepthook failed: {hook_error!r}\n")
    fail(f"unhandled {exc_type.__name__}", exc.with_traceback(tb), exit_status(exc))


def _thread_excepthook(args: Any) -> None:
    """An uncaught ``RankLostError`` in any thread ends the job: the other ranks wait for
    this one in a collective it can no longer make. Other exceptions in threads are
    reported as Python reports them, and the program goes on."""
    if os.getpid() == _pid and isinstance(args.exc_value, RankLostError):
        reason = f"unhandled RankLostError in thread {args.thread.name!r}"
        fail(reason, args.exc_value.with_traceback(args.exc_traceback))
    _threads_excepthook(args)


def _stack(frame: Any) -> str:
    """The Python stack ending at ``frame``, as a traceback prints it."""
    import traceback  # here: only an exit pays for it, not every `import parnrn`

    return "".join(traceback.format_stack(frame))


def _remember_exit(status: Any) -> None:
    global _requested_exit
    _requested_exit = (status, _stack(sys._getframe(2)))


def _sys_exit(status: Any = None) -> NoReturn:
    _remember_exit(status)
    _real_sys_exit(status)


class _Quitter:
    """``exit`` and ``quit`` as the site module makes them, remembering the status."""

    def __init__(self, quitter: Any):
        self._quitter = quitter

    def __repr__(self) -> str:
        return repr(self._quitter)

    def __call__(self, code: Any = None) -> NoReturn:
        _remember_exit(code)
        self._quitter(code)


def _os_exit(code: int) -> NoReturn:
    if os.getpid() != _pid or _aborting:
        _real_os_exit(code)
    stack = _stack(sys._getframe(1))
    if code:
        abort(f"os._exit({code})" + (f" inside {_inside}" if _inside else ""), stack, code)
    _agree_on_exit("os._exit(0)", stack)
    _real_os_exit(0)


def _at_exit() -> None:
    if os.getpid() != _pid:
        return
    uncaught = _exception_of_another_hook()
    if uncaught is not None:
        reason = (
            f"unhandled {type(uncaught).__name__} (reported by the script's own "
            f"sys.excepthook, set after parnrn's)"
        )
        fail(reason, uncaught, exit_status(uncaught))
    if _requested_exit is not None:
        status, stack = _requested_exit
        code = exit_status(SystemExit(status))
        if code:
            abort(f"sys.exit({status!r})", stack, code, SystemExit(status))
        _agree_on_exit(f"sys.exit({status!r})", stack)
    elif _end_known:
        _agree_on_exit("the end of the program", "")
    else:
        # An uncaught `raise SystemExit(code)` ends here too, its code already discarded by
        # the interpreter: plain `python` gives no way to tell it from the script's end.
        _agree_on_exit(
            "the end of the program (or an uncaught SystemExit, whose status only "
            "`python -m parnrn` can report)",
            "",
        )


def _exception_of_another_hook() -> BaseException | None:
    """The uncaught exception that ended the program, when a ``sys.excepthook`` set after
    parnrn's own took it (parnrn's would have ended the job already): the interpreter
    keeps it in ``sys.last_exc`` (``sys.last_value`` before Python 3.12). None while
    parnrn's hook is in place (a test runner sets those for a failed test it reported),
    or in an interactive session, which goes on after an error."""
    if sys.excepthook is _excepthook or hasattr(sys, "ps1"):
        return None
    return getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)


def _at_mpi_finalize(comm: Any, keyval: Any, value: Any) -> None:
    if os.getpid() == _pid:
        how = "MPI_Finalize called by NEURON (pc.done() on the workers, or h.quit())"
        _agree_on_exit(how, _stack(sys._getframe(1)))


def _agree_on_exit(how: str, stack: str) -> None:
    """Every rank must reach its end: a parnrn collective named ``exit``, once.

    A rank waiting here for a late rank asks it, every ``settings.exit_patience``
    seconds, whether it is still working (``liveness``); one that cannot answer is stuck
    and ends the job, named.
    """
    global _exit_agreed
    if _inside is not None:
        abort(f"{how} inside {_inside}", stack, 1)
    if _exit_agreed or _runtime.MPI.Is_finalized():
        return
    _exit_agreed = True
    MPI, control = _runtime.MPI, _runtime.control

    def wait(request: Any) -> None:
        liveness.wait_at_exit(request, _pulse, MPI, control)

    try:
        guard.agree(_runtime.data, "exit", site=how, wait=wait)
    except CollectiveTimeoutError as exc:  # a caught timeout: this rank gave up on the ranks
        reason = f"reached {how} out of step with the other ranks"
        abort(reason, f"{stack}{_untagged(str(exc))}", 1, exc)
    except ParallelError as exc:
        reason = f"reached {how} while other ranks had not (they would wait for it forever)"
        abort(reason, f"{stack}{_untagged(str(exc))}", 1, exc)
    except liveness.StuckRanks as stuck:
        ranks = ", ".join(map(str, stuck.ranks))
        reason = (
            f"reached {how}, but rank(s) {ranks} did not and, after {stuck.waited:.0f} s, do "
            f"not answer: stuck in code that holds the GIL, most likely a NEURON collective "
            f"(pc.barrier, psolve, py_alltoall, ...) waiting for ranks that have ended"
        )
        abort(reason, stack, 1)
    finally:
        if _pulse is not None:
            _pulse.stop()


def _untagged(text: str) -> str:
    """``text`` without this rank's own ``[rank r/N]`` prefix (``abort`` adds it)."""
    return text.removeprefix(f"{rank_tag(_runtime.rank, _runtime.size)} ")
