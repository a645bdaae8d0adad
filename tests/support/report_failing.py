"""The ring with a soma report whose writes fail on the last rank ("disk full") during the
run: python tests/support/report_failing.py FOLDER. The job must end, naming the rank,
and leave no report file, complete-looking or temporary."""

import os
import sys

from parnrn import p
from parnrn.examples import ring
from parnrn.output import reportfile

folder = sys.argv[1]
cells = ring.build(20, 3)
p.parallel.report("soma", range(20), "v", dt=0.1, buffer_mib=0.002,
                  path=os.path.join(folder, "soma.h5"))  # fmt: skip
if p.parallel.rank == p.parallel.size - 1:

    def full(*args):
        raise OSError(28, "No space left on device")

    reportfile._write_rows = full
p.parallel.run(60)
print("the run should not have ended normally")
