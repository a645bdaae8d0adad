"""``p``: NEURON's ``h`` with parnrn's parallel layer on top.

Every name of ``h`` means exactly what it means in NEURON (``p.Section``, ``p.NetCon``,
``p.dt = 0.025``, and stdrun's ``p.run``, ``p.stdinit``, ``p.continuerun``). Added:
``p.parallel`` (the process's ``ParallelContext`` wrapper, whose ``run`` is parnrn's
collective run) and ``p.ParallelCon``; ``p.ParallelContext()`` returns the same wrapper,
which passes every NEURON method through. NEURON (and its MPI) starts on first use, not on
import.
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
        p.parallel.run(100)
    """

    ParallelCon = staticmethod(ParallelCon)
    """``p.ParallelCon(...)`` is ``parnrn.ParallelCon``: connect across ranks (see
    Connecting below)."""

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


p = Interpreter()
