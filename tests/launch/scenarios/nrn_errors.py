"""Failures inside NEURON on one rank, with NEURON's MPI running on every rank."""

import sys
import time

from _scenario import failing_now, setup

import parnrn
from parnrn import runtime
from parnrn.failfast.watchdog import watchdog
from parnrn.hocerror import HocError, hoc_errors

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
elif mode in ("psolve_event", "psolve_stuck", "psolve_event_caught"):
    from parnrn import p

    if mode == "psolve_stuck":
        parnrn.configure(timeout=1.0)
    soma = p.Section(name="soma")
    soma.insert("hh")
    p.ParallelCon(soma, rt.rank)

    def callback():
        if rt.rank != bad:
            return
        if mode == "psolve_stuck":  # the others wait for it in the spike exchange
            failing_now(delay=1.0)
            time.sleep(60)
        failing_now()
        raise ValueError(f"event callback failed on rank {rt.rank}")

    handler = p.FInitializeHandler(lambda: p.CVode().event(2.0, callback))
    try:
        p.parallel.run(10)
    except Exception as exc:
        if mode != "psolve_event_caught":
            raise
        print(f"rank {rt.rank} caught {type(exc).__name__} and goes on", flush=True)
        p.parallel.barrier()
elif mode == "finitialize_stuck":  # the others wait for it in NEURON's spike exchange
    from parnrn import p

    parnrn.configure(timeout=1.0)
    soma = p.Section(name="soma")
    p.ParallelCon(soma, rt.rank)

    def stuck():
        if rt.rank == bad:
            time.sleep(60)

    failing_now(delay=1.0)
    handler = p.FInitializeHandler(stuck)
    p.parallel.run(10)
elif mode == "quit_one_rank":  # NEURON's MPI_Finalize on one rank, the others in a broadcast
    from parnrn import transport

    if rt.rank == bad:
        failing_now()
        h.quit()
    transport.broadcast("payload")
elif mode == "run_mismatch":  # tstop read on one rank only
    from parnrn import p

    soma = p.Section(name="soma")
    p.ParallelCon(soma, rt.rank)
    try:
        if rt.rank == bad:
            failing_now()
        p.parallel.run(50 if rt.rank == bad else 100)
    except Exception as exc:
        print(f"rank {rt.rank} caught {type(exc).__name__}: {exc}", flush=True)
        raise
elif mode == "zero_delay":  # one rank receives with delay 0: no usable spike exchange
    from parnrn import p

    soma = p.Section(name="soma")
    soma.insert("hh")
    p.ParallelCon(soma, rt.rank)
    syn = p.ExpSyn(soma(0.5))
    source = (rt.rank + 1) % rt.size
    nc = p.ParallelCon(source, syn, delay=0.0 if rt.rank == bad else 1.0)
    try:
        if rt.rank == bad:
            failing_now()
        p.parallel.run(10)
    except Exception as exc:
        print(f"rank {rt.rank} caught {type(exc).__name__}: {exc}", flush=True)
        raise
else:
    sys.exit(f"unknown mode {mode}")
