"""``ParallelContext``: NEURON's ``h.ParallelContext()``, made safe and automated, and
``ParallelCon``, one call for each end of a connection between ranks.

One wrapper per process (``p.parallel``). Every NEURON method still works: unknown
attributes pass through to the real ParallelContext, and a hoc error in any call made
through the wrapper is a ``HocError`` (a ``RuntimeError``) naming the rank and the call.
The wrapper validates gids before NEURON sees them (a duplicate gid is a ``GidError`` on
the calling rank, not an ``MPI_Abort``), keeps what this rank built in a ``Network``
(registry, recordings, run state, the NetCons and targets it keeps alive), and adds
parnrn's guarded object collectives. Signatures follow nrn-patch's parallel layer, so code
written for it runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from .. import output, transport
from ..errors import GidError, ParallelConnectError
from ..hocerror import hoc_error, is_hoc_error, raising_hoc_errors
from ..log import logger
from ..ranks import rank_tag
from ..runtime import neuron_context, start
from . import balance, gids, randomness, reports, run, runreport, spikes, sweep
from . import checkpoint as checkpoints
from . import engine as engines
from .connect import HocObject, is_gid, set_weights, spike_detector, stands_for_gid, unwrap
from .gids import GID_LIMIT, as_gid, as_gids, shown
from .network import Network

# NEURON's pc.allreduce codes.
_HOC_REDUCTIONS = {1: "sum", 2: "max", 3: "min"}
# The threshold of a spike detector that a transmitting ParallelCon creates.
DEFAULT_THRESHOLD = -20.0


class _VectorPayload:
    """A broadcast Vector's contents: receivers fill their own Vector in place."""

    def __init__(self, values: np.ndarray):
        self.values = values


class _Unsendable:
    """Stands in for a HocObject that cannot cross ranks; pickling it raises ``reason``,
    which the transport turns into the same ``BroadcastError`` on every rank."""

    def __init__(self, reason: str):
        self.reason = reason

    def __reduce__(self) -> Any:
        raise TypeError(self.reason)


class ParallelContext:
    """Drop-in for ``h.ParallelContext()``; ``ParallelContext()`` returns the process's
    one instance (also ``p.parallel``).

    Example::

        pc = p.parallel
        for gid in pc.distribute(range(100)):
            ...
        print(pc.rank, pc.size, pc.nhost())   # NEURON methods pass through
    """

    _instance: ParallelContext | None = None

    def __new__(cls) -> ParallelContext:
        if cls._instance is None:
            instance = super().__new__(cls)
            instance._start()
            cls._instance = instance
        return cls._instance

    def _start(self) -> None:
        self._h, self._pc = neuron_context()
        self.world_comm = start().data
        self._subworld_comms: dict[tuple[int, int], Any] = {}
        self._follow_subworld()
        self._NetCon, self._Vector = self._h.NetCon, self._h.Vector
        # Bound once: looking a method up on a HocObject costs more than the call itself.
        self._hoc_gid_connect = self._pc.gid_connect
        self._hoc_set_gid2node = self._pc.set_gid2node
        self._hoc_cell = self._pc.cell

    def __getattr__(self, name: str) -> Any:
        # NEURON's own methods, with hoc errors as HocError; cached on the instance.
        if name.startswith("_"):
            raise AttributeError(name)
        attr = getattr(self._pc, name)
        if not callable(attr):
            return attr
        method = raising_hoc_errors(name, attr)
        setattr(self, name, method)
        return method

    def __neuron__(self) -> Any:
        """The wrapped ``h.ParallelContext()``."""
        return self._pc

    def __reduce__(self) -> Any:
        # Pickled (in a lambda given to map, say), it is the receiving rank's own wrapper.
        return (ParallelContext, ())

    def __repr__(self) -> str:
        return f"<parnrn ParallelContext rank {self._rank} of {self._size}>"

    def _follow_subworld(self) -> None:
        """Act on NEURON's current (sub)world: its ranks, its communicator, a new network.

        The subworld's communicator is made with ``Create_group``, collective over the
        subworld's ranks only (NEURON's subworlds are contiguous blocks of world ranks),
        so this is safe inside one subworld's task. It is made once per block of ranks and
        kept: ``p.parallel.map`` splits the world on every call.
        """
        rank, size = int(self._pc.id()), int(self._pc.nhost())
        world = self.world_comm
        if world is None or size == world.Get_size():
            self.comm = world
        else:
            first = int(self._pc.id_world()) - rank
            comm = self._subworld_comms.get((first, size))
            self.comm = comm or self._new_subworld_comm(first, size)
        self._rank, self._size = rank, size
        self.network = Network()
        self._run_report: runreport.RunReport | None = None

    def _new_subworld_comm(self, first: int, size: int) -> Any:
        """A communicator for the subworld of world ranks ``first`` to ``first + size - 1``,
        kept for it; collective over those ranks."""
        world = self.world_comm
        members = world.Get_group().Range_incl([(first, first + size - 1, 1)])
        comm = self._subworld_comms[(first, size)] = world.Create_group(members, first)
        members.Free()
        return comm

    def _renew_subworld_comm(self) -> None:
        """Replace this subworld's communicator, which some of its ranks gave up on (a
        collective of a ``map`` task timed out), by a new one; collective over the
        subworld, where its ranks are in step again. The old one is never freed: its
        abandoned requests still own their buffers, and a freed handle that MPI reused
        would take the old one's given-up state."""
        first = int(self._pc.id_world()) - self._rank
        self.comm = self._new_subworld_comm(first, self._size)

    def subworlds(self, n: int) -> Any:
        """NEURON's ``subworlds(n)``: split the world into subworlds of ``n`` ranks. From
        here on this wrapper acts on this rank's subworld, as NEURON's gid space does:
        ``rank``/``size``, gids, ``ParallelCon``, the run, ``gather_spikes`` and the
        object collectives; the world stays reachable as ``world_comm`` (and NEURON's
        ``id_world``/``nhost_world``). Collective over the world.

        Example::

            p.parallel.subworlds(2)
            p.parallel.rank, p.parallel.size   # this rank within its subworld of 2
        """
        result = raising_hoc_errors("subworlds", self._pc.subworlds)(n)
        self._follow_subworld()
        return result

    def _check_subworld(self) -> None:
        """A subworld made behind this wrapper's back (NEURON's own ``pc.subworlds``) is
        followed at the next run or spike gathering (collective over it)."""
        if int(self._pc.nhost()) != self._size:
            self._follow_subworld()

    @property
    def rank(self) -> int:
        """This rank (``pc.id()``; within its subworld after ``subworlds``).

        Example::

            if p.parallel.rank == 0:
                print("on the first rank")
        """
        return self._rank

    @property
    def size(self) -> int:
        """The number of ranks (``pc.nhost()``; of this subworld after ``subworlds``).

        Example::

            print(f"running on {p.parallel.size} ranks")
        """
        return self._size

    @property
    def min_delay(self) -> float | None:
        """The global minimum delay of the NetCons that receive spikes from another rank
        (NEURON's spike-exchange interval; 10 ms at most, and on one rank), known after
        the first run.

        Example::

            p.parallel.run(100)
            print(p.parallel.min_delay)
        """
        return self.network.min_delay

    def distribute(
        self,
        gids_: Iterable[int],
        strategy: str = "round_robin",
        weights: Sequence[float] | None = None,
        cost: balance.CostSpec = None,
    ) -> np.ndarray:
        """This rank's share of ``gids_``; every rank computes the same partition.

        ``strategy`` is ``"round_robin"``, ``"block"``, ``"balanced"`` (with ``weights``:
        greedy longest-processing-time) or ``"cost"`` (the same on ``cost``: one number
        per gid, a mapping gid -> cost, a function of the gid such as a per-type cost, a
        ``BalanceFile`` or the path of one; see docs/balance.md).

        Example::

            for gid in p.parallel.distribute(range(ncell)):
                build_cell(gid)
            cost = p.parallel.cost_per_type({"pyr": Pyramidal, "bas": Basket})
            mine = p.parallel.distribute(gids, "cost", cost=lambda gid: cost[kind[gid]])
        """
        return gids.distribute(gids_, self._rank, self._size, strategy, weights, cost)

    def cell_cost(self, cell: Any, mcomplex: str | None = None) -> float:
        """The cost of a built cell (a Section's tree, a cell with an ``all`` list of
        sections, or an iterable of sections): NEURON's ``LoadBalance.cell_complexity``,
        with the complexities of a measured ``mcomplex.dat`` when given.

        Example::

            costs = {gid: p.parallel.cell_cost(cell) for gid, cell in cells.items()}
        """
        return balance.cell_cost(self._h, cell, balance.complexity(self._h, mcomplex))

    def cost_per_type(self, builders: Any, mcomplex: str | None = None) -> dict[str, float]:
        """The cost of each cell type, measured on one prototype per type built by
        ``builders[type]()`` (no gids registered) and dropped; the same on every rank.

        Example::

            cost = p.parallel.cost_per_type({"pyr": Pyramidal, "bas": Basket})
        """
        return balance.cost_per_type(self._h, builders, balance.complexity(self._h, mcomplex))

    def save_balance(self, path: str, costs: dict[int, float]) -> None:
        """Write the balance file ``path`` from each rank's ``costs`` of the cells it owns
        (gid -> cost); rank 0 writes it, under a temporary name renamed when complete.
        A gid given by two ranks raises ``GidError`` on every rank. Collective.

        Example::

            p.parallel.save_balance("balance.json", {gid: p.parallel.cell_cost(c) for ...})
            mine = p.parallel.distribute(gids, "cost", cost="balance.json")  # next run
        """
        parts = transport.gather(dict(costs), 0, self.comm)
        with transport.collective(self.comm):
            if parts is not None:
                merged: dict[int, float] = {}
                for part in parts:
                    twice = sorted(set(merged).intersection(part))
                    if twice:
                        raise GidError(
                            f"{rank_tag()} save_balance: gids given by more than one rank "
                            f"(first: {', '.join(map(str, twice[:5]))})"
                        )
                    merged.update(part)
                balance.BalanceFile({as_gid(g): float(c) for g, c in merged.items()}).save(path)

    def set_gid2node(self, gid: int, id: int | None = None) -> None:
        """Assign ``gid`` to rank ``id`` (default: this rank). Registering a gid twice on
        this rank raises ``GidError`` before NEURON is called.

        Example::

            p.parallel.set_gid2node(7)
        """
        gid = as_gid(gid)
        if id is None or id == self._rank:
            self._claim(gid)
            try:
                self._hoc_set_gid2node(gid, self._rank)
            except RuntimeError as exc:
                self.network.registry.owned.discard(gid)
                raise hoc_error(f"set_gid2node({gid})", exc) from exc
        elif not 0 <= id < self._size:
            raise GidError(f"{rank_tag()} set_gid2node({gid}, {id}): rank {id} does not exist")

    def cell(self, gid: int, source: Any, threshold: float | None = None, output: bool = True):
        """Make ``source`` (a NetCon, or anything a NetCon can watch) the spike source of
        ``gid``, which this rank must own; ``output`` also sends its spikes to every rank.
        Returns the NetCon.

        Example::

            p.parallel.set_gid2node(7)
            p.parallel.cell(7, soma(0.5), threshold=-20)
        """
        gid = as_gid(gid)
        if gid not in self.network.registry.owned and not self._pc.gid_exists(gid):
            raise GidError(
                f"{rank_tag()} cell({gid}, ...): gid {gid} is not registered on this rank; "
                f"call set_gid2node({gid}) on the rank that builds the cell first"
            )
        nc = spike_detector(gid, source, self._NetCon, threshold, {})
        return self._cell(gid, nc, source, output)

    def register(
        self,
        gid: int,
        source: Any,
        threshold: float | None = None,
        output: bool = True,
        **kw: Any,
    ) -> Any:
        """``set_gid2node`` + ``cell`` in one validated step; returns the NetCon. This is
        what a transmitting ``ParallelCon`` does. A NetCon given as ``source`` keeps its
        own threshold unless ``threshold`` is given; a new one watching ``source`` gets
        ``threshold`` or -20 mV.

        Example::

            nc = p.parallel.register(7, soma(0.5), threshold=-10)
        """
        gid = as_gid(gid)
        self._claim(gid)
        try:
            nc = spike_detector(gid, source, self._NetCon, threshold, kw, DEFAULT_THRESHOLD)
            self._hoc_set_gid2node(gid, self._rank)
        except BaseException as exc:
            self.network.registry.owned.discard(gid)  # NEURON has not kept the gid
            if is_hoc_error(exc):
                raise hoc_error(f"set_gid2node({gid})", exc) from exc
            raise
        return self._cell(gid, nc, source, output)

    def connect(self, a: Any, b: Any, output: bool = True, **netcon_kw: Any) -> Any:
        """``ParallelCon`` on this context: ``connect(source, gid)`` transmits,
        ``connect(gid, target)`` receives (see ``ParallelCon``).

        Example::

            p.parallel.connect(soma, 7)
        """
        return ParallelCon(a, b, output, **netcon_kw)  # self is the one instance it uses

    def _claim(self, gid: int) -> None:
        network = self.network
        network.registry.claim(gid)
        if network.records.record_all and not network.warned_late_gid:
            network.warned_late_gid = True
            logger.warning(
                f"gid {gid} was registered after spike_record(-1) (record all): its spikes, "
                f"and those of later gids, are not recorded; call spike_record after "
                f"registering every gid"
            )

    def _cell(self, gid: int, nc: Any, source: Any, output: bool) -> Any:
        try:
            self._hoc_cell(gid, nc, 1 if output else 0)
        except RuntimeError as exc:
            raise hoc_error(f"cell({gid}, {source!r})", exc) from exc
        self.network.transmitters[gid] = (nc, source)
        return nc

    def gid_connect(
        self, gid: int, target: Any, *args: Any, weight: Any = None, delay: float | None = None
    ) -> Any:
        """A NetCon that delivers the spikes of ``gid`` (on any rank) to ``target``; the
        NetCon and target are kept alive. Its threshold must never be set (see NEURON
        issue 2135).

        Example::

            nc = p.parallel.gid_connect(3, synapse, weight=0.01, delay=1.5)
        """
        if type(gid) is not int or not 0 <= gid < GID_LIMIT:  # the common case skips it
            gid = as_gid(gid)
        neuron_target = unwrap(target)
        try:
            nc = self._hoc_gid_connect(gid, neuron_target, *args)
        except (RuntimeError, TypeError, ValueError) as exc:
            if is_hoc_error(exc) and isinstance(neuron_target, (HocObject, type(None))):
                raise hoc_error(f"gid_connect({gid}, {target!r})", exc) from exc
            raise ParallelConnectError(  # not a NEURON object: the caller's mistake
                f"{rank_tag()} gid_connect({gid}, {target!r}) failed: {exc}"
            ) from exc
        if type(weight) is float:
            nc.weight[0] = weight
        elif weight is not None:
            set_weights(nc, weight)
        if delay is not None:
            nc.delay = delay
        network = self.network
        network.registry.wanted.add(gid)
        network.receiving_netcons.append(nc)
        network.targets.append(target)
        return nc

    def gid_clear(self, *args: Any) -> None:
        """NEURON's ``gid_clear``; also forgets this rank's gids, connections, recordings
        and run state, so a new network can be built and run from t = 0.

        Example::

            p.parallel.gid_clear()   # then build and p.run the next network
        """
        self._pc.gid_clear(*args)
        self.network = Network()

    def source_var(self, *args: Any, **kwargs: Any) -> Any:
        """NEURON's ``source_var(..., sgid)``; ``sgid`` must be >= 0.

        Example::

            p.parallel.source_var(soma(0.5)._ref_v, 7, sec=soma)
        """
        self._transfer_key(args)
        return raising_hoc_errors("source_var", self._pc.source_var)(*args, **kwargs)

    def target_var(self, *args: Any, **kwargs: Any) -> Any:
        """NEURON's ``target_var(..., sgid)``; ``sgid`` must be >= 0.

        Example::

            p.parallel.target_var(gap, gap._ref_vgap, 7)
        """
        self._transfer_key(args)
        return raising_hoc_errors("target_var", self._pc.target_var)(*args, **kwargs)

    def setup_transfer(self) -> Any:
        """NEURON's ``setup_transfer``; ``p.parallel.run`` calls it on every rank when needed.

        Example::

            p.parallel.setup_transfer()   # only when not running through p.run
        """
        self.network.transfer_pending = False
        return raising_hoc_errors("setup_transfer", self._pc.setup_transfer)()

    def _transfer_key(self, args: tuple) -> None:
        key = args[-1] if args else None
        if not isinstance(key, (int, float, np.integer, np.floating)) or key < 0:
            raise GidError(
                f"{rank_tag()} transfer keys (sgid) must be numbers >= 0, not {shown(key)}"
            )
        self.network.transfer_pending = True

    def spike_record(
        self, gids: Any = -1, time_vector: Any = None, gid_vector: Any = None
    ) -> tuple[Any, Any]:
        """Record the spikes of ``gids`` (-1: every gid registered so far; a gid; or a
        Vector, array or list of gids) into two Vectors, created when not given; returns
        ``(time_vector, gid_vector)``. A gid that is not an integer from 0 to 2**31 - 1
        is a ``GidError``.

        Example::

            tv, gv = p.parallel.spike_record()
        """
        tv = self._Vector() if time_vector is None else time_vector
        gv = self._Vector() if gid_vector is None else gid_vector
        recorded = self._recorded_gids(unwrap(gids))
        try:
            self.network.records.record(self._pc, recorded, unwrap(tv), unwrap(gv))
        except RuntimeError as exc:
            raise hoc_error(f"spike_record({shown(recorded)})", exc) from exc
        return tv, gv

    def _recorded_gids(self, gids: Any) -> Any:
        """``gids`` as NEURON's ``spike_record`` takes them (-1, a gid or a Vector of
        gids), each gid checked."""
        if isinstance(gids, self._Vector):
            as_gids(gids.as_numpy())
            return gids
        if is_gid(gids) or stands_for_gid(gids):
            return -1 if gids == -1 else as_gid(gids)
        return self._Vector(as_gids(gids))

    def gather_spikes(self, root: int | None = 0) -> spikes.Spikes | None:
        """Every rank's recorded spikes as a ``Spikes`` on ``root`` (None elsewhere); with
        ``root=None`` on every rank. Collective.

        Example::

            spikes = p.parallel.gather_spikes()
            if spikes is not None:
                print(len(spikes), spikes.digest())
        """
        self._check_subworld()
        return spikes.gather(self.network.records, self.comm, root)

    def save_spikes(
        self,
        path: str | os.PathLike,
        sorting: str = "by_time",
        population: str = "default",
        overwrite: bool = False,
    ) -> int:
        """Write every rank's recorded spikes to one SONATA spike file, each rank writing
        its share: no rank gathers them all. ``sorting`` is ``"by_time"`` (time, then gid),
        ``"by_id"`` (gid, then time) or ``"none"``; node ids are the gids. Returns the
        number of spikes written. An existing ``path`` is refused unless ``overwrite``; a
        failure on any rank raises on every rank and leaves no file. Collective.

        Example::

            p.parallel.run(1000)
            p.parallel.save_spikes("spikes.h5", population="brunel")
            # libsonata.SpikeReader("spikes.h5")["brunel"].get()
        """
        self._check_subworld()
        times, gids = self.network.records.local()
        return output.write_spikes(
            path, times, gids, sorting=sorting, population=population, overwrite=overwrite,
            comm=self.comm,
        )  # fmt: skip

    def report(
        self,
        name: str,
        gids: Iterable[int],
        variable: str = "v",
        *,
        dt: float,
        sections: str | Callable[[int], Iterable[Any]] = "soma",
        start: float = 0.0,
        stop: float | None = None,
        buffer_mib: float = 4.0,
        population: str = "default",
        path: str | os.PathLike | None = None,
        units: str | None = None,
        overwrite: bool = False,
    ) -> reports.Report:
        """Record the range variable ``variable`` (``"v"``, ``"ina"``, ``"cai"``, ...) of
        ``gids`` every ``dt`` ms (a multiple of ``h.dt``) from ``start`` to ``stop`` (the
        end of the run when None) into the SONATA report ``path`` (``<name>.h5``), written
        during ``p.parallel.run``. Each rank records the listed gids it owns.
        ``sections="soma"`` is a soma report: one value per cell, at its spike source's
        segment; ``"all"`` a compartment report of every segment of the cell's section
        tree; a function ``gid -> sections`` chooses the sections. Each rank buffers at
        most ``buffer_mib`` MiB (at least one spike-exchange interval) before it writes.
        The node id of a cell is its gid. Call before the first run. Collective.

        Raised on every rank, naming ``path``: ``GidError`` for a gid that is a cell on
        no rank (or not an integer); ``FileExistsError`` (unless ``overwrite``),
        ``FileNotFoundError`` or ``PermissionError`` for a path rank 0 cannot create;
        ``ValueError`` from the first ``run`` that would end before ``start``. A run that
        fails removes the file being written and drops the report.

        Example::

            p.parallel.report("soma_v", range(ncell), "v", dt=0.1)
            p.parallel.run(1000)    # soma_v.h5 is complete after each run
            # libsonata.SomaReportReader("soma_v.h5")["default"].get(node_ids=[0])
        """
        self._check_subworld()
        made = reports.Report(
            self._h, self.network, self.comm, reports.report_path(name, path), gids, variable,
            dt=dt, sections=sections, start=start, stop=stop, buffer_mib=buffer_mib,
            population=population, units=units, overwrite=overwrite,
        )  # fmt: skip
        self.network.reports.append(made)
        return made

    def run(
        self,
        tstop: float,
        v_init: float | None = None,
        progress: bool = False,
        strict: bool | None = None,
        quiet: bool = False,
        *,
        checkpoint: str | os.PathLike | None = None,
        every: float | None = None,
        engine: str | None = None,
    ) -> None:
        """parnrn's collective run, serial or parallel, with no other call: gid check,
        ``set_maxstep``, ``setup_transfer`` when any rank needs it, ``finitialize(v_init)``
        on the first run of the network, ``psolve(tstop)``. A second call continues from
        the current time (a ``tstop`` before it, or one NEURON cannot run to, is a
        ``ValueError`` on every rank before anything runs). ``progress`` shows a bar on
        rank 0; ``strict`` turns gid problems into ``GidError`` (default:
        ``settings.strict``). On several ranks rank 0 logs one line of the run report
        (load balance, imbalance) unless ``quiet``; its table per rank is logged at DEBUG
        and returned by ``run_report()``. Collective.

        Not stdrun's ``h.run`` (that is ``p.run``), and ``psolve`` stays NEURON's own: a
        script that calls ``h.finitialize``/``h.stdinit`` itself goes on with
        ``pc.psolve``.

        With ``checkpoint=path`` the run writes the checkpoint ``path`` every ``every`` ms
        (replacing the last one), and when the batch system's signal arrives
        (``settings.checkpoint_signal``, SIGUSR1 by default) the ranks stop together,
        write it and end the job with status 75; see ``checkpoint`` and ``restore``.

        ``engine="coreneuron"`` runs the model with CoreNEURON (same spikes, faster; see
        docs/coreneuron.md): what CoreNEURON cannot run (CVode, LinearMechanism,
        extracellular, event callbacks, sampled ``Vector.record``, variable reports,
        mechanisms it lacks) is an ``EngineError`` on every rank before the run, naming
        where it is. Default: ``settings.engine``, else NEURON (or CoreNEURON when the
        script set ``neuron.coreneuron.enable = True``). Not with ``checkpoint=``.

        Example::

            p.parallel.run(100)
            p.parallel.run(200)   # continues from t = 100
            p.parallel.run(10_000, checkpoint="ckpt", every=1000)   # survives the walltime
            p.parallel.run(300, engine="coreneuron")   # continues with CoreNEURON
        """
        self._check_subworld()
        if checkpoint is None:
            if every is not None:
                raise ValueError(f"{rank_tag()} run: every= needs checkpoint=path")
            self._run(tstop, v_init, progress, strict, quiet, engine)
            return
        if engines.chosen(engine) == "coreneuron":
            raise ValueError(
                f"{rank_tag()} run: checkpoint= needs the engine 'neuron' (NEURON's "
                f"BBSaveState saves NEURON's state, not CoreNEURON's): run with "
                f"engine='neuron', or without checkpoint="
            )

        def run_to(stop: float) -> None:
            self._run(stop, v_init, progress, strict, quiet, engine)

        checkpoints.run_saving(
            run_to, self.network, self._h, self.comm, tstop, os.fspath(checkpoint), every
        )

    def _run(
        self,
        tstop: float,
        v_init: Any,
        progress: bool,
        strict: bool | None,
        quiet: bool,
        engine: str | None,
    ) -> None:
        self._run_report = raising_hoc_errors(f"run({tstop})", run.run)(
            self.network, self._h, self._pc, self.comm, tstop, v_init, progress, strict, quiet,
            engine,
        )  # fmt: skip

    def checkpoint(self, path: str | os.PathLike, replace: bool = False) -> None:
        """Save the running network into the directory ``path``, at the current ``t``
        (after ``p.parallel.run``), with NEURON's ``BBSaveState``: every gid's state, the
        spikes recorded so far and a manifest of the model, restorable on any number of
        ranks. ``path`` appears only when every rank has written its part. Collective.

        Sections must belong to cell objects (``h.Section(name="soma", cell=self)``), as
        BBSaveState finds a gid's state through its cell; ``PatternStim`` and ``VecStim``
        cannot be saved. Each is a ``ParallelError`` on every rank naming it, as is any
        rank's failure while writing; ``FileExistsError`` for an existing ``path`` unless
        ``replace``. Variable reports are not part of a checkpoint: after a restore, a new
        report records from the restored time.

        Example::

            p.parallel.run(500)
            p.parallel.checkpoint("ckpt-500")
        """
        self._check_subworld()
        checkpoints.save(self.network, self._h, self.comm, os.fspath(path), replace)

    def restore(self, path: str | os.PathLike, missing_ok: bool = False) -> float | None:
        """Restore the checkpoint ``path`` into the model just built (the same model, by
        the same code, on any number of ranks and any distribution of the gids), before its
        first run; ``p.parallel.run(tstop)`` then continues from the checkpoint's time, and
        ``gather_spikes`` includes the spikes from before it. Returns that time; None
        when ``missing_ok`` and there is no checkpoint at ``path``. Collective.

        Raised on every rank before NEURON reads anything: ``FileNotFoundError``;
        ``ParallelError`` naming each difference between the model and the checkpoint (a
        gid missing, another section count, other mechanisms, another ``dt``).

        Example::

            build_model()
            p.parallel.restore("ckpt", missing_ok=True)   # the one line a restart needs
            p.parallel.run(10_000, checkpoint="ckpt", every=1000)
        """
        self._check_subworld()
        path = os.path.abspath(os.fspath(path))
        if missing_ok and not transport.broadcast(os.path.exists(path), 0, self.comm):
            return None
        return checkpoints.restore(self.network, self._h, self._pc, self.comm, path)

    def map(
        self,
        fn: Any,
        items: Iterable[Any] | None,
        *,
        ranks_per_task: int = 1,
        ordered: bool = True,
        chunksize: int = 1,
        timeout: float | None = None,
        return_exceptions: bool = False,
        results_everywhere: bool = False,
        progress: bool | None = None,
    ) -> list[Any] | None:
        """``[fn(item) for item in items]`` spread over the ranks of the job: a parameter
        sweep, or the ``map`` of an optimiser. Collective: every rank calls it.

        ``fn`` and ``items`` are taken from rank 0 (other ranks may pass None) and sent to
        every rank (``fn`` by reference when every rank can import it, else by value with
        cloudpickle, as the items): an unpicklable one is a ``BroadcastError`` on every
        rank before any task runs. Items are handed out dynamically, ``chunksize`` at a
        time, to subworlds of ``ranks_per_task`` ranks (``pc.subworlds``, rank 0 working
        too); inside ``fn``, ``p.parallel`` acts on the task's subworld (its ranks, gids,
        ``ParallelCon``, ``run``, ``gather_spikes``, collectives), and a task's result is
        what ``fn`` returns on its subworld's rank 0. NEURON's gids are cleared and the
        sections a task left are deleted before the next task; afterwards the world is
        whole again (though NEURON's bulletin board then sees it as one subworld: use
        ``pc.submit`` before ``map``, not after).

        Returns, on rank 0, the results in item order (``ordered=False``: in the order
        they finished); None on the other ranks, or the same list with
        ``results_everywhere=True``. An exception in a task does not stop the others: at
        the end every rank raises ``TaskError`` naming each failed item (index, repr,
        rank, traceback), with the finished results in ``.results``; with
        ``return_exceptions=True`` the exceptions stand in the results instead. A task
        running past ``timeout`` seconds fails with ``TimeoutError`` (interrupted at the
        next Python line with ``ranks_per_task=1``; with more ranks it runs to its end).
        ``progress`` shows a bar on rank 0 (default: when stderr is a terminal).

        Example::

            def simulate(weight):
                cells = build_ring(weight)               # p.ParallelCon, distribute, ...
                p.parallel.run(200)                      # on this task's subworld
                spikes = p.parallel.gather_spikes()      # on the subworld's rank 0
                return None if spikes is None else len(spikes)

            counts = p.parallel.map(simulate, weights, ranks_per_task=2)
        """
        return sweep.sweep(
            self,
            fn,
            items,
            ranks_per_task,
            ordered,
            chunksize,
            timeout,
            return_exceptions,
            results_everywhere,
            progress,
        )

    def allmap(self, fn: Any, items: Iterable[Any] | None, **options: Any) -> list[Any]:
        """``map`` that returns the results on every rank (``results_everywhere=True``):
        the ``map_function`` of an optimiser that every rank runs, such as BluePyOpt's or
        DEAP's, which needs the fitness values on every rank to stay in step. The other
        options are ``map``'s. As ``gather`` is to ``allgather``.

        Example::

            optimisation = bluepyopt.optimisations.DEAPOptimisation(
                evaluator, offspring_size=64, seed=1, map_function=p.parallel.allmap
            )
        """
        if "results_everywhere" in options:
            raise TypeError(
                f"{rank_tag()} p.parallel.allmap always returns the results on every rank; "
                f"it takes no results_everywhere (use map for results on rank 0 only)"
            )
        return self.map(fn, items, results_everywhere=True, **options)

    def random_stream(self, gid: int, stream: int = 0, *, seed: int | None = None) -> Any:
        """A NEURON ``Random`` on Random123 whose ids come from (the job's seed, ``gid``,
        ``stream``): the same numbers on any rank and any number of ranks. Set its
        distribution as usual. ``stream`` tells apart the uses of randomness on one cell
        (0 .. 2**32 - 1); ``seed`` overrides the job's (``configure(seed=...)``). The
        keying scheme is in docs/randomness.md.

        Example::

            weights = p.parallel.random_stream(gid, stream=1)
            weights.uniform(0.01, 0.02)
            nc.weight[0] = weights.repick()
        """
        ids = randomness.stream_ids(gid, stream, seed)
        return randomness.neuron_random(self._h, ids)

    def numpy_rng(
        self, gid: int, stream: int = 0, *, seed: int | None = None
    ) -> np.random.Generator:
        """A numpy ``Generator`` (Philox, counter-based) keyed by (the job's seed, ``gid``,
        ``stream``) as ``random_stream`` is: the same numbers on any rank and any number
        of ranks.

        Example::

            rng = p.parallel.numpy_rng(gid)
            sources = rng.integers(0, ncell, size=10)
        """
        return randomness.numpy_generator(randomness.stream_ids(gid, stream, seed))

    def noise(self, netstim: Any, gid: int, stream: int = 0, *, seed: int | None = None) -> Any:
        """Key ``netstim``'s noise by (the job's seed, ``gid``, ``stream``)
        (``noiseFromRandom123``), so that its spikes do not depend on the rank it lives
        on; returns it. Without this, a NetStim with ``noise > 0`` draws from NEURON's
        default stream, which does (the run warns).

        Example::

            drive = p.NetStim()
            drive.interval, drive.number, drive.noise = 5, 1e9, 1
            p.parallel.noise(drive, gid)
        """
        return randomness.wire_noise(unwrap(netstim), randomness.stream_ids(gid, stream, seed))

    def run_report(self) -> runreport.RunReport | None:
        """The report of the last ``run`` on rank 0 (computation and wait per rank, load
        balance, imbalance; see docs/balance.md), None on the other ranks and before a run.

        Example::

            p.parallel.run(100, quiet=True)
            report = p.parallel.run_report()
            if report is not None:
                print(report.table())
                report.plot("balance.png")
        """
        return self._run_report

    def finitialize(self, v_init: float | None = None) -> None:
        """The run's set-up (as in ``run``), then ``h.finitialize``; a following ``run``
        continues from here instead of initializing again. Collective.

        Example::

            p.parallel.finitialize(-65)
            p.parallel.run(100)
        """
        self._check_subworld()
        with transport.collective(self.comm):  # a bad value on one rank: raised on all
            run.check_v_init(v_init)
            run.check_dt(self._h)
        run.prepare(self.network, self._h, self._pc, self.comm)
        run.finitialize(self.network, self._h, v_init)

    def broadcast(self, data: Any, root: int = 0) -> Any:
        """Send ``data`` from ``root`` to every rank and return it there.

        A NEURON Vector is resized and filled in place on every rank (and returned);
        other HocObjects raise ``BroadcastError`` on every rank; anything else picklable
        is returned. Collective.

        Example::

            params = p.parallel.broadcast(load_params() if p.parallel.rank == 0 else None)
        """
        mine = unwrap(data)
        sent = _sendable(mine, self._Vector) if self._rank == root else None
        received = transport.broadcast(sent, root, self.comm)
        if self._rank == root:
            return data
        if isinstance(received, _VectorPayload):
            vector = mine if isinstance(mine, self._Vector) else self._Vector()
            vector.from_python(received.values)
            return data if vector is mine else vector
        return received

    def broadcast_into(self, array: np.ndarray, root: int = 0) -> np.ndarray:
        """Overwrite ``array`` on every rank with the root's, in place, at raw MPI speed
        (see ``parnrn.transport.broadcast_into``). Collective.

        Example::

            table = np.empty(1000)
            p.parallel.broadcast_into(table, root=0)
        """
        return transport.broadcast_into(array, root, self.comm)

    def gather(self, obj: Any, root: int = 0) -> list[Any] | None:
        """One object from every rank, as a list on ``root`` (None elsewhere).

        Example::

            counts = p.parallel.gather(len(my_cells))   # [..] on rank 0, None elsewhere
        """
        return transport.gather(obj, root, self.comm)

    def allgather(self, obj: Any, vector: Any = None) -> Any:
        """One object from every rank, as a list on every rank. NEURON's form
        ``allgather(x, vector)`` fills ``vector`` with the numbers instead.

        Example::

            loads = p.parallel.allgather(len(my_cells))   # the same list on every rank
        """
        values = transport.allgather(obj, self.comm)
        if vector is None:
            return values
        unwrap(vector).from_python(np.asarray(values, dtype=float))
        return vector

    def scatter(self, seq: Sequence[Any] | None, root: int = 0) -> Any:
        """Item i of ``seq`` (given on ``root``) to rank i.

        Example::

            mine = p.parallel.scatter(chunks if p.parallel.rank == 0 else None)
        """
        return transport.scatter(seq, root, self.comm)

    def allreduce(self, value: Any, op: Any = "sum") -> Any:
        """Combine one value per rank (``"sum"``, ``"max"``, ``"min"``, ... or NEURON's 1,
        2, 3); a NEURON Vector is combined elementwise in place.

        Example::

            total = p.parallel.allreduce(len(my_spikes), "sum")
        """
        op = _HOC_REDUCTIONS.get(op, op) if isinstance(op, (int, str)) else op
        vector = unwrap(value)
        if isinstance(vector, self._Vector):
            vector.from_python(transport.allreduce(vector.as_numpy().copy(), op, self.comm))
            return value
        return transport.allreduce(value, op, self.comm)

    def allreduce_into(self, array: np.ndarray, op: str = "sum") -> np.ndarray:
        """Combine ``array`` across ranks in place, at raw MPI speed (see
        ``parnrn.transport.allreduce_into``). Collective.

        Example::

            counts = np.zeros(ncell)
            p.parallel.allreduce_into(counts)
        """
        return transport.allreduce_into(array, op, self.comm)

    def barrier(self) -> None:
        """Wait for every rank (guarded against mismatches and timeouts).

        Example::

            p.parallel.barrier()
        """
        transport.barrier(self.comm)

    def collective(self) -> transport.collective:
        """``with p.parallel.collective():`` any rank's exception is raised on every rank.

        Example::

            with p.parallel.collective():
                cells = build_my_cells()
        """
        return transport.collective(self.comm)


def _sendable(data: Any, vector_type: Any) -> Any:
    """What the root broadcasts for ``data``."""
    from neuron import hoc

    if isinstance(data, vector_type):
        return _VectorPayload(data.as_numpy())
    if isinstance(data, hoc.HocObject):
        return _Unsendable(
            f"NEURON {data.hname()} cannot be broadcast: only Vectors can; create the object "
            f"on every rank instead"
        )
    return data


def ParallelCon(a: Any, b: Any, output: bool = True, **netcon_kw: Any) -> Any:
    """Connect across ranks; exactly one of ``a``, ``b`` is an integer gid.

    - ``ParallelCon(source, gid, output=True, threshold=None, **netcon_kw)``: this rank owns
      ``gid`` and sends the spikes ``source`` fires (a transmitter). A NetCon given as
      ``source`` keeps its own threshold unless ``threshold=`` is given; for anything else
      a new NetCon watches it with ``threshold`` (default -20 mV).
    - ``ParallelCon(gid, target, weight=..., delay=...)``: ``target`` receives the spikes of
      ``gid``, wherever it lives (a receiver). The receiving NetCon's threshold is never
      set: that would change the shared source (NEURON issue #2135).

    A gid that is not an integer from 0 to 2**31 - 1 (``1.5``, ``"3"``) is a ``GidError``.

    Returns the NetCon. Example::

        p.ParallelCon(soma, gid)                                   # transmit
        p.ParallelCon((gid - 1) % ncell, synapse, weight=0.05, delay=1)   # receive
    """
    pc = ParallelContext._instance or ParallelContext()
    a_gid, b_gid = is_gid(a), is_gid(b)
    if not (a_gid or b_gid):  # no integer: a number or a string stands for the gid
        a_gid, b_gid = stands_for_gid(a), stands_for_gid(b)
    if a_gid and not b_gid:
        if "threshold" in netcon_kw:
            raise ParallelConnectError(
                f"{rank_tag()} a receiving ParallelCon cannot set a threshold: it would "
                f"change the shared source of gid {a} (NEURON issue #2135); set it on the "
                f"transmitter"
            )
        return pc.gid_connect(a, b, **netcon_kw)
    if b_gid and not a_gid:
        threshold = netcon_kw.pop("threshold", None)
        return pc.register(b, a, threshold=threshold, output=output, **netcon_kw)
    raise ParallelConnectError(
        f"{rank_tag()} ParallelCon needs exactly one integer gid, as ParallelCon(source, "
        f"gid) or ParallelCon(gid, target); got {type(a).__name__} and {type(b).__name__}"
    )
