"""The before/after raster of docs/randomness.md: the noisy example on NEURON's default
stream and on parnrn's random streams, each on 1 and 3 ranks (launches mpiexec):
python docs/examples/noise_raster.py"""

import os
import shutil
import subprocess
import sys
import tempfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from parnrn import Spikes

ROWS = {"default": "before: NEURON's default stream", "helpers": "after: parnrn's streams"}


def noisy_spikes(streams: str, ranks: int, folder: str) -> Spikes:
    """The spikes of ``python -m parnrn.examples.noisy --streams streams`` on ``ranks``."""
    path = os.path.join(folder, f"{streams}-{ranks}.npz")
    argv = [shutil.which("mpiexec"), "-n", str(ranks), sys.executable, "-m"]
    argv += ["parnrn.examples.noisy", "--streams", streams, "--save", path]
    subprocess.run(argv, check=True, timeout=300, capture_output=True)
    return Spikes.load(path)


figure, axes = plt.subplots(2, 2, sharex=True, sharey=True, figsize=(10, 7))
with tempfile.TemporaryDirectory() as folder:
    for row, (streams, title) in enumerate(ROWS.items()):
        for column, ranks in enumerate((1, 3)):
            spikes = noisy_spikes(streams, ranks, folder)
            ax = spikes.raster(ax=axes[row, column], s=8)
            ax.set_title(
                f"{title}\n{ranks} rank(s): {len(spikes)} spikes, digest {spikes.digest()}",
                fontsize=10,
            )
figure.tight_layout()
figure.savefig("docs/img/randomness.png", dpi=100)
