"""A NetPyNE batch: for each synaptic weight, a task builds and runs a 20-cell NetPyNE
network twice (two seeds) with ``sim.createSimulateAnalyze``: ``python netpyne_batch.py
MODE``, MODE ``serial`` (a loop, without parnrn) or ``map`` (``p.parallel.map`` with
``ranks_per_task=2``: NetPyNE runs each network on its subworld of 2 ranks). Rank 0
prints each run's spike count and digest as one JSON line, ``@result [...]``.
"""

import hashlib
import json
import sys

from netpyne import sim, specs

mode = sys.argv[1]
WEIGHTS = [0.0, 0.002, 0.005, 0.01]


def network(weight):
    params = specs.NetParams()
    soma = {
        "geom": {"diam": 18.8, "L": 18.8, "Ra": 123.0},
        "mechs": {"hh": {"gnabar": 0.12, "gkbar": 0.036, "gl": 0.003, "el": -70}},
    }
    params.cellParams["PYR"] = {"secs": {"soma": soma}}
    params.popParams["E"] = {"cellType": "PYR", "numCells": 20}
    params.synMechParams["exc"] = {"mod": "Exp2Syn", "tau1": 0.1, "tau2": 5.0, "e": 0}
    params.stimSourceParams["bkg"] = {"type": "NetStim", "rate": 10, "noise": 0.5}
    params.stimTargetParams["bkg->E"] = {
        "source": "bkg", "conds": {"pop": "E"}, "weight": 0.01, "delay": 5, "synMech": "exc",
    }  # fmt: skip
    params.connParams["E->E"] = {
        "preConds": {"pop": "E"}, "postConds": {"pop": "E"}, "probability": 0.2,
        "weight": weight, "delay": 5, "synMech": "exc",
    }  # fmt: skip
    return params


def config(seed):
    cfg = specs.SimConfig()
    cfg.duration, cfg.dt = 200, 0.025
    cfg.seeds = {"conn": seed, "stim": seed, "loc": seed}
    cfg.recordTraces, cfg.analysis = {}, {}
    cfg.verbose = cfg.saveJson = cfg.savePickle = cfg.printPopAvgRates = False
    return cfg


def run(weight, seed):
    """One NetPyNE run; on its rank 0 the spike count and a digest of (time, gid)."""
    sim.createSimulateAnalyze(netParams=network(weight), simConfig=config(seed))
    if sim.rank != 0:
        return None
    spikes = sorted(zip(sim.allSimData["spkt"], sim.allSimData["spkid"]))
    text = repr([(round(float(t), 9), int(gid)) for t, gid in spikes])
    return len(spikes), hashlib.sha1(text.encode()).hexdigest()[:12]


def batch_task(weight):
    return [run(weight, seed) for seed in (1, 2)]


if mode == "serial":
    results, rank = [batch_task(weight) for weight in WEIGHTS], 0
else:
    from parnrn import p

    results = p.parallel.map(batch_task, WEIGHTS, ranks_per_task=2)
    rank = p.parallel.rank
if rank == 0:
    print("@result " + json.dumps(results), flush=True)
