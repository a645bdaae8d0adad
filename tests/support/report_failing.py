"""The ring with a soma report, and a failure on the last rank during the run:
python tests/support/report_failing.py FOLDER [write|callback]. ``write`` (the default):
its writes of the report fail ("disk full"); ``callback``: a Python callback of its own
raises inside psolve at t = 25 ms. The job must end, naming the rank, and leave no report
file, complete-looking or temporary."""

import os
import sys

from parnrn import p
from parnrn.examples import ring
from parnrn.output import reportfile

folder = sys.argv[1]
mode = sys.argv[2] if len(sys.argv) > 2 else "write"
cells = ring.build(20, 3)
p.parallel.report("soma", range(20), "v", dt=0.1, buffer_mib=0.002,
                  path=os.path.join(folder, "soma.h5"))  # fmt: skip
if p.parallel.rank == p.parallel.size - 1:

    def full(*args):
        raise OSError(28, "No space left on device")

    def fail():
        raise ZeroDivisionError("the callback at 25 ms failed")

    if mode == "write":
        reportfile._write_rows = full
    else:
        at_25 = p.FInitializeHandler(lambda: p.CVode().event(25, fail))
p.parallel.run(60)
print("the run should not have ended normally")
