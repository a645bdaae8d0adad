"""Failures inside parnrn collectives: each must reach every rank.

Every rank prints what it caught, then all re-raise it (uncaught, the job aborts).
"""

import threading
import time

from _scenario import failing_now, setup

import parnrn
from parnrn.transport import barrier, broadcast, collective, gather

rt, mode, bad = setup()
if mode == "never_arrives":
    parnrn.configure(timeout=1.0)
try:
    if mode == "broadcast_unpicklable":
        if rt.rank == bad:
            failing_now()
        broadcast(threading.Lock() if rt.rank == bad else None, root=bad)
    elif mode == "gather_unpicklable":
        if rt.rank == bad:
            failing_now()
        gather(threading.Lock() if rt.rank == bad else rt.rank, root=0)
    elif mode == "mismatch":
        failing_now()
        if rt.rank == bad:
            gather(rt.rank)
        else:
            broadcast(rt.rank)
    elif mode == "never_arrives":
        if rt.rank == bad:
            time.sleep(60)
        failing_now(delay=1.0)
        broadcast("payload")
    elif mode == "collective_block":
        with collective():
            if rt.rank == bad:
                failing_now()
                raise ValueError(f"scenario failure on rank {rt.rank}")
except Exception as exc:
    print(f"rank {rt.rank} caught {type(exc).__name__}: {exc}", flush=True)
    if mode != "never_arrives":  # there a rank is still asleep
        barrier()
    raise
print(f"rank {rt.rank} finished", flush=True)
