"""One rank ends the program in some way while the others enter a parnrn broadcast."""

import ctypes
import os
import signal
import sys
import threading
import time

from _scenario import failing_now, setup

from parnrn.transport import broadcast


def report(kind, value, traceback):
    """The script's own sys.excepthook."""
    print(f"the script's hook saw {kind.__name__}", flush=True)


if sys.argv[1] == "users_excepthook":  # set before parnrn starts MPI, as scripts do
    sys.excepthook = report
rt, mode, bad = setup()
if mode == "users_excepthook_late":  # set once MPI has started: it replaces parnrn's
    sys.excepthook = report
if mode == "output_then_raise":  # printed, not flushed: a pipe to mpiexec buffers it
    for line in range(5):
        print(f"rank {rt.rank} line {line}")
    if rt.rank == bad:
        time.sleep(0.3)  # the others wait in the broadcast with their lines printed
        failing_now()
        raise ValueError(f"scenario failure on rank {rt.rank}")
if mode == "output_then_walltime":  # printed, not flushed, then the batch system's SIGTERM
    for line in range(5):
        print(f"rank {rt.rank} line {line}")
    open(os.path.join(os.environ["PARNRN_TEST_MARKERS"], f"rank{rt.rank}"), "w").close()
    if rt.rank == bad:
        time.sleep(60)  # the others wait for it in the broadcast until the walltime
if mode == "sigint_while_waiting":  # Ctrl-C reaches a rank waiting for a late one
    if rt.rank == bad:
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
        failing_now(delay=0.5)
    else:
        time.sleep(30)  # late: the bad rank waits for it in the broadcast
if rt.rank == bad and mode != "sigint_while_waiting":
    failing_now()
    if mode in ("raise", "users_excepthook", "users_excepthook_late"):
        raise ValueError(f"scenario failure on rank {rt.rank}")
    if mode == "keyboard":
        raise KeyboardInterrupt
    if mode == "sys_exit":
        sys.exit(3)
    if mode == "raise_system_exit":
        raise SystemExit(4)
    if mode == "exit_zero":
        sys.exit(0)
    if mode == "os_exit_zero":
        os._exit(0)
    if mode == "segfault":  # as NEURON or a C extension crashing
        ctypes.string_at(0)
    if mode == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
broadcast("payload")
print(f"rank {rt.rank} finished", flush=True)
