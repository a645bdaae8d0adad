"""A network run with checkpoints: ``python checkpoint_run.py MODEL [options]``.

MODEL is ``ring`` (40 hh cells, cells that own their sections) or ``brunel`` (300
IntFire1 cells driven by NetStims on Random123 streams); ``--ncell`` changes the size (a
model that does not match a checkpoint). In order: ``--restore PATH`` restores a
checkpoint into the model just built (``--missing-ok``: if there is one), ``--save PATH
--save-at T`` runs to T and checkpoints, ``--tstop T`` runs to T (with ``--walltime PATH
--every T``: with rolling checkpoints and the walltime signal; each rank first writes its
pid into ``--markers``). Rank 0 writes the spikes gathered at the end into ``--out``
(``.npz``).
"""

import argparse
import os

import numpy as np

from parnrn import p
from parnrn.examples import brunel, ring

cli = argparse.ArgumentParser()
cli.add_argument("model", choices=["ring", "brunel"])
cli.add_argument("--ncell", type=int)
cli.add_argument("--restore")
cli.add_argument("--missing-ok", action="store_true")
cli.add_argument("--save")
cli.add_argument("--save-at", type=float)
cli.add_argument("--tstop", type=float, default=100)
cli.add_argument("--walltime")
cli.add_argument("--every", type=float)
cli.add_argument("--markers")
cli.add_argument("--out")
args = cli.parse_args()

if args.model == "ring":
    model = ring.build(args.ncell or 40, 3)
else:
    model = brunel.build(brunel.Params(ncell=args.ncell or 300))
if args.restore:
    restored = p.parallel.restore(args.restore, missing_ok=args.missing_ok)
    print(f"@rank {p.parallel.rank} restored t={restored}", flush=True)
if args.save:
    p.parallel.run(args.save_at)
    p.parallel.checkpoint(args.save)
if args.markers:
    with open(os.path.join(args.markers, f"rank{p.parallel.rank}"), "w") as marker:
        marker.write(str(os.getpid()))
p.parallel.run(args.tstop, checkpoint=args.walltime, every=args.every)
spikes = p.parallel.gather_spikes()
if spikes is not None and args.out:
    np.savez(args.out, times=spikes.times, gids=spikes.gids)
    print(f"@spikes {len(spikes)}", flush=True)
