"""Rank 0 keeps working in Python for 4 s after the other ranks reached their end.

A job that succeeded: parnrn's exit agreement must wait for rank 0 (it answers the other
ranks' liveness pings), not end the job as a failure. Forms: see README.md.
"""

import time

from _forms import setup

h, pc, _ = setup()
if int(pc.id()) == 0:
    began = time.monotonic()
    while time.monotonic() - began < 4:  # busy in Python: holds the GIL, but lets go of it
        sum(range(10000))
    print(f"RESULT late_rank nhost={int(pc.nhost())}: rank 0 finished last", flush=True)
