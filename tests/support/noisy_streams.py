"""The noisy example built with each kind of random stream in turn, in one process:
python tests/support/noisy_streams.py [KIND ...] (any rank count). Rank 0 prints one line
per kind: ``KIND <spike count> <digest>``."""

import sys

from parnrn import p
from parnrn.examples import noisy

for streams in sys.argv[1:] or noisy.STREAMS:
    p.parallel.gid_clear()
    model = noisy.build(48, streams)
    p.parallel.run(200, quiet=True)
    spikes = p.parallel.gather_spikes()
    if spikes is not None:
        print(f"{streams} {len(spikes)} {spikes.digest()}", flush=True)
    del model
