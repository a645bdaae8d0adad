"""Checkpoint and restore a running network with NEURON's own ``BBSaveState``, on any
number of ranks.

``BBSaveState.save_test`` writes the state of each gid's cell into
``bbss_out/tmp.<gid>.<rank>`` (and ``t`` into ``bbss_out/tmp``) under the working
directory; ``restore_test`` reads ``in/tmp.<gid>``, each beginning with the number of
pieces of the cell, on whatever rank owns the gid then. ``save`` runs the first inside a
staging directory and leaves it in the second's layout, so that ``restore`` reads it as
it is, on any number of ranks and any distribution of the gids. Beside it: a manifest
(time, settings, the random seed, rank count, each gid's fingerprint) checked before NEURON reads
anything, and the spikes recorded so far. The directory appears under its name only when
every rank has written its part (a rename), so a failure leaves no half checkpoint.

BBSaveState finds a gid's sections through the cell object that owns them: every section
must be made with ``Section(name=..., cell=obj)`` (or belong to a hoc template), or NEURON
fails (a segfault for a gid's source section without a cell). ``save`` checks that first
and names the sections. NEURON cannot save a ``PatternStim``'s replay position, nor a
``VecStim``'s; ``save`` refuses both.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import sys
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from .. import failfast, transport
from ..errors import ParallelError
from ..failfast.watchdog import watchdog
from ..ranks import rank_tag
from ..settings import settings
from . import run
from .network import Network

MANIFEST = "manifest.json"
_FORMAT = 1  # the layout of a checkpoint directory
_LISTED = 8  # problems spelled out in a message; the rest are counted
_REPLAYS = ("PatternStim", "VecStim")  # replay state BBSaveState does not save
# The exit status of a job that stopped on the checkpoint signal: EX_TEMPFAIL, "try again".
CHECKPOINT_EXIT = 75
# Pieces a checkpointed run is cut into at least, to act on the signal within 1 % of it.
_PIECES = 100


def save(network: Network, h: Any, comm: Any, path: str, replace: bool = False) -> None:
    """Write the checkpoint ``path`` of the network at the current ``t``. Collective.

    Raised on every rank: ``ValueError`` before the first run, ``FileExistsError`` for an
    existing ``path`` (unless ``replace``), ``ParallelError`` for a model BBSaveState
    cannot save (sections without a cell, replayed stimuli), naming what; any rank's
    failure while writing, after which ``path`` is what it was before.
    """
    path = os.path.abspath(os.fspath(path))
    rank = 0 if comm is None else comm.Get_rank()
    with transport.collective(comm):
        if not network.initialized:
            raise ValueError(
                f"{rank_tag()} checkpoint {path}: nothing has run yet; checkpoint after "
                f"p.parallel.run"
            )
        if os.path.exists(path) and not replace:
            raise FileExistsError(f"{rank_tag()} checkpoint {path} exists; remove it first")
        _check_savable(network, h, path)
        fingerprints = _fingerprints(network, h)
    staging = _broadcast(f"{path}.partial-{os.getpid()}" if rank == 0 else None, comm)
    try:
        with transport.collective(comm):
            if rank == 0:
                os.makedirs(os.path.join(staging, "in"))
                os.makedirs(os.path.join(staging, "spikes"))
        with transport.collective(comm):
            _save_cells(h, staging, rank)
            times, gids = network.records.local()
            np.savez(os.path.join(staging, "spikes", f"rank{rank}.npz"), times=times, gids=gids)
        manifest = _manifest(h, comm, fingerprints)
        with transport.collective(comm):
            if rank == 0:
                with open(os.path.join(staging, MANIFEST), "w") as file:
                    json.dump(manifest, file)
                os.rmdir(os.path.join(staging, "bbss_out"))  # emptied by every rank
                _rename_over(staging, path)
    except BaseException:
        if rank == 0:
            shutil.rmtree(staging, ignore_errors=True)
        raise


def restore(network: Network, h: Any, pc: Any, comm: Any, path: str) -> float:
    """Restore the checkpoint ``path`` into the network built since (the same model, on
    any number of ranks); returns its time. Collective.

    Raised on every rank, before NEURON reads anything: ``FileNotFoundError`` for a
    missing checkpoint, ``ValueError`` after a run (restore a model before running it),
    ``ParallelError`` naming each difference between the model and the checkpoint (a
    missing or extra gid, another section count, other mechanisms or connections, another
    ``dt``).
    """
    path = os.path.abspath(os.fspath(path))
    with transport.collective(comm):
        if network.initialized:
            raise ValueError(
                f"{rank_tag()} restore {path}: this network has already run; restore right "
                f"after building it (p.parallel.gid_clear() starts a new one)"
            )
        manifest = _read_manifest(path)
        differences = _settings_differ(h, manifest) + _cells_differ(network, h, manifest)
    _raise_differences(path, differences, network, manifest, comm)
    run.prepare(network, h, pc, comm)
    run.finitialize(network, h)
    with transport.collective(comm):
        saver = h.BBSaveState()
        with _working_in(path), watchdog("restore"):
            saver.restore_test()
        saver.vector_play_init()  # Vector.play goes on from the restored time
        h.frecord_init()  # and Vector.record
        network.records.earlier = _earlier_spikes(path, network)
    network.restored_at = h.t
    return float(h.t)


def _broadcast(value: Any, comm: Any) -> Any:
    return value if comm is None or comm.Get_size() == 1 else transport.broadcast(value, 0, comm)


@contextmanager
def _working_in(directory: str) -> Iterator[None]:
    """BBSaveState reads and writes under the working directory: move there meanwhile."""
    here = os.getcwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(here)


def _save_cells(h: Any, staging: str, rank: int) -> None:
    """This rank's cells in ``staging/in``, in restore_test's layout: each gid's file
    with its piece count (1: whole cells) first; rank 0 writes the time."""
    with _working_in(staging), watchdog("checkpoint"):
        h.BBSaveState().save_test()  # a barrier inside: every rank calls it
    written = os.path.join(staging, "bbss_out")
    if rank == 0:
        os.replace(os.path.join(written, "tmp"), os.path.join(staging, "in", "tmp"))
    suffix = f".{rank}"
    for name in os.listdir(written):
        if name.startswith("tmp.") and name.endswith(suffix) and name.count(".") == 2:
            gid = name.split(".")[1]
            source = os.path.join(written, name)
            with open(source) as cell, open(os.path.join(staging, "in", f"tmp.{gid}"), "w") as out:
                out.write("1\n")
                shutil.copyfileobj(cell, out)
            os.remove(source)


def _rename_over(staging: str, path: str) -> None:
    """Put ``staging`` under ``path``, replacing an earlier checkpoint there only once the
    new one is in place under its own name."""
    if not os.path.exists(path):
        os.rename(staging, path)
        return
    old = f"{path}.old-{os.getpid()}"
    os.rename(path, old)
    os.rename(staging, path)
    shutil.rmtree(old, ignore_errors=True)


def _check_savable(network: Network, h: Any, path: str) -> None:
    """Raise ``ParallelError`` naming what BBSaveState cannot save on this rank."""
    homeless = [sec.name() for sec in h.allsec() if sec.cell() is None]
    if homeless:
        shown = ", ".join(homeless[:_LISTED]) + (", ..." if len(homeless) > _LISTED else "")
        raise ParallelError(
            f"{rank_tag()} checkpoint {path}: {len(homeless)} section(s) on this rank belong to "
            f"no cell ({shown}); NEURON's BBSaveState saves a gid's state through the cell "
            f"object that owns its sections. Make each with h.Section(name='soma', "
            f"cell=self) inside a cell class (the names unique within the cell)"
        )
    for kind in _REPLAYS:
        count = int(h.List(kind).count()) if hasattr(h, kind) else 0
        if count:
            raise ParallelError(
                f"{rank_tag()} checkpoint {path}: {count} {kind}(s) on this rank replay "
                f"spike times, and NEURON's BBSaveState keeps no replay position: after a "
                f"restore they would replay from the start. Drive the model with NetStims "
                f"(Random123 streams are saved), or run it in one piece"
            )


def _fingerprints(network: Network, h: Any) -> dict[str, dict[str, Any]]:
    """Each gid's cell on this rank, as the manifest records it: its sections,
    segments, mechanisms, point processes and the NetCons that target it."""
    sections_of: dict[int, list[Any]] = defaultdict(list)
    for sec in h.allsec():
        sections_of[id(sec.cell())].append(sec)
    targets: Counter[int] = Counter()
    for netcon in h.List("NetCon"):
        target = netcon.syn()
        if target is not None:
            targets[id(_cell_of(target))] += 1
    prints = {}
    for gid, (_, source) in network.transmitters.items():
        cell = _cell_of(source)
        sections = sections_of.get(id(cell), [])
        mechanisms: set[str] = set()
        points: Counter[str] = Counter()
        for sec in sections:
            for seg in sec:
                mechanisms.update(mech.name() for mech in seg)
                points.update(_kind(pp) for pp in seg.point_processes())
        if not sections:  # an artificial cell: the point process is the cell
            points[_kind(cell)] += 1
        prints[str(gid)] = {
            "sections": len(sections),
            "segments": sum(sec.nseg for sec in sections),
            "mechanisms": sorted(mechanisms),
            "point_processes": dict(sorted(points.items())),
            "netcons_in": targets[id(cell)],
        }
    return prints


def _cell_of(thing: Any) -> Any:
    """The object BBSaveState knows a gid's cell by: the cell owning a section or a
    segment, or a point process (an artificial cell) itself."""
    if hasattr(thing, "cell") and callable(thing.cell):  # a Section
        return thing.cell()
    sec = getattr(thing, "sec", None)  # a segment
    if sec is not None:
        return sec.cell()
    get_segment = getattr(thing, "get_segment", None)  # a point process
    if get_segment is not None:
        segment = get_segment()
        if segment is not None:
            return segment.sec.cell()
    return thing


def _kind(point_process: Any) -> str:
    return point_process.hname().split("[")[0]


def _manifest(h: Any, comm: Any, fingerprints: dict[str, Any]) -> dict[str, Any] | None:
    """The manifest on rank 0 (every rank's fingerprints gathered there); None elsewhere."""
    if comm is None or comm.Get_size() == 1:
        parts = [fingerprints]
    else:
        parts = transport.gather(fingerprints, 0, comm)
        if parts is None:
            return None
    cells = {gid: prints for part in parts for gid, prints in part.items()}
    return {
        "format": _FORMAT,
        "t": float(h.t),
        "ranks": 1 if comm is None else comm.Get_size(),
        "settings": _settings(h),
        "cells": dict(sorted(cells.items(), key=lambda item: int(item[0]))),
    }


def _settings(h: Any) -> dict[str, Any]:
    """What the continued run depends on beside the cells' state."""
    return {
        "dt": float(h.dt),
        "celsius": float(h.celsius),
        "secondorder": int(h.secondorder),
        "cvode": int(h.CVode().active()),
        "seed": settings.seed,  # the model's random streams are keyed by it
    }


def _read_manifest(path: str) -> dict[str, Any]:
    manifest_path = os.path.join(path, MANIFEST)
    if not os.path.exists(manifest_path):
        what = "no checkpoint" if not os.path.exists(path) else f"no {MANIFEST} in it"
        raise FileNotFoundError(f"{rank_tag()} restore {path}: {what}")
    with open(manifest_path) as file:
        manifest = json.load(file)
    if manifest.get("format") != _FORMAT:
        raise ValueError(
            f"{rank_tag()} restore {path}: checkpoint format {manifest.get('format')!r}, "
            f"this parnrn reads format {_FORMAT}"
        )
    return manifest


def _settings_differ(h: Any, manifest: dict[str, Any]) -> list[str]:
    saved, now = manifest["settings"], _settings(h)
    return [
        f"{name} is {now[name]:g} in the model, {saved[name]:g} in the checkpoint"
        for name in saved
        if not math.isclose(now[name], saved[name], rel_tol=1e-12, abs_tol=0)
    ]


def _cells_differ(network: Network, h: Any, manifest: dict[str, Any]) -> list[str]:
    """How this rank's cells differ from the checkpoint's (missing gids are counted
    across the ranks by ``_raise_differences``)."""
    saved = manifest["cells"]
    differences = []
    for gid, prints in _fingerprints(network, h).items():
        if gid not in saved:
            differences.append(f"gid {gid} is in the model but not in the checkpoint")
            continue
        for key, value in prints.items():
            if saved[gid][key] != value:
                differences.append(
                    f"gid {gid} has {key} {_shown(value)} in the model, "
                    f"{_shown(saved[gid][key])} in the checkpoint"
                )
    return differences


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(value) + "]"
    return str(value)


def _raise_differences(
    path: str, differences: list[str], network: Network, manifest: dict, comm: Any
) -> None:
    """Raise one ``ParallelError`` on every rank listing every rank's differences and the
    gids of the checkpoint that no rank has built; nothing when the model matches."""
    parallel = comm is not None and comm.Get_size() > 1
    built = len(network.transmitters)
    if parallel:
        built = transport.allreduce(built, "sum", comm)
        if not transport.allreduce(len(differences), "max", comm) and built == len(
            manifest["cells"]
        ):
            return
        found = transport.allgather(differences[:_LISTED], comm)
        owned = transport.allgather(list(network.transmitters), comm)
    else:
        found, owned = [differences[:_LISTED]], [list(network.transmitters)]
    lines = [line for part in found for line in part]
    missing = sorted(set(map(int, manifest["cells"])) - {int(g) for part in owned for g in part})
    if missing:
        shown = ", ".join(map(str, missing[:_LISTED])) + (", ..." if len(missing) > _LISTED else "")
        lines.insert(0, f"{len(missing)} gid(s) of the checkpoint are in no rank's model: {shown}")
    if lines:
        raise ParallelError(
            f"{rank_tag()} restore {path}: the model built is not the one checkpointed:\n  "
            + "\n  ".join(lines)
        )


def _earlier_spikes(path: str, network: Network) -> tuple[np.ndarray, np.ndarray]:
    """The spikes recorded before the checkpoint by the gids this rank owns now."""
    folder = os.path.join(path, "spikes")
    mine = np.fromiter(network.transmitters, dtype=np.float64, count=len(network.transmitters))
    times, gids = [np.empty(0)], [np.empty(0)]
    for name in sorted(os.listdir(folder)):
        with np.load(os.path.join(folder, name)) as saved:
            keep = np.isin(saved["gids"], mine)
            times.append(saved["times"][keep])
            gids.append(saved["gids"][keep])
    return np.concatenate(times), np.concatenate(gids)


def run_saving(
    run_to: Callable[[float], None],
    network: Network,
    h: Any,
    comm: Any,
    tstop: float,
    path: str,
    every: float | None,
) -> None:
    """Run to ``tstop`` with ``run_to(stop)`` in pieces, writing the checkpoint ``path``
    every ``every`` ms (None: only on the signal). When ``settings.checkpoint_signal``
    arrives on any rank, the ranks stop together at the end of the current piece, write
    the checkpoint, say so on rank 0 and end the job with status ``CHECKPOINT_EXIT``.
    Collective."""
    if every is not None and not (
        isinstance(every, (int, float)) and math.isfinite(every) and every > 0
    ):
        raise ValueError(f"{rank_tag()} run: every must be a number of ms above 0, not {every!r}")
    start = h.t if network.initialized else 0.0
    piece = max(min(every or math.inf, (tstop - start) / _PIECES), h.dt)
    next_save = start + every if every else math.inf
    parallel = comm is not None and comm.Get_size() > 1
    with _stop_requests(settings.checkpoint_signal) as requested:
        for stop in run.piece_stops(start, tstop, piece, h.dt) or [tstop]:
            run_to(stop)
            asked = requested()
            if parallel:
                asked = transport.allreduce(asked, "max", comm)
            if asked:
                save(network, h, comm, path, replace=True)
                _say_stopped(asked, path, h.t, tstop, comm)
                failfast.leave_together(CHECKPOINT_EXIT)
            if h.t >= next_save - h.dt / 2:
                save(network, h, comm, path, replace=True)
                while next_save <= h.t + h.dt / 2:
                    next_save += every


@contextmanager
def _stop_requests(name: str) -> Iterator[Callable[[], int]]:
    """While inside, the signal ``name`` is remembered instead of acting; yields a
    function returning the signal's number once it arrived (0 before)."""
    if name == "none" or threading.current_thread() is not threading.main_thread():
        yield lambda: 0
        return
    signum = getattr(signal, name)
    caught: list[int] = []
    previous = signal.signal(signum, lambda number, frame: caught.append(number))
    try:
        yield lambda: caught[0] if caught else 0
    finally:
        signal.signal(signum, previous)


def _say_stopped(signum: int, path: str, t: float, tstop: float, comm: Any) -> None:
    if comm is not None and comm.Get_rank() != 0:
        return
    name = signal.Signals(signum).name
    message = (
        f"{rank_tag()} parnrn: {name} received: the run stopped at t = {t:g} ms of {tstop:g} "
        f"and wrote the checkpoint {path}; the job ends with status {CHECKPOINT_EXIT}. To "
        f"continue, build the model, then p.parallel.restore({path!r}, missing_ok=True) "
        f"and run again"
    )
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
