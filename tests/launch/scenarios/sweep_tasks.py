"""Sweeps whose tasks fail: ``python sweep_tasks.py MODE RANKS_PER_TASK``.

``failures``: of 10 items, item 3 raises ValueError (on the subworld's last rank), item 5
is a hoc error (``execerror``), item 6 touches a deleted section and item 7 runs past the
timeout; every rank prints what it caught, rank 0 the finished results, then a second map
runs on the same ranks. ``exceptions``: the same with ``return_exceptions=True``.
``collective``: item 2 fails on the subworld's last rank while the others wait for it in
``p.parallel.broadcast``. ``run_error``: item 1's ``p.parallel.run`` raises (a NEURON
callback fails). ``unpicklable_fn`` / ``unpicklable_items``: map is given a
lock; every rank prints what it caught and that no task ran. ``leftover``: tasks keep
their sections in a global. ``stuck``: with a collective timeout of 1 s, item 0 never
ends on its subworld's rank 1, which the subworld's other rank waits for.
"""

import os
import sys
import threading
import time

from neuron import h

from parnrn import BroadcastError, TaskError, configure, p

mode, ranks_per_task = sys.argv[1], int(sys.argv[2])
world_rank = int(h.ParallelContext().id_world())
ran = []


def task(item):
    ran.append(item)
    last = p.parallel.rank == p.parallel.size - 1
    if item == 3 and last:
        raise ValueError(f"bad parameter {item}")
    if item == 5:
        h.execerror("hoc refuses item 5")
    if item == 6:
        soma = h.Section(name="doomed")
        h.delete_section(sec=soma)
        soma.L = 10
    if item == 7:
        time.sleep(2.5 if ranks_per_task > 1 else 300)  # interrupted at 1.5 s when alone
    return item * item


def say(text):
    """One whole line in one write: mpiexec merges the ranks' output."""
    sys.stdout.flush()
    os.write(1, f"@{world_rank} {text}\n".encode())


if mode in ("failures", "exceptions"):
    try:
        results = p.parallel.map(
            task, range(10), ranks_per_task=ranks_per_task, timeout=1.5,
            return_exceptions=mode == "exceptions",
        )  # fmt: skip
    except TaskError as error:
        say(f"TaskError {len(error.tasks)} failed")
        for failure in error.tasks:
            say(f"failed {failure.index} {failure.type_name} rank {failure.rank} {failure.item}")
        if error.results is not None:
            say(f"finished {sorted(error.results.items())}")
        if world_rank == 0:
            say(str(error))
    else:
        if results is not None:
            say("results " + " ".join(type(r).__name__ if isinstance(r, Exception) else str(r)
                                      for r in results))  # fmt: skip
    again = p.parallel.map(lambda x: x + 1, range(5), ranks_per_task=ranks_per_task)
    say(f"second map {again} world {p.parallel.rank}/{p.parallel.size}")
elif mode in ("unpicklable_fn", "unpicklable_items"):
    lock = threading.Lock()
    fn, items = (lambda x: lock, [1, 2]) if mode == "unpicklable_fn" else (task, [lock])
    try:
        p.parallel.map(fn, items, ranks_per_task=ranks_per_task)
    except BroadcastError as error:
        say(f"BroadcastError {error}")
    say(f"tasks run {len(ran)}")
elif mode == "collective":

    def share(item):
        if item == 2 and p.parallel.rank == p.parallel.size - 1:
            raise ValueError("fails before a collective the others wait in")
        return p.parallel.broadcast(item * 10)

    try:
        p.parallel.map(share, range(4), ranks_per_task=ranks_per_task)
    except TaskError as error:
        (failure,) = error.tasks
        say(f"failed {failure.index} {failure.type_name} rank {failure.rank}")
        if error.results is not None:
            say(f"finished {sorted(error.results.items())}")
elif mode == "run_error":
    from parnrn.examples import ring

    def run_fails(item):
        model = ring.build(6, 2)
        if item == 1:

            def boom():
                raise ZeroDivisionError("a callback fails inside psolve")

            handler = h.FInitializeHandler(lambda: h.CVode().event(5, boom))  # noqa: F841
        p.parallel.run(20)
        del model
        return item

    try:
        p.parallel.map(run_fails, range(4), ranks_per_task=ranks_per_task)
    except TaskError as error:
        (failure,) = error.tasks
        say(f"failed {failure.index} {failure.type_name} rank {failure.rank}")
elif mode == "leftover":
    kept = []

    def keep(item):
        kept.append(h.Section(name=f"kept{item}"))
        return sum(1 for _ in h.allsec())

    say(f"sections seen {p.parallel.map(keep, range(4), ranks_per_task=ranks_per_task)}")
    say(f"sections after {sum(1 for _ in h.allsec())}")
elif mode == "stuck":

    def never_ends(item):
        if item == 0 and p.parallel.rank == 1:
            time.sleep(300)
        p.parallel.barrier()
        return item

    configure(timeout=1.0)
    p.parallel.map(never_ends, range(6), ranks_per_task=ranks_per_task, return_exceptions=True)
    say("map returned")
