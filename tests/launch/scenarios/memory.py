"""One rank is short of memory (``RLIMIT_AS``, as ``ulimit -v`` sets it) when large data
arrives: it must raise on that rank (a bare array), or on every rank (an object whose
loading every rank confirms), and every rank stays in step.

Every rank prints what it got or caught, then all meet in a barrier and finish.
"""

import resource

import numpy as np
from _scenario import failing_now, setup

from parnrn.transport import allgather, barrier, broadcast, gather, scatter

BIG = 1 << 28  # 256 MiB: far beyond the bad rank's headroom
HEADROOM = 96 << 20  # room to work and to drain through a scratch buffer

rt, mode, bad = setup()
other = 1 if bad == 0 else 0
big = np.ones(BIG // 8)
if rt.rank == bad:
    del big
    pages = int(open("/proc/self/statm").read().split()[0])
    limit = pages * resource.getpagesize() + HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))
    failing_now()
try:
    if mode == "broadcast":
        got = broadcast(big if rt.rank == other else None, root=other)
    elif mode == "broadcast_object":
        got = broadcast({"big": big} if rt.rank == other else None, root=other)
    elif mode == "gather":  # the short rank is the root, receiving from every rank
        got = gather(None if rt.rank == bad else big, root=bad)
    elif mode == "allgather":
        got = allgather(None if rt.rank == bad else big)
    elif mode == "scatter":
        got = scatter([big] * rt.size if rt.rank == other else None, root=other)
    print(f"rank {rt.rank} got {type(got).__name__}", flush=True)
except Exception as exc:
    print(f"rank {rt.rank} caught {type(exc).__name__}: {exc}", flush=True)
barrier()
print(f"rank {rt.rank} finished", flush=True)
