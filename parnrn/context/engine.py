"""The engine of ``p.parallel.run``: NEURON's own integration, or CoreNEURON in-process.

NEURON's ``pc.psolve`` hands the model to CoreNEURON when ``neuron.coreneuron.enable`` is
set: same spikes, faster, but CoreNEURON runs only part of what NEURON can, and what it
cannot run it aborts on (``MPI_Abort`` on several ranks), drops with a warning on stderr,
or returns wrong (a ``Vector.record`` with a sampling interval gets one sample), and a GPU
request on a build without GPU support ends the process with status 42 (the features and
what becomes of each: docs/coreneuron.md). ``check`` looks
for each of those before the run, on every rank, and raises one ``EngineError`` on every
rank naming each feature and where it is; ``running`` is the run itself, with CoreNEURON
switched on (or off) for its duration only.

Which mechanisms CoreNEURON has is decided the way CoreNEURON decides it: it loads the
library named by ``CORENEURONLIB``, else ``<arch>/libcorenrnmech`` in the working
directory (made by ``nrnivmodl -coreneuron``), else the one built into NEURON, and
registers each mod file ``name.mod`` it was built with by calling ``_name_reg``. A
mechanism of the model whose mod file has no such function in that library makes
CoreNEURON abort ("mechanism does not exist"); ``check`` names it instead.
"""

from __future__ import annotations

import ctypes
import io
import os
import platform
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from typing import Any

from .. import transport
from ..errors import EngineError
from ..ranks import rank_tag
from ..settings import ENGINES, checked_choice, settings
from .network import Network

_LISTED = 3  # example sections or objects named per feature
_RANKS_LISTED = 8  # ranks named per feature; the rest are counted
# Mechanisms without a mod file that CoreNEURON has (ions too: every "<ion>_ion").
_BUILT_IN = ("morphology", "capacitance")
# NEURON's default coreneuron.verbose: CoreNEURON prints its banner, parameters and
# statistics on every run. parnrn runs it quiet (0: errors only) unless another was set.
_NEURON_DEFAULT_VERBOSE = 2
_libraries: dict[str, Any] = {}  # CoreNEURON mechanism libraries loaded, by path


@dataclass
class Problem:
    """One feature CoreNEURON cannot run, as found on one rank: ``count`` of ``noun``
    (none for a setting of the whole rank), a few ``examples`` of where, and what to do."""

    feature: str
    advice: str
    count: int = 0
    noun: str = ""
    examples: list[str] = field(default_factory=list)


def chosen(engine: str | None) -> str:
    """The engine a run uses: ``engine``, else ``settings.engine``, else CoreNEURON when
    the script set ``neuron.coreneuron.enable = True`` itself (NEURON's psolve would run
    it), else NEURON. ``ValueError`` for an engine that does not exist."""
    if engine is None:
        engine = settings.engine
    if engine is None:
        from neuron import coreneuron  # here: importing neuron must wait for MPI's start

        return "coreneuron" if coreneuron.enable else "neuron"
    return checked_choice(engine, ENGINES, f"{rank_tag()} run: engine")


@contextmanager
def running(engine: str, h: Any) -> Iterator[None]:
    """NEURON's psolve inside runs ``engine``: CoreNEURON switched on for the block only
    (in cache-efficient mode, the memory layout it reads), or off for NEURON."""
    from neuron import coreneuron  # here: importing neuron must wait for MPI's start

    if engine == "neuron":
        with coreneuron(enable=False):
            yield
        return
    h.CVode().cache_efficient(1)
    verbose = 0 if coreneuron.verbose == _NEURON_DEFAULT_VERBOSE else coreneuron.verbose
    with coreneuron(enable=True, verbose=verbose):
        yield


def check(network: Network, h: Any, comm: Any, engine: str) -> None:
    """Raise ``EngineError`` on every rank when ``engine`` cannot run the model as it is
    now (after ``finitialize``: the events it queued count), naming every rank's
    problems; nothing for NEURON. Collective: one fixed-size agreement when all is well."""
    if engine == "neuron":
        return
    mine = problems(network, h)
    parallel = comm is not None and comm.Get_size() > 1
    if parallel and not transport.allreduce(len(mine), "max", comm):
        return
    if not parallel and not mine:
        return
    found = transport.allgather(mine, comm) if parallel else [mine]
    lines = [_line(*merged) for merged in _merged(found)]
    raise EngineError(
        f"{rank_tag()} CoreNEURON cannot run this model (p.parallel.run engine "
        f"'coreneuron'); found before the run:\n  " + "\n  ".join(lines)
    )


def problems(network: Network, h: Any) -> list[Problem]:
    """What CoreNEURON cannot run on this rank, each feature once."""
    found = _build(h)
    found += _cvode(h) + _linear_mechanisms(h) + _extracellular(h) + _missing_mechanisms(h)
    queue = _event_queue(h)
    found += _interpreter_events(queue, h) + _stepped_plays(queue)
    return found + _sampled_records(queue, network)


def _build(h: Any) -> list[Problem]:
    """Whether this NEURON has CoreNEURON at all, and GPU support when it is asked for."""
    import neuron.config  # here: importing neuron must wait for MPI's start
    from neuron import coreneuron

    built = neuron.config.arguments
    if not built.get("NRN_ENABLE_CORENEURON"):
        return [Problem("CoreNEURON", "this NEURON was built without it")]
    if coreneuron.gpu and not built.get("CORENRN_ENABLE_GPU"):
        return [
            Problem(
                "coreneuron.gpu = True",
                "this NEURON's CoreNEURON has no GPU support (it would end the process with "
                "status 42); GPU runs need NEURON built from source with "
                "-DCORENRN_ENABLE_GPU=ON (the GPU wheels stopped at 8.2.2), or "
                "coreneuron.gpu = False",
            )
        ]
    return []


def _cvode(h: Any) -> list[Problem]:
    if not h.CVode().active():
        return []
    advice = "CoreNEURON integrates with the fixed step only; h.CVode().active(0) turns it off"
    return [Problem("CVode (variable time step) is active", advice)]


def _linear_mechanisms(h: Any) -> list[Problem]:
    mechanisms = h.List("LinearMechanism")
    count = int(mechanisms.count())
    if not count:
        return []
    names = [mechanisms.o(i).hname() for i in range(min(count, _LISTED))]
    advice = "CoreNEURON cannot solve the extra equations of a LinearMechanism"
    return [Problem("LinearMechanism", advice, count, "object", names)]


def _extracellular(h: Any) -> list[Problem]:
    sections = [sec.name() for sec in h.allsec() if sec.has_membrane("extracellular")]
    if not sections:
        return []
    advice = "CoreNEURON has no extracellular mechanism"
    return [Problem("extracellular", advice, len(sections), "section", sections[:_LISTED])]


def _missing_mechanisms(h: Any) -> list[Problem]:
    """The mechanisms in the model that the CoreNEURON library to be loaded lacks."""
    path, source = mechanism_library(h)
    if path is None:
        return [Problem("CoreNEURON's mechanism library", f"not found ({source})")]
    library = _libraries.get(path) or _libraries.setdefault(path, ctypes.CDLL(path))
    found = []
    for name, mod_file, is_point in _mechanisms(h):
        if _has_mechanism(library, name, mod_file):
            continue
        count, noun, examples = _instances(h, name, is_point)
        if not count:
            continue
        found.append(Problem(name, _missing_advice(mod_file, source), count, noun, examples))
    return found


def _missing_advice(mod_file: str, source: str) -> str:
    """What to do about a mechanism from ``mod_file`` that CoreNEURON lacks. A mod file
    still on disk is the user's; one that is not was compiled into NEURON itself."""
    if mod_file and os.path.exists(mod_file):
        return (
            f"its mod file {mod_file} is not in this CoreNEURON ({source}); compile it with "
            f"`nrnivmodl -coreneuron` in the working directory"
        )
    return (
        f"one of NEURON's own mechanisms, which this CoreNEURON was not built with "
        f"({source}); use NEURON, or a mechanism CoreNEURON has"
    )


def mechanism_library(h: Any) -> tuple[str | None, str]:
    """The CoreNEURON mechanism library NEURON's psolve would load now, and how it was
    found (None and where it was looked for when there is none): ``CORENEURONLIB``, then
    ``<arch>/libcorenrnmech`` in the working directory, then NEURON's built-in one.

    Example::

        mechanism_library(h)
        # ('/.../neuron/.data/lib/libcorenrnmech_internal.so', "NEURON's built-in
        #  mechanisms only: libcorenrnmech_internal.so")
    """
    suffix = ".dylib" if sys.platform == "darwin" else ".so"
    variable = os.environ.get("CORENEURONLIB")
    if variable and os.path.exists(variable):
        return variable, f"CORENEURONLIB={variable}"
    local = os.path.join(os.getcwd(), platform.machine(), f"libcorenrnmech{suffix}")
    if os.path.exists(local):
        return local, f"{local}, made by nrnivmodl -coreneuron"
    name = f"libcorenrnmech_internal{suffix}"
    internal = os.path.normpath(os.path.join(h.neuronhome(), "..", "..", "lib", name))
    if os.path.exists(internal):
        return internal, f"NEURON's built-in mechanisms only: {name}"
    return None, f"looked for CORENEURONLIB, {local} and {internal}"


def _mechanisms(h: Any) -> Iterator[tuple[str, str, bool]]:
    """(name, mod file or "", is a point process) of every mechanism NEURON knows."""
    name = h.ref("")
    for is_point in (False, True):
        kinds = h.MechanismType(int(is_point))
        for index in range(int(kinds.count())):
            kinds.select(index)
            kinds.selected(name)
            yield name[0], kinds.file(), is_point


def _has_mechanism(library: Any, name: str, mod_file: str) -> bool:
    """Whether ``library`` registers ``name``: built into CoreNEURON, or made from its mod
    file (``coreneuron::_<file>_reg()``; ``extracellular`` is checked on its own)."""
    if not mod_file:
        return name in _BUILT_IN or name.endswith("_ion") or name == "extracellular"
    register = f"_{os.path.splitext(os.path.basename(mod_file))[0]}_reg"
    mangled = f"_ZN10coreneuron{len(register)}{register}Ev"  # C++: coreneuron::<register>()
    return hasattr(library, mangled) or hasattr(library, register)


def _instances(h: Any, name: str, is_point: bool) -> tuple[int, str, list[str]]:
    """How many of mechanism ``name`` this rank's model has, in what, and a few names."""
    if is_point:
        objects = h.List(name)
        count = int(objects.count())
        return count, "instance", [objects.o(i).hname() for i in range(min(count, _LISTED))]
    sections = [sec.name() for sec in h.allsec() if sec.has_membrane(name)]
    return len(sections), "section", sections[:_LISTED]


def _event_queue(h: Any) -> str:
    """NEURON's event queue as ``print_event_queue`` prints it through Python's stdout.
    A ``Vector.play`` prints part of its line with C's own printf, into fd 1: dropped."""
    libc = ctypes.CDLL(None)
    sys.stdout.flush()
    libc.fflush(None)
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
        with redirect_stdout(io.StringIO()) as text:
            h.CVode().print_event_queue()
        libc.fflush(None)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    return text.getvalue()


def _interpreter_events(queue: str, h: Any) -> list[Problem]:
    """``CVode().event(t, callback)`` events in the queue: CoreNEURON drops them (a
    statement-less ``event(t)`` does nothing, and is not counted)."""
    events = [
        (what, float(t))
        for what, t in re.findall(r"HocEvent (.*) (\S+)$", queue, re.MULTILINE)
        if what
    ]
    if not events:
        return []
    examples = [
        f"at t = {round(t / h.dt) * h.dt:g} ms: "
        + ("a Python callable" if what == "PythonObject" else f"hoc {what!r}")
        for what, t in events[:_LISTED]
    ]
    advice = (
        "CoreNEURON drops interpreter events (NEURON only warns); run to that time with "
        "p.parallel.run, do it there, and continue"
    )
    return [Problem("CVode().event with a callback", advice, len(events), "event", examples)]


def _stepped_plays(queue: str) -> list[Problem]:
    """``Vector.play(ref, dt)`` and ``Vector.play(ref, tvec)`` with a value still to play:
    CoreNEURON takes only the continuous form, and asserts (aborts) on these."""
    vectors = re.findall(r"PlayRecordEvent \S+ VecPlayStep (\S+)\.x\[", queue)
    if not vectors:
        return []
    advice = (
        "CoreNEURON plays only Vector.play(ref, tvec, 1), the continuous form (NEURON "
        "would abort in the model's transfer)"
    )
    names = vectors[:_LISTED]
    return [Problem("Vector.play(ref, dt) or (ref, tvec)", advice, len(vectors), "Vector", names)]


def _sampled_records(queue: str, network: Network) -> list[Problem]:
    """``Vector.record(ref, dt)`` and ``Vector.record(ref, tvec)``, whose next sample waits
    in the queue: CoreNEURON returns only their first sample. ``p.parallel.report``
    records that way, and is named on its own."""
    waiting = re.findall(r"PlayRecordEvent (\S+) PlayRecord\n", queue)
    found = []
    in_reports = 0
    for report in network.reports:
        in_reports += len(report.vectors)
        advice = (
            "it records with Vector.record(ref, dt), which CoreNEURON returns one sample "
            "of; run it with the engine 'neuron'"
        )
        found.append(Problem(f"p.parallel.report {report.path}", advice))
    count = len(waiting) - in_reports
    if count > 0:
        advice = (
            "CoreNEURON returns only the first sample of a recording at an interval or at "
            "given times; record every step (Vector.record(ref)) and take every n-th value"
        )
        examples = [f"next sample at t = {float(t):g} ms" for t in waiting[:_LISTED]]
        found.append(
            Problem("Vector.record(ref, dt) or (ref, tvec)", advice, count, "Vector", examples)
        )
    return found


def _merged(found: list[list[Problem]]) -> Iterator[tuple[Problem, int, list[int]]]:
    """Each feature once, in order of first appearance: (its first rank's problem, the
    total count over the ranks, the ranks that have it)."""
    features: dict[str, tuple[Problem, int, list[int]]] = {}
    for rank, mine in enumerate(found):
        for problem in mine:
            first, total, ranks = features.get(problem.feature, (problem, 0, []))
            features[problem.feature] = (first, total + problem.count, [*ranks, rank])
    yield from features.values()


def _line(problem: Problem, total: int, ranks: list[int]) -> str:
    shown = ", ".join(map(str, ranks[:_RANKS_LISTED]))
    if len(ranks) > _RANKS_LISTED:
        shown += f" and {len(ranks) - _RANKS_LISTED} more"
    on = f"rank{'s' if len(ranks) > 1 else ''} {shown}"
    if not problem.noun:
        return f"{problem.feature}, on {on}: {problem.advice}"
    examples = ", ".join(problem.examples)
    more = ", ..." if total > len(problem.examples) else ""
    nouns = f"{total} {problem.noun}{'s' if total > 1 else ''}"
    return f"{problem.feature}: {nouns} on {on} ({examples}{more}): {problem.advice}"
