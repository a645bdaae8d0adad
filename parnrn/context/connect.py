"""ParallelCon: one call for each end of a connection between ranks.

``ParallelCon(source, gid)`` is a transmitter (``set_gid2node`` + ``cell`` with output)
and ``ParallelCon(gid, target)`` a receiver (``gid_connect`` + weight and delay). Which one
is decided by which argument is the integer gid. Sources and targets may be raw NEURON
objects or wrappers exposing ``__netcon__`` / ``__neuron__`` (nrn-patch objects), so code
written for nrn-patch runs unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from neuron import hoc, nrn

from ..errors import ParallelConnectError
from .gids import tag

_HocObject = hoc.HocObject
_Segment = nrn.Segment
_Section = nrn.Section


def is_gid(value: Any) -> bool:
    """Whether ``value`` is an integer gid (Python or numpy integer, not a bool)."""
    # issubclass on the type: isinstance would ask a HocObject for its __class__ (slow).
    kind = type(value)
    return kind is int or (issubclass(kind, (int, np.integer)) and kind is not bool)


def unwrap(obj: Any) -> Any:
    """The NEURON object behind ``obj``: itself, or ``obj.__neuron__()`` for wrappers."""
    if issubclass(type(obj), (_HocObject, _Segment, _Section)):
        return obj
    to_neuron = getattr(obj, "__neuron__", None)
    return to_neuron() if to_neuron is not None else obj


def netcon_source(source: Any) -> tuple[Any, dict[str, Any]]:
    """What ``h.NetCon`` should watch for ``source``, and the ``sec=`` it needs.

    Segments watch their ``_ref_v``; sections their middle segment; point processes and
    artificial cells are watched directly; wrappers give ``__netcon__()`` (else
    ``__neuron__()``).
    """
    kind = type(source)
    if kind is _Segment:
        return source._ref_v, {"sec": source.sec}
    if kind is _Section:
        return source(0.5)._ref_v, {"sec": source}
    if issubclass(kind, _HocObject):
        return source, {}
    to_netcon = getattr(source, "__netcon__", None)
    if to_netcon is not None:
        return netcon_source(to_netcon())
    to_neuron = getattr(source, "__neuron__", None)
    if to_neuron is not None:
        return netcon_source(to_neuron())
    raise ParallelConnectError(
        f"{tag()} cannot watch {source!r} for spikes: give a section, a segment, a point "
        f"process or artificial cell, a NetCon, or an object with __netcon__ or __neuron__"
    )


def ParallelCon(a: Any, b: Any, output: bool = True, **netcon_kw: Any) -> Any:
    """Connect across ranks; exactly one of ``a``, ``b`` is an integer gid.

    - ``ParallelCon(source, gid, output=True, threshold=-20, **netcon_kw)``: this rank owns
      ``gid`` and sends the spikes ``source`` fires (a transmitter).
    - ``ParallelCon(gid, target, weight=..., delay=...)``: ``target`` receives the spikes of
      ``gid``, wherever it lives (a receiver). The receiving NetCon's threshold is never
      set: that would change the shared source (NEURON issue #2135).

    Returns the NetCon. Example::

        p.ParallelCon(soma, gid)                                   # transmit
        p.ParallelCon(gid - 1, synapse, weight=0.05, delay=1)      # receive
    """
    parallel = _parallel or _context()
    a_gid, b_gid = is_gid(a), is_gid(b)
    if a_gid and not b_gid:
        if "threshold" in netcon_kw:
            raise ParallelConnectError(
                f"{tag()} a receiving ParallelCon cannot set a threshold: it would change the "
                f"shared source of gid {a} (NEURON issue #2135); set it on the transmitter"
            )
        return parallel.gid_connect(a, b, **netcon_kw)
    if b_gid and not a_gid:
        threshold = netcon_kw.pop("threshold", -20)
        return parallel.register(b, a, threshold=threshold, output=output, **netcon_kw)
    raise ParallelConnectError(
        f"{tag()} ParallelCon needs exactly one integer gid, as ParallelCon(source, gid) "
        f"or ParallelCon(gid, target); got {type(a).__name__} and {type(b).__name__}"
    )


_parallel: Any = None


def _context() -> Any:
    """The process's ParallelContext wrapper (imported late: it imports this module)."""
    global _parallel
    if _parallel is None:
        from .parallel import ParallelContext

        _parallel = ParallelContext()
    return _parallel
