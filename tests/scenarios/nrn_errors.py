"""Failures inside NEURON on one rank, with NEURON's MPI running on every rank."""

import sys
import time

from _scenario import failing_now, setup

import parnrn
from parnrn import runtime
from parnrn.hocerror import HocError, hoc_errors
from parnrn.watchdog import watchdog

rt, mode, bad = setup()
if mode == "nhost_mismatch":
    failing_now()
h, pc = runtime.neuron_context()
if mode == "hoc_caught":
    if rt.rank == bad:
        try:
            with hoc_errors("gid_connect"):
                pc.gid_connect(5, None)
        except HocError as exc:
            print(f"caught: {exc}", flush=True)
    pc.barrier()
    print(f"rank {rt.rank} finished", flush=True)
elif mode == "hoc_uncaught":
    if rt.rank == bad:
        failing_now()
        pc.gid_connect(5, None)
    pc.barrier()
elif mode == "barrier_stuck":
    parnrn.configure(timeout=1.0)
    if rt.rank == bad:
        time.sleep(60)
    failing_now(delay=1.0)
    with watchdog("pc.barrier"):
        pc.barrier()
elif mode == "psolve_event":
    soma = h.Section(name="soma")
    soma.insert("hh")
    pc.set_gid2node(rt.rank, rt.rank)
    pc.cell(rt.rank, h.NetCon(soma(0.5)._ref_v, None, sec=soma))
    pc.set_maxstep(1)

    def callback():
        if rt.rank == bad:
            failing_now()
            raise ValueError(f"event callback failed on rank {rt.rank}")

    handler = h.FInitializeHandler(lambda: h.CVode().event(2.0, callback))
    h.finitialize(-65)
    with watchdog("psolve"):
        pc.psolve(10)
else:
    sys.exit(f"unknown mode {mode}")
