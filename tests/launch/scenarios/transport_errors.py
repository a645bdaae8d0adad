"""Failures inside parnrn collectives: each must reach every rank.

Every rank prints what it caught, then all re-raise it (uncaught, the job aborts).
"""

import threading
import time

from _scenario import failing_now, setup

import parnrn
from parnrn.transport import allreduce, barrier, broadcast, collective, gather


class SlowToLoad:
    """Loads in 30 s on the bad rank: a receiver stuck in ``__setstate__``."""

    def __init__(self):
        self.state = "some"

    def __setstate__(self, state):
        here, _, slow = setup()  # looked up where it loads: this class travels by value
        if here.rank == slow:
            time.sleep(30)


class CallsACollective:
    """Pickling it starts another collective, on the pickling rank only."""

    def __reduce__(self):
        barrier()
        return (CallsACollective, ())


class SlowToPickle:
    """Pickles in 30 s on the bad rank: a rank slow to send its part of an allreduce, while
    its partner waits for it in the data phase, past the agreement."""

    def __reduce__(self):
        if rt.rank == bad:
            time.sleep(30)
        return (int, (rt.rank,))  # an int on arrival: the class never travels


def combine_slowly(mine, theirs):
    """Rank 0 combines what the others send: slow there when it is the bad rank."""
    if rt.rank == bad:
        time.sleep(30)
    return mine


# A rank is still asleep in these.
SLEEPERS = ("never_arrives", "slow_load", "slow_allreduce", "timeout_caught", "timeout_caught_end")
rt, mode, bad = setup()
if mode in SLEEPERS:
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
    elif mode in ("timeout_caught", "timeout_caught_end"):  # then the same communicator
        if rt.rank == bad:
            time.sleep(60)
        failing_now(delay=1.0)
        try:
            broadcast("payload")
        except parnrn.CollectiveTimeoutError:
            print(f"rank {rt.rank} caught the timeout and goes on", flush=True)
        if mode == "timeout_caught":
            broadcast("again")
    elif mode == "collective_in_reduce":
        if rt.rank == bad:
            failing_now()
        broadcast(CallsACollective() if rt.rank == bad else None, root=bad)
    elif mode == "slow_load":  # the root's wait for the receivers is bounded too
        root = 1 if bad == 0 else 0
        if rt.rank == root:
            failing_now(delay=1.0)
        broadcast(SlowToLoad() if rt.rank == root else None, root=root)
    elif mode == "slow_allreduce":
        if rt.rank != bad:
            failing_now(delay=1.0)
        allreduce(SlowToPickle(), combine_slowly)
    elif mode in ("second_thread", "second_thread_in_thread"):
        # On the bad rank a thread waits in a barrier (the others are late) while another
        # calls a collective on the same communicator: the main thread, or one of its own.
        if rt.rank == bad:
            threading.Thread(target=barrier, name="waiter", daemon=True).start()
            time.sleep(0.2)
            failing_now()
            if mode == "second_thread":
                broadcast("payload")
            else:
                second = threading.Thread(target=broadcast, args=("payload",), name="second")
                second.start()
                second.join()
        else:
            time.sleep(1.0)
            barrier()
            broadcast("payload")
    elif mode == "collective_block":
        with collective():
            if rt.rank == bad:
                failing_now()
                raise ValueError(f"scenario failure on rank {rt.rank}")
except Exception as exc:
    print(f"rank {rt.rank} caught {type(exc).__name__}: {exc}", flush=True)
    if mode not in SLEEPERS:
        barrier()
    raise
print(f"rank {rt.rank} finished", flush=True)
