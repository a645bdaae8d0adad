"""Adapting NEURON objects for connections: what to watch for spikes, what to connect to.

Sources and targets may be raw NEURON objects or wrappers exposing ``__netcon__`` /
``__neuron__`` (nrn-patch objects), so code written for nrn-patch runs unchanged. This
module only adapts objects; ``ParallelCon`` itself lives beside the ``ParallelContext``
it registers with (``parallel.py``).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from neuron import hoc, nrn

from ..errors import ParallelConnectError
from ..ranks import rank_tag

HocObject = hoc.HocObject
_Segment = nrn.Segment
_Section = nrn.Section


def is_gid(value: Any) -> bool:
    """Whether ``value`` is an integer gid (Python or numpy integer, not a bool)."""
    # issubclass on the type: isinstance would ask a HocObject for its __class__ (slow).
    kind = type(value)
    return kind is int or (issubclass(kind, (int, np.integer)) and kind is not bool)


def stands_for_gid(value: Any) -> bool:
    """Whether ``value``, where no integer was given, can only have been meant as a gid:
    a number or a string (``1.5``, ``"3"``), which no NEURON source or target is;
    ``as_gid`` then accepts it or says why not."""
    kind = type(value)
    return kind is not bool and issubclass(kind, (numbers.Number, str, bytes))


def unwrap(obj: Any) -> Any:
    """The NEURON object behind ``obj``: itself, or ``obj.__neuron__()`` for wrappers."""
    if issubclass(type(obj), (HocObject, _Segment, _Section)):
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
    if issubclass(kind, HocObject):
        return source, {}
    to_netcon = getattr(source, "__netcon__", None)
    if to_netcon is not None:
        return netcon_source(to_netcon())
    to_neuron = getattr(source, "__neuron__", None)
    if to_neuron is not None:
        return netcon_source(to_neuron())
    raise ParallelConnectError(
        f"{rank_tag()} cannot watch {source!r} for spikes: give a section, a segment, a point "
        f"process or artificial cell, a NetCon, or an object with __netcon__ or __neuron__"
    )


def spike_detector(
    gid: int,
    source: Any,
    NetCon: Any,
    threshold: float | None,
    options: dict[str, Any],
    new_threshold: float | None = None,
) -> Any:
    """The NetCon that detects the spikes of ``gid``: ``source`` itself if it is one
    (its threshold kept unless ``threshold`` is given), else a new NetCon watching it
    (threshold ``threshold``, else ``new_threshold``, else NEURON's default).
    ``options`` may hold ``sec``, ``weight`` and ``delay``; anything else is refused."""
    nc = unwrap(source)
    sec = options.pop("sec", None)
    if not issubclass(type(nc), NetCon):
        threshold = new_threshold if threshold is None else threshold
        watched, where = netcon_source(nc)
        if sec is not None:
            where = {"sec": unwrap(sec)}
        try:
            nc = NetCon(watched, None, **where)
        except (RuntimeError, TypeError, ValueError) as exc:
            raise ParallelConnectError(
                f"{rank_tag()} gid {gid}: NEURON cannot watch {source!r} for spikes: {exc}"
            ) from exc
    if threshold is not None:
        nc.threshold = threshold
    weight, delay = options.pop("weight", None), options.pop("delay", None)
    if weight is not None:
        set_weights(nc, weight)
    if delay is not None:
        nc.delay = delay
    if options:
        raise ParallelConnectError(
            f"{rank_tag()} gid {gid}: unknown NetCon options {sorted(options)}"
        )
    return nc


def set_weights(nc: Any, weight: Any) -> None:
    """Set ``nc``'s weight: a number, or one weight per NET_RECEIVE argument."""
    for i, w in enumerate(np.ravel(weight).tolist()):
        nc.weight[i] = w
