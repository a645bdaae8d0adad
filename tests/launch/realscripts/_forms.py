"""The set-up every real-script shape shares: NEURON, and parnrn as the form asks.

``setup()`` reads ``PARNRN_DROPIN`` (see README.md): ``"1"`` imports parnrn first,
``"p"`` uses ``from parnrn import p`` as ``h``, ``"pc"`` uses ``p.parallel`` as ``pc``,
empty is raw NEURON (and the runner form, where the script never imports parnrn). Then
NEURON is set up the raw way, ``RAW_MPI_SETUP`` choosing between importing mpi4py first
and leaving MPI to ``h.nrnmpi_init()``.
"""

import os


def setup(raw_mpi_default: str = "mpi4py"):
    """Return ``(h, pc, form)`` for this run's form."""
    form = os.environ.get("PARNRN_DROPIN", "")
    if form == "1":
        import parnrn  # noqa: F401  (before NEURON: that is the drop-in)
    elif form in ("p", "pc"):
        from parnrn import p
    if os.environ.get("RAW_MPI_SETUP", raw_mpi_default) == "mpi4py":
        from mpi4py import MPI  # noqa: F401
    from neuron import h

    if form == "p":
        h = p
    h.nrnmpi_init()
    pc = p.parallel if form == "pc" else h.ParallelContext()
    return h, pc, form
