"""Cell cost for load balance: NEURON's complexity measure, costs per gid, the balance file.

A rank's run is as slow as its most loaded rank, so cells are handed out by cost, not by
count. The cost of a cell is NEURON's own ``LoadBalance.cell_complexity`` (loadbal.hoc),
computed here in Python so that it needs no hoc template and gives the same numbers: one
zero-area node per cell and per section, and per segment the complexity of each density
mechanism (by default 1 + its number of states; ions count 0, or 1 when their
concentrations are integrated), plus 1 + states for each point process. A measured
``mcomplex.dat`` (written by NEURON's ``LoadBalance.ExperimentalMechComplex``, normalised so
that ``hh`` is 5) replaces those defaults.

Costs are known before cells are built by measuring one prototype per cell type
(``cost_per_type``); they can be kept in a balance file (JSON, keyed by gid, versioned)
that a later run reads at any rank count. ``costs_for`` turns any of these into one cost
per gid, refusing a file or mapping whose gids are not the model's.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..ranks import rank_tag

BALANCE_FORMAT = "parnrn balance file"
BALANCE_VERSION = 1
# How many mismatching gids an error names.
MISMATCH_LIMIT = 5

# A cost: one number per gid (in gid order), a mapping gid -> cost, a function of the gid
# (a per-type cost, say), a loaded balance file or the path of one.
CostSpec = Any


@dataclass(frozen=True)
class Complexity:
    """Per-mechanism complexities, as ``LoadBalance`` keeps them (``m_complex_``,
    ``ion_complex_``): ``density`` by density mechanism name (``"morphology"`` standing for
    the zero-area node), ``ion_integrated`` for ions whose concentrations are integrated,
    ``point`` by point process name."""

    density: dict[str, float]
    ion_integrated: dict[str, float]
    point: dict[str, float]

    @property
    def zero_area_node(self) -> float:
        return self.density["morphology"]


def _mechanism_names(h: Any, kind: int) -> list[str]:
    mechanisms = h.MechanismType(kind)
    names = []
    for i in range(int(mechanisms.count())):
        mechanisms.select(i)
        name = h.ref("")
        mechanisms.selected(name)
        names.append(name[0])
    return names


# Tables already made, by mcomplex file (and its modification time) and numbers of
# mechanisms loaded: a mechanism library loaded later makes a new table.
_tables: dict[tuple[str, int, int, int], Complexity] = {}


def complexity(h: Any, mcomplex: str | os.PathLike | None = None) -> Complexity:
    """The complexity of every mechanism NEURON has loaded: ``LoadBalance``'s defaults, or
    those of a measured ``mcomplex`` file (``LoadBalance.read_mcomplex``).

    Example::

        complexity(h).density["hh"]  # 4.0: 1 + three states
    """
    changed = os.stat(mcomplex).st_mtime_ns if mcomplex else 0
    counts = int(h.MechanismType(0).count()), int(h.MechanismType(1).count())
    key = (str(mcomplex or ""), changed, *counts)
    if key not in _tables:
        _tables[key] = _complexity(h, mcomplex)
    return _tables[key]


def _complexity(h: Any, mcomplex: str | os.PathLike | None) -> Complexity:
    density, ion_integrated, point = {}, {}, {}
    mechanisms = h.MechanismType(0)
    for i, name in enumerate(_mechanism_names(h, 0)):
        mechanisms.select(i)
        if mechanisms.is_ion():
            density[name], ion_integrated[name] = 0.0, 1.0
        else:
            density[name] = 1.0 + h.MechanismStandard(name, 3).count()
    points = h.MechanismType(1)
    for i, name in enumerate(_mechanism_names(h, 1)):
        artificial = points.is_artificial(i)
        point[name] = 0.0 if artificial else 1.0 + h.MechanismStandard(name, 3).count()
    table = Complexity(density, ion_integrated, point)
    return table if mcomplex is None else _read_mcomplex(h, Path(mcomplex), table)


def _read_mcomplex(h: Any, path: Path, table: Complexity) -> Complexity:
    """``table`` with the values of an ``mcomplex.dat``: one ``value name`` line per density
    mechanism (the first named ``zero_area_node``), then per point process, then
    ``overhead``, then the integrated-concentration value of each ion."""
    lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
    density_names, point_names = _mechanism_names(h, 0), _mechanism_names(h, 1)
    expected = ["zero_area_node", *density_names[1:], *point_names, "overhead"]
    for index, name in enumerate(expected):
        found = lines[index][1] if index < len(lines) and len(lines[index]) > 1 else None
        if found != name:
            raise ValueError(
                f"{rank_tag()} {path} line {index + 1}: expected mechanism {name!r}, found "
                f"{found!r}: the file was measured with other mechanisms loaded"
            )
    values = [float(line[0]) for line in lines]
    density = dict(zip(density_names, values))
    point = dict(zip(point_names, values[len(density_names) :]))
    ion_integrated = dict(table.ion_integrated)
    for value, name, *_ in lines[len(expected) :]:
        if "_ion" in name:
            ion_integrated[name] = float(value)
    return Complexity(density, ion_integrated, point)


def section_cost(h: Any, sec: Any, table: Complexity) -> float:
    """One section's complexity (``LoadBalance.sec_complexity``)."""
    cost = table.zero_area_node
    for name, value in table.density.items():
        if name == "morphology" or not sec.has_membrane(name):
            continue
        integrated = table.ion_integrated.get(name, 0.0)
        if integrated > 0 and int(h.ion_style(name, sec=sec)) // 64 % 2:
            value = integrated
        cost += value * sec.nseg
    # Each point process counts once, in the section it was placed in (its node may be the
    # parent's, at x = 0).
    points = {
        point.hname(): point
        for seg in sec.allseg()
        for point in seg.point_processes()
        if point.get_segment().sec == sec
    }
    for name in points:
        cost += table.point[name.partition("[")[0]]
    return cost


def _trees(cell: Any) -> list[list[Any]]:
    """The section trees of ``cell``: a section's tree, the tree of the first section of
    ``cell.all`` (a hoc template or Python cell, as ``cell_complexity`` does), or the
    distinct trees of an iterable of sections."""
    from neuron import nrn  # here: distribute imports this module and needs no NEURON

    if isinstance(cell, nrn.Section):
        return [list(cell.wholetree())]
    try:
        sections = list(cell.all)[:1] if hasattr(cell, "all") else list(cell)
    except TypeError:
        raise TypeError(
            f"{rank_tag()} cannot find the sections of {cell!r}: give a Section, an iterable "
            f"of sections, or a cell with an 'all' list of its sections"
        ) from None
    trees, seen = [], set()
    for sec in sections:
        if not isinstance(sec, nrn.Section):
            raise TypeError(f"{rank_tag()} {sec!r} in the sections of {cell!r} is not a Section")
        if sec not in seen:
            tree = list(sec.wholetree())
            seen.update(tree)
            trees.append(tree)
    return trees


def cell_cost(h: Any, cell: Any, table: Complexity | None = None) -> float:
    """The cost of a built cell: NEURON's ``LoadBalance.cell_complexity``, summed over the
    cell's section trees. ``cell`` is a Section (its whole tree), a cell with an ``all``
    list of sections, or an iterable of sections.

    Example::

        cell_cost(h, soma)  # 19.0 for an hh soma of 3 segments with an ExpSyn
    """
    table = complexity(h) if table is None else table
    return sum(
        table.zero_area_node + sum(section_cost(h, sec, table) for sec in tree)
        for tree in _trees(cell)
    )


def cost_per_type(
    h: Any, builders: Mapping[str, Callable[[], Any]], table: Complexity | None = None
) -> dict[str, float]:
    """The cost of each cell type, measured on one prototype built by ``builders[type]()``
    and dropped afterwards; the builder returns the cell (see ``cell_cost``) and must not
    register gids. Every rank gets the same numbers: the measure counts, it does not time.

    Example::

        costs = cost_per_type(h, {"pyramidal": Pyramidal, "basket": Basket})
    """
    table = complexity(h) if table is None else table
    return {kind: cell_cost(h, build(), table) for kind, build in builders.items()}


@dataclass
class BalanceFile:
    """Costs by gid, as saved in and loaded from a balance file.

    Example::

        BalanceFile({0: 19.0, 1: 412.0}).save("balance.json")
        costs = BalanceFile.load("balance.json").costs
    """

    costs: dict[int, float]
    measure: str = "NEURON cell complexity (LoadBalance.cell_complexity)"
    path: Path | None = field(default=None, compare=False)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the file under a temporary name and rename it when complete."""
        path = Path(path)
        document = {
            "format": BALANCE_FORMAT,
            "version": BALANCE_VERSION,
            "measure": self.measure,
            "cells": len(self.costs),
            "total_cost": float(sum(self.costs.values())),
            "costs": {str(gid): float(self.costs[gid]) for gid in sorted(self.costs)},
        }
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        partial.write_text(json.dumps(document, indent=1) + "\n")
        os.replace(partial, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> BalanceFile:
        """Read a balance file; one of another format or version raises ``ValueError``."""
        path = Path(path)
        try:
            document = json.loads(path.read_text())
            if document.get("format") != BALANCE_FORMAT:
                raise ValueError(f"it is not a {BALANCE_FORMAT} (no 'format' field saying so)")
            if document.get("version") != BALANCE_VERSION:
                raise ValueError(
                    f"it is version {document.get('version')!r}; this parnrn reads version "
                    f"{BALANCE_VERSION}"
                )
            costs = {int(gid): float(cost) for gid, cost in document["costs"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{rank_tag()} cannot read balance file {path}: {exc}") from exc
        return cls(costs, document.get("measure", ""), path)


def costs_for(gids: np.ndarray, cost: CostSpec) -> np.ndarray:
    """One cost per gid of ``gids`` from ``cost``: a sequence in gid order, a mapping
    gid -> cost whose gids are exactly ``gids``, a function of the gid, a ``BalanceFile``
    or the path of one. Costs must be finite and non-negative.

    Example::

        costs_for(np.arange(4), lambda gid: 400.0 if gid % 2 else 20.0)
    """
    where = "cost"
    if isinstance(cost, (str, os.PathLike)):
        cost = BalanceFile.load(cost)
    if isinstance(cost, BalanceFile):
        where = f"balance file {cost.path}" if cost.path else "balance file"
        cost = cost.costs
    if isinstance(cost, Mapping):
        _refuse_mismatch(gids, cost, where)
        values = [cost[gid] for gid in gids.tolist()]
    elif callable(cost):
        values = [cost(gid) for gid in gids.tolist()]
    else:
        values = cost
    load = np.asarray(values, dtype=float).ravel()
    if load.shape != gids.shape:
        raise ValueError(f"{rank_tag()} got {load.size} costs for {gids.size} gids")
    bad = ~np.isfinite(load) | (load < 0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{rank_tag()} costs must be finite and non-negative: gid {int(gids[first])} "
            f"costs {float(load[first])!r}"
        )
    return load


def _refuse_mismatch(gids: np.ndarray, costs: Mapping[int, float], where: str) -> None:
    """Raise ``ValueError`` naming the first gids missing from ``costs`` and the first it
    has that the model does not."""
    model = set(gids.tolist())
    missing = sorted(model.difference(costs))
    extra = sorted(set(costs).difference(model))
    if not missing and not extra:
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} of the model's gids have no cost ({_first(missing)})")
    if extra:
        parts.append(f"{len(extra)} gids are not in the model ({_first(extra)})")
    raise ValueError(
        f"{rank_tag()} {where} does not match the model's {len(model)} gids: "
        + "; ".join(parts)
        + ". Measure the costs again for this model"
    )


def _first(gids: list[int]) -> str:
    shown = ", ".join(map(str, gids[:MISMATCH_LIMIT]))
    return f"first: {shown}" + (", ..." if len(gids) > MISMATCH_LIMIT else "")
