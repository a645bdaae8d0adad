"""One rank ends the program in some way while the others enter a parnrn broadcast."""

import os
import signal
import sys

from _scenario import failing_now, setup

from parnrn.transport import broadcast

rt, mode, bad = setup()
if rt.rank == bad:
    failing_now()
    if mode == "raise":
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
    if mode == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
broadcast("payload")
print(f"rank {rt.rank} finished", flush=True)
