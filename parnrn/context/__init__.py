"""NEURON's ParallelContext, automated: gids, ParallelCon, running and spike gathering.

``parallel`` is the façade (``ParallelContext``, ``ParallelCon``); ``network`` what a rank
built; ``gids``, ``connect``, ``run`` and ``spikes`` the steps it takes. Builds on
``parnrn.transport``'s public API; NEURON and its MPI come from ``parnrn.runtime``.

Nothing is imported here: ``parnrn`` imports each module when it is first used, so that
``from parnrn import Spikes`` does not start NEURON.
"""
