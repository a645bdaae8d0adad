"""Rank-aware agreement for every parnrn collective.

Each collective starts with one fixed-size exchange of *headers*, one per rank, all ranks
calling the same MPI operation whatever parnrn collective they are in. A header carries:

- the call fingerprint: operation (crc32 of its name), root and a per-communicator
  sequence number, so that mismatched calls are detected (``CollectiveMismatchError``)
  instead of hanging or mixing data;
- the rank's status: whether its local step (e.g. serialization) failed;
- sizes, and small payloads inline, so that small collectives need no second message.

When anything is off, every rank takes the same slow path: an ``allgather`` of
descriptions (operation, call site, exception) and the same exception raised everywhere.
``agree`` is the trailing status exchange for failures after the data moved.

The header exchange is always a non-blocking ``Iallgather``, polled (spinning, then with
a backoff), so that Python handles signals while a rank waits. With a timeout configured,
on expiry the waiting ranks tell each other where they are over the control communicator
and raise ``CollectiveTimeoutError`` naming the ranks that never arrived.
"""

from __future__ import annotations

import os
import struct
import sys
import time
import zlib
from collections.abc import Callable
from typing import Any

from .. import runtime
from ..errors import (
    CollectiveMismatchError,
    CollectiveTimeoutError,
    ParallelError,
    describe_failures,
    error_record,
)
from ..ranks import rank_tag
from ..settings import settings

HEADER_SIZE = 256
# Fingerprint (op crc, root, seq) first so it compares as one slice; then status, flags,
# blob length, buffer count, inline length.
_FIXED = struct.Struct("<IiqBBxxqqi")
_FINGERPRINT = 16
_STATUS = 16
_FLAGS = 17
INLINE_CAPACITY = HEADER_SIZE - _FIXED.size

OK = 0
FAILED = 1
FLAG_PLAIN = 1

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TIMEOUT_TAG = 7001
_unfinished_requests: list[Any] = []


class Header:
    """One rank's header, decoded."""

    __slots__ = ("plain", "blob_len", "nbufs", "inline")

    def __init__(self, raw: memoryview, offset: int):
        _, _, _, _, flags, self.blob_len, self.nbufs, n = _FIXED.unpack_from(raw, offset)
        self.plain = bool(flags & FLAG_PLAIN)
        start = offset + _FIXED.size
        self.inline = raw[start : start + n]

    def whole_inline(self) -> bool:
        """Whether the blob travelled inside the header."""
        return len(self.inline) == self.blob_len


class Headers:
    """Every rank's header, decoded on demand: ``headers[r]``."""

    def __init__(self, raw: bytearray, size: int):
        self.raw = raw
        self.size = size
        self.decoded: dict[int, Header] = {}

    def __getitem__(self, rank: int) -> Header:
        header = self.decoded.get(rank)
        if header is None:
            header = self.decoded[rank] = Header(memoryview(self.raw), rank * HEADER_SIZE)
        return header

    def __iter__(self):
        return map(self.__getitem__, range(self.size))

    def all_plain(self) -> bool:
        return all(flags & FLAG_PLAIN for flags in self.raw[_FLAGS::HEADER_SIZE])


def call_site() -> str:
    """file:line of the first caller outside parnrn."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None:
        return "<unknown>"
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"


_op_codes: dict[str, int] = {}


def _op_code(op: str) -> int:
    code = _op_codes.get(op)
    if code is None:
        code = _op_codes[op] = zlib.crc32(op.encode())
    return code


class _CommState:
    """Per-communicator sequence number and reusable header buffers."""

    def __init__(self, comm: Any, seq: int = 0):
        self.size = comm.Get_size()
        self.seq = seq
        self.mine = bytearray(HEADER_SIZE)
        self.everyone = bytearray(HEADER_SIZE * self.size)
        self.starts = range(0, len(self.everyone), HEADER_SIZE)  # of each rank's header


_states: dict[int, _CommState] = {}


def _state(comm: Any) -> _CommState:
    state = _states.get(comm.handle)
    if state is None:
        state = _states[comm.handle] = _CommState(comm)
    return state


def exchange(
    comm: Any,
    op: str,
    root: int = -1,
    blob: bytes | memoryview = b"",
    nbufs: int = 0,
    plain: bool = True,
    error: BaseException | None = None,
    error_class: type[ParallelError] = ParallelError,
    site: str | None = None,
    wait: Callable[[Any], None] | None = None,
) -> Headers:
    """Exchange headers; raise the same exception on every rank if any rank failed or
    the ranks are not in the same call. ``blob`` goes inline when it fits; ``site``
    names this call in error messages (default: the first caller outside parnrn).
    ``wait``, when given, completes the non-blocking exchange instead of the configured
    timeout (the exit agreement waits by its own rules).

    The returned headers live in a buffer that the next exchange on ``comm`` reuses.
    """
    state = _state(comm)
    state.seq += 1
    seq = state.seq
    inline_len = len(blob) if len(blob) <= INLINE_CAPACITY else 0
    mine, everyone = state.mine, state.everyone
    _FIXED.pack_into(
        mine, 0, _op_code(op), root, seq, OK if error is None else FAILED,
        FLAG_PLAIN if plain else 0, len(blob), nbufs, inline_len,
    )  # fmt: skip
    if inline_len:
        mine[_FIXED.size : _FIXED.size + inline_len] = blob
    # Always the same non-blocking operation: MPI never matches a blocking collective with
    # a non-blocking one, and polling lets signals and the timeout act while waiting.
    request = comm.Iallgather(mine, everyone)
    if wait is not None:
        wait(request)
    else:
        _wait_or_time_out(comm, request, op, root, seq)
    # Fast path: every rank's fingerprint and status equal this rank's, with status OK.
    if settings.checks:
        expected = bytes(mine[: _STATUS + 1])
        agreed = error is None
        for start in state.starts:
            if not everyone.startswith(expected, start):
                agreed = False
                break
    else:
        agreed = not any(everyone[_STATUS::HEADER_SIZE])
    if not agreed:
        fingerprint = mine[:_FINGERPRINT]
        mismatch = settings.checks and any(
            not everyone.startswith(fingerprint, start) for start in state.starts
        )
        _raise_for_everyone(comm, op, root, seq, error, error_class, mismatch, site)
    return Headers(everyone, state.size)


def agree(
    comm: Any,
    op: str,
    error: BaseException | None,
    error_class: type[ParallelError],
    root: int = -1,
) -> None:
    """Trailing status exchange: if any rank failed after the data moved, all raise."""
    MPI = runtime.start().MPI
    flag = bytearray([error is not None])
    comm.Allreduce(MPI.IN_PLACE, [flag, MPI.UNSIGNED_CHAR], MPI.MAX)
    if flag[0]:
        _raise_for_everyone(comm, op, root, -1, error, error_class, False)


def _raise_for_everyone(
    comm: Any,
    op: str,
    root: int,
    seq: int,
    error: BaseException | None,
    error_class: type[ParallelError],
    mismatch: bool,
    site: str | None = None,
) -> None:
    record = error_record(error) if error is not None else None
    mine = (op, root, seq, site or call_site(), record)
    everyone = comm.allgather(mine)
    failures = {rank: rec for rank, (*_, rec) in enumerate(everyone) if rec}
    if mismatch:
        where = {rank: (name, r, s, at) for rank, (name, r, s, at, _) in enumerate(everyone)}
        text = "; ".join(
            f"rank {rank} in {name}(root={r}) #{s} at {at}"
            for rank, (name, r, s, at) in where.items()
        )
        raise CollectiveMismatchError(
            f"{rank_tag(comm.Get_rank(), comm.Get_size())} ranks entered different collectives: "
            f"{text}",
            failures,
            where,
        )
    message = f"{op} failed on {describe_failures(failures, root)}"
    raise error_class(
        f"{rank_tag(comm.Get_rank(), comm.Get_size())} {message}", failures
    ) from error


# How long a waiting rank polls without sleeping: MPI's own blocking waits busy-poll, and a
# sleep costs ~60 us of latency however short it is asked; after this it backs off.
_SPIN_SECONDS = 0.02


def _wait_or_time_out(comm: Any, request: Any, op: str, root: int, seq: int) -> None:
    """Complete ``request``, raising ``CollectiveTimeoutError`` after ``settings.timeout``.

    Polls without sleeping for ``_SPIN_SECONDS``, then sleeps between tests (backing off
    to 5 ms), so that a rank that waits long costs little CPU; Python handles signals
    (Ctrl-C) throughout.
    """
    if request.Test():
        return
    now = time.monotonic()
    spin_end = now + _SPIN_SECONDS
    deadline = None if settings.timeout is None else now + settings.timeout
    pause = 0.0
    while not request.Test():
        if pause:
            time.sleep(pause)
            pause = min(pause * 2, 0.005)
        now = time.monotonic()
        if now > spin_end and not pause:
            pause = 5e-5
        if deadline is not None and now > deadline:
            # The exchange stays posted and owns its buffers: later calls get new ones,
            # and the late ranks can still complete it.
            _unfinished_requests.append(request)
            _states[comm.handle] = _CommState(comm, seq)
            _raise_timeout(comm, op, root, seq)


def _raise_timeout(comm: Any, op: str, root: int, seq: int) -> None:
    """Tell the other waiting ranks where this rank waits; whoever stays silent for a
    grace period never arrived."""
    MPI, control = runtime.start().MPI, runtime.start().control
    rank, size = comm.Get_rank(), comm.Get_size()
    site = call_site()
    notice = (seq, op, root, site)
    # Kept alive for good: the missing ranks may never receive them.
    _unfinished_requests.extend(
        control.isend(notice, dest, _TIMEOUT_TAG) for dest in range(size) if dest != rank
    )
    waiting = {rank: (op, root, site)}
    grace_end = time.monotonic() + min(2.0, max(0.5, settings.timeout))
    status = MPI.Status()
    while time.monotonic() < grace_end and len(waiting) < size:
        if control.iprobe(MPI.ANY_SOURCE, _TIMEOUT_TAG, status):
            their_seq, their_op, their_root, their_site = control.recv(
                source=status.Get_source(), tag=_TIMEOUT_TAG
            )
            if their_seq == seq:
                waiting[status.Get_source()] = (their_op, their_root, their_site)
        else:
            time.sleep(0.005)
    missing = sorted(set(range(size)) - set(waiting))
    where = "; ".join(
        f"rank {r} waits in {o}(root={rt}) at {s}" for r, (o, rt, s) in sorted(waiting.items())
    )
    raise CollectiveTimeoutError(
        f"{rank_tag(rank, size)} {op} #{seq} timed out after {settings.timeout:g} s: "
        f"rank(s) {', '.join(map(str, missing)) or 'none'} never arrived; {where}",
        missing,
    )
