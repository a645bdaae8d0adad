"""f-I curve on the bulletin board, in the shape of the NEURON course's batch run.

Every rank loads stdrun and enters ``pc.runworker()``; the master submits one task per
stimulus amplitude; a task builds (once per process) a one-compartment hh cell, sets the
IClamp amplitude, runs ``h.run()`` to ``h.tstop`` and returns the spike count and first
spike time. The master collects with ``while pc.working(): pc.pyret()``, prints the curve
and calls ``pc.done()``. ``--quit`` adds ``h.quit()`` at the end; ``--run-arg`` makes the
tasks call ``h.run(h.tstop)`` (stdrun's ``run`` ignores the argument).

Without ``--quit`` the master must end with MPI finalized for the workers, which
``pc.done()`` sent into ``MPI_Finalize``, to be released: so the raw form imports mpi4py
first (``RAW_MPI_SETUP=mpi4py``, the default here; ``nrnmpi_init`` alone leaves rank 0
exiting without ``MPI_Finalize``, and mpiexec then kills the workers, at random).

Forms and set-up: see README.md in this directory.
"""

import sys

from _forms import setup

h, pc, _ = setup()
h.load_file("stdrun.hoc")

AMPS = [round(0.05 * i, 2) for i in range(9)]  # nA
RUN_ARG = "--run-arg" in sys.argv
_cell = None


class Cell:
    def __init__(self):
        self.soma = h.Section(name="soma")
        self.soma.L = self.soma.diam = 20
        self.soma.insert("hh")
        self.stim = h.IClamp(self.soma(0.5))
        self.stim.delay, self.stim.dur = 5, 100
        self.spikes = h.Vector()
        self.nc = h.NetCon(self.soma(0.5)._ref_v, None, sec=self.soma)
        self.nc.threshold = 0
        self.nc.record(self.spikes)


def fi(amp):
    """One task: the spike count and first spike time for ``amp``."""
    global _cell
    if _cell is None:
        _cell = Cell()
    _cell.stim.amp = amp
    h.tstop = 60
    if RUN_ARG:
        h.run(h.tstop)
    else:
        h.run()
    first = round(_cell.spikes[0], 6) if len(_cell.spikes) else None
    return amp, len(_cell.spikes), first


pc.runworker()
# From here on only the master runs: the workers leave inside runworker at pc.done().
for amp in AMPS:
    pc.submit(fi, amp)
curve = []
while pc.working():
    curve.append(pc.pyret())
print(f"RESULT bulletin_fi nhost={int(pc.nhost())}", flush=True)
for amp, count, first in sorted(curve):
    print(f"RESULT bulletin_fi amp {amp:.2f} nA: {count} spikes, first at {first}", flush=True)
pc.done()
if "--quit" in sys.argv:
    h.quit()
