"""Bootstrap: start MPI through mpi4py, then NEURON's MPI on the same library.

This is the only module that starts MPI or NEURON's MPI. Nothing happens at import time:
``start()`` imports mpi4py (which initialises MPI), finds the libmpi it loaded, and
duplicates the world communicator twice, one for parnrn's data and one for its control
messages. ``neuron_context()`` then points NEURON at that same library through
``MPI_LIB_NRN_PATH`` (unless the user set it), calls ``h.nrnmpi_init()`` and
``pc.mpiabort_on_error(0)``, and checks that NEURON sees as many ranks as MPI does.

Under a launcher with more than one rank, ``parallel_when_neuron_imported()`` (called by
``import parnrn``) does both as soon as the script imports NEURON, however it does so, so
that one import makes an ordinary NEURON script parallel, with hoc errors as exceptions.

Without mpi4py, or started without ``mpiexec``, everything runs with one rank.
Policies that need MPI (failfast) arm themselves through ``on_start``.

A process forked from a rank (``multiprocessing``, ``pebble``: BluePyOpt runs every
evaluation so) is not a rank, yet it shares the rank's MPI state, its shared-memory
queues included: any MPI progress made in the child takes messages meant for its parent,
which then waits for them forever. NEURON's hoc interpreter makes such progress by itself
on rank 0 (it probes for bulletin-board messages every 300 instructions), so
``neuron_context`` switches that polling off in every forked child.

Without a display, NEURON is given ``-nogui`` before it starts (``no_gui_without_display``),
so that a serial run does not begin with "Warning: no DISPLAY environment variable".
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

from .errors import MPIConfigError
from .ranks import known_rank_size, launched_as, rank_tag, set_known
from .settings import settings

_LIBMPI_PREFIXES = ("libmpi.", "libmpich.", "libmpi_cray.")


class Runtime(NamedTuple):
    """What ``start()`` found: the mpi4py ``MPI`` module (None in serial fallback),
    this rank, the number of ranks, parnrn's two communicators and the libmpi path.

    Example::

        rt = start()
        print(rt.rank, rt.size, rt.library)   # 0 4 /usr/lib/x86_64-linux-gnu/libmpi.so.40
    """

    MPI: Any
    rank: int
    size: int
    data: Any
    control: Any
    library: str | None


_runtime: Runtime | None = None
_neuron: tuple[Any, Any] | None = None
_start_hooks: list[Callable[[Runtime], None]] = []


def on_start(hook: Callable[[Runtime], None]) -> None:
    """Call ``hook(runtime)`` once MPI has started (at once if it already has).

    This is how policies above the runtime arm themselves without the runtime knowing
    them: ``parnrn/__init__.py`` registers ``failfast.install``.

    Example::

        on_start(lambda rt: print("MPI started on rank", rt.rank))
    """
    _start_hooks.append(hook)
    if _runtime is not None:
        hook(_runtime)


def start(*, check_launcher: bool = True) -> Runtime:
    """Start MPI (once per process) and return the runtime description.

    Raises ``MPIConfigError`` when the launcher started this process as one of N tasks but
    MPI has another number of ranks (``launcher_disagreement``): under ``srun`` with an MPI
    that does not speak its process-management interface, every task would run the whole
    model alone. ``PARNRN_LAUNCHER_CHECK=warn`` (``configure(launcher_check="warn")``)
    logs it instead; ``check_launcher=False`` leaves it to the caller (the doctor reports
    it with the rest).

    Example::

        from parnrn.runtime import start
        rank, size = start().rank, start().size
    """
    global _runtime
    if _runtime is not None:
        return _runtime
    try:
        from mpi4py import MPI  # here, not at the top: importing mpi4py starts MPI
    except ImportError:
        if check_launcher:
            _check_launcher(1, None, None)
        _runtime = Runtime(None, 0, 1, None, None, None)
        set_known(0, 1)
        return _runtime
    world = MPI.COMM_WORLD
    library = find_mpi_library(MPI)
    if check_launcher:
        _check_launcher(world.Get_size(), MPI, library)
    _runtime = Runtime(
        MPI=MPI,
        rank=world.Get_rank(),
        size=world.Get_size(),
        data=world.Dup(),
        control=world.Dup(),
        library=library,
    )
    set_known(_runtime.rank, _runtime.size)
    for hook in _start_hooks:
        hook(_runtime)
    return _runtime


def launcher_disagreement(size: int, MPI: Any, library: str | None) -> str | None:
    """Why the launcher and MPI disagree on the number of ranks (``size``, MPI's), or None
    when they agree or no launcher started this process as one of several tasks.

    ``MPI`` is mpi4py's ``MPI`` module (None without mpi4py) and ``library`` the libmpi it
    loaded, named in the explanation.

    Example::

        launcher_disagreement(1, MPI, "/venv/lib/libmpi.so.12")
        # under srun -n 2: 'srun started this process as task 1 of 2 (...), but MPI has 1 ...'
    """
    launch = launched_as()
    if launch is None or launch.size == size:
        return None
    if MPI is None:
        cause = "mpi4py is not installed, so parnrn runs with one rank"
        fix = "install mpi4py, built for the MPI that the launcher belongs to"
    else:
        cause = (
            f"The MPI library mpi4py loaded ({library or 'unknown'}) did not join the "
            f"launcher's job, as an MPI does when it does not speak the launcher's "
            f"process-management interface"
        )
        fix = (
            "start the job with that MPI's own mpiexec, or with srun --mpi=pmix or "
            "--mpi=pmi2 where the MPI was built with Slurm's support (srun --mpi=list "
            "names those of your site; see the cluster page of parnrn's documentation)"
        )
    return (
        f"{launch.launcher} started this process as task {launch.rank} of {launch.size} "
        f"({launch.rank_variable}={launch.rank}, {launch.size_variable}={launch.size}), but "
        f"MPI has {size} rank(s): each task would run the whole model alone. {cause}. "
        f"Fix: {fix}; `python -m parnrn doctor` under the same launcher checks the set-up"
    )


def _check_launcher(size: int, MPI: Any, library: str | None) -> None:
    """Raise ``MPIConfigError`` (or, as the settings ask, warn) when the launcher and MPI
    disagree on the number of ranks."""
    problem = launcher_disagreement(size, MPI, library)
    if problem is None:
        return
    if settings.launcher_check == "warn":
        from .log import warn_once  # here: logging costs every `import parnrn` time

        warn_once(
            "launcher",
            f"{problem}. Going on with MPI's {size} rank(s), as PARNRN_LAUNCHER_CHECK=warn asks",
        )
        return
    raise MPIConfigError(
        f"{rank_tag()} {problem}. To run the tasks as independent copies on purpose, set "
        f"PARNRN_LAUNCHER_CHECK=warn"
    )


def mapped_libraries() -> list[str]:
    """Paths of the files mapped into this process (Linux; empty elsewhere).

    Example::

        [path for path in mapped_libraries() if "libnrnmpi" in path]
    """
    try:
        with open("/proc/self/maps") as maps:
            return sorted({line.split(maxsplit=5)[-1].strip() for line in maps if "/" in line})
    except OSError:
        return []


def mapped_mpi_libraries() -> list[str]:
    """Paths of the libmpi files mapped into this process.

    Example::

        mapped_mpi_libraries()   # ['/opt/venv/lib/libmpi.so.12'] after mpi4py started
    """
    return [
        path for path in mapped_libraries() if os.path.basename(path).startswith(_LIBMPI_PREFIXES)
    ]


def find_mpi_library(MPI: Any) -> str | None:
    """The libmpi that mpi4py loaded: from the mapped libraries, else from ``dladdr``
    (with a warning logged once).

    Example::

        from mpi4py import MPI
        find_mpi_library(MPI)   # '/opt/venv/lib/libmpi.so.12'
    """
    mapped = mapped_mpi_libraries()
    if mapped:
        return mapped[0]
    path = _library_defining("MPI_Init", MPI.__file__)
    if path:
        from .log import warn_once  # here: logging costs every `import parnrn` time

        warn_once("mpi-fallback", f"found the MPI library by symbol lookup: {path}")
    return path


def _library_defining(symbol: str, module_file: str) -> str | None:
    """The shared library that provides ``symbol`` to the extension ``module_file``."""
    import ctypes  # here: only this fallback needs it, not every `import parnrn`

    class DlInfo(ctypes.Structure):
        _fields_ = [
            ("dli_fname", ctypes.c_char_p),
            ("dli_fbase", ctypes.c_void_p),
            ("dli_sname", ctypes.c_char_p),
            ("dli_saddr", ctypes.c_void_p),
        ]

    try:
        address = ctypes.cast(getattr(ctypes.CDLL(module_file), symbol), ctypes.c_void_p)
        info = DlInfo()
        if ctypes.CDLL(None).dladdr(address, ctypes.byref(info)) and info.dli_fname:
            return os.path.realpath(info.dli_fname.decode())
    except (OSError, AttributeError):
        pass
    return None


def no_gui_without_display() -> None:
    """Add NEURON's ``-nogui`` to ``NEURON_MODULE_OPTIONS`` when there is no X display,
    unless the user's options have it already; the user's other options are kept.

    NEURON reads the variable when it is imported. Without ``DISPLAY`` it cannot show
    graphics anyway, and says so on every start ("Warning: no DISPLAY environment
    variable. --No graphics will be displayed."); under MPI it turns the GUI off itself.
    With a display nothing changes, so ``from neuron import gui`` still works.

    Example::

        no_gui_without_display()
        from neuron import h   # no DISPLAY warning on a cluster node
    """
    options = os.environ.get("NEURON_MODULE_OPTIONS", "")
    if sys.platform == "win32" or "DISPLAY" in os.environ or "-nogui" in options.split():
        return
    os.environ["NEURON_MODULE_OPTIONS"] = f"{options} -nogui".strip()


def point_neuron_at_mpi() -> Runtime:
    """Start MPI and set ``MPI_LIB_NRN_PATH`` to its library (unless the user set it), so
    that NEURON loads the same libmpi; and ``-nogui`` without a display. Call before
    importing NEURON: with ``NEURON_INIT_MPI=1`` NEURON starts its MPI at import."""
    no_gui_without_display()
    runtime = start()
    if runtime.size > 1 and runtime.library and "MPI_LIB_NRN_PATH" not in os.environ:
        os.environ["MPI_LIB_NRN_PATH"] = runtime.library
    return runtime


def neuron_context() -> tuple[Any, Any]:
    """NEURON's ``h`` (stdrun loaded) and the process's ``h.ParallelContext()``, with MPI
    agreed.

    Raises ``MPIConfigError`` on every rank when NEURON sees a different number of ranks
    than MPI does.

    Example::

        h, pc = neuron_context()
        assert pc.nhost() == start().size
    """
    global _neuron
    if _neuron is not None:
        return _neuron
    runtime = point_neuron_at_mpi()
    from neuron import h

    if runtime.size > 1:
        h.nrnmpi_init()
    # stdrun's names (p.run, p.stdinit, p.tstop, p.cvode), which p's docstring promises and
    # every NEURON script loads first; loading it again is a no-op.
    h.load_file("stdrun.hoc")
    pc = h.ParallelContext()
    pc.mpiabort_on_error(0)
    nhost = int(pc.nhost_world())  # pc.nhost() is a subworld's after pc.subworlds(n)
    if nhost != runtime.size:
        raise MPIConfigError(mismatch_message(runtime, nhost))
    if runtime.size > 1:
        _no_bulletin_board_polling_in_forked_children()
    _neuron = (h, pc)
    return _neuron


def _no_bulletin_board_polling_in_forked_children() -> None:
    """Stop NEURON's bulletin-board polling in every process forked from this rank.

    On the bulletin board's master (rank 0) the hoc interpreter calls ``MPI_Iprobe`` every
    300 instructions (``bbs_poll_``, NEURON's src/oc/code.cpp). In a forked child that
    probe moves the messages other ranks send to rank 0 out of the shared-memory queue
    into the child, where they are lost: BluePyOpt's evaluations (forked, running hoc's
    ``run()``) made ``p.parallel.map`` wait forever for results already sent. A negative
    ``bbs_poll_`` never reaches the poll, as NEURON itself sets it before finalizing.
    """
    import ctypes  # here: only multi-rank runs need it, not every `import parnrn`

    library = next((path for path in mapped_libraries() if "libnrniv" in path), None)
    if library is None:
        return
    try:
        countdown = ctypes.c_int.in_dll(ctypes.CDLL(library), "bbs_poll_")
    except (OSError, ValueError):  # a NEURON without the symbol: nothing polls by it
        return

    def stop_polling() -> None:
        countdown.value = -1

    os.register_at_fork(after_in_child=stop_polling)


def mismatch_message(runtime: Runtime, nhost: int) -> str:
    """Explain an MPI/NEURON disagreement: what each side loaded and how to fix it.

    Example::

        raise MPIConfigError(mismatch_message(start(), int(pc.nhost())))
    """
    given = os.environ.get("MPI_LIB_NRN_PATH", "<unset>")
    neuron_libs = [path for path in mapped_libraries() if "libnrnmpi" in path]
    return (
        f"{rank_tag(runtime.rank, runtime.size)} NEURON sees {nhost} rank(s) but MPI has "
        f"{runtime.size}. mpi4py loaded {runtime.library or 'an unknown libmpi'}; NEURON was "
        f"given MPI_LIB_NRN_PATH={given} and loaded "
        f"{', '.join(neuron_libs) or 'no MPI library of its own'}. Fix: unset "
        f"MPI_LIB_NRN_PATH so parnrn sets it, or point it at {runtime.library}; make sure "
        f"NEURON is not MPI-initialised before parnrn starts; run `python -m parnrn doctor`."
    )


def neuron_started() -> bool:
    """Whether ``neuron_context()`` has run in this process.

    Example::

        if neuron_started():
            h, pc = neuron_context()   # no start-up cost now
    """
    return _neuron is not None


def parallel_when_neuron_imported() -> None:
    """Make NEURON parallel in this ``mpiexec`` job whenever the script imports it.

    With one rank (by the launcher's environment) this does nothing and starts nothing.
    If NEURON is already imported, it is set up now (``neuron_context``: it raises
    ``MPIConfigError`` if NEURON cannot be made to see every rank); otherwise MPI starts
    and NEURON is pointed at its library just before ``neuron`` executes, and
    ``neuron_context`` runs right after.

    Example::

        import parnrn            # under mpiexec -n 4
        from neuron import h     # NEURON sees 4 ranks; hoc errors raise, not MPI_Abort
    """
    if known_rank_size()[1] == 1 or _neuron is not None:
        return
    if "neuron" in sys.modules:
        neuron_context()
    elif not any(isinstance(finder, _NeuronImportHook) for finder in sys.meta_path):
        sys.meta_path.insert(0, _NeuronImportHook())


class _NeuronImportHook:
    """Finds ``neuron`` as the other finders do, then wraps its loader in ``_StartingLoader``."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != "neuron":
            return None
        sys.meta_path.remove(self)  # once: the real search below must not find this again
        from importlib.util import find_spec  # here: only under mpiexec, on NEURON's import

        spec = find_spec("neuron")
        if spec is not None and spec.loader is not None:
            spec.loader = _StartingLoader(spec.loader)
        return spec


class _StartingLoader:
    """Loads ``neuron`` with MPI started before it executes and NEURON's set-up after."""

    def __init__(self, loader: Any):
        self.loader = loader

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        point_neuron_at_mpi()
        self.loader.exec_module(module)
        neuron_context()
