"""``p``: NEURON's ``h`` with parnrn's parallel layer on top.

Every attribute parnrn does not define comes from ``neuron.h`` (``p.Section``,
``p.NetCon``, ``p.dt = 0.025``, ...). Added: ``p.parallel`` (the process's
``ParallelContext`` wrapper), ``p.ParallelCon``, ``p.run`` and a ``p.finitialize`` that does
the run's set-up first. NEURON (and its MPI) starts on first use, not on import.
"""

from __future__ import annotations

from typing import Any

from .context.parallel import ParallelCon, ParallelContext
from .runtime import neuron_context


class Interpreter:
    """The type of ``p``.

    Example::

        from parnrn import p

        soma = p.Section(name="soma")
        p.ParallelCon(soma, 0)
        p.run(100)
    """

    ParallelCon = staticmethod(ParallelCon)

    def __getattr__(self, name: str) -> Any:
        return getattr(neuron_context()[0], name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(neuron_context()[0], name, value)

    def __dir__(self) -> list[str]:
        return sorted(set(dir(type(self))) | set(dir(neuron_context()[0])))

    @property
    def parallel(self) -> ParallelContext:
        """The process's ``ParallelContext`` wrapper.

        Example::

            my_gids = p.parallel.distribute(range(100))
        """
        return ParallelContext()

    def ParallelContext(self) -> ParallelContext:
        """The same wrapper as ``p.parallel`` (never a second ParallelContext).

        Example::

            pc = p.ParallelContext()   # code written for h.ParallelContext() keeps working
        """
        return ParallelContext()

    def run(
        self,
        tstop: float,
        v_init: float | None = None,
        progress: bool = False,
        strict: bool | None = None,
    ) -> None:
        """Run the network to ``tstop`` ms, serial or parallel, with no other call:
        gid check, ``set_maxstep``, ``setup_transfer`` when any rank needs it,
        ``finitialize(v_init)`` on the first run, ``psolve``. A second ``run`` continues
        from the current time. ``progress`` shows a bar on rank 0; ``strict`` turns gid
        problems into ``GidError`` (default: ``settings.strict``). Collective.

        Example::

            p.run(100)
            p.run(200)   # continues from t = 100
        """
        ParallelContext().psolve(tstop, v_init, progress, strict)

    def finitialize(self, v_init: float | None = None) -> None:
        """The run's set-up (as in ``run``), then ``h.finitialize``; a following ``run``
        continues from here instead of initializing again. Collective.

        Example::

            p.finitialize(-65)
            p.run(100)
        """
        ParallelContext().finitialize(v_init)


p = Interpreter()
