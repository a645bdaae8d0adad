"""BluePyOpt's own SimpleCell optimisation (shipped in the bluepyopt package), as its
users run it: ``python simplecell.py MODE``.

``serial``: the builtin ``map``, without parnrn. ``allmap``: ``map_function=
p.parallel.allmap`` (the docs' recipe), under mpiexec. ``map``: ``map_function=
p.parallel.map`` as is (results on rank 0 only). ``refuse``: ``allmap`` with an evaluator
that raises on world rank 1. Rank 0 prints the hall of fame, the final population and the
logbook as one JSON line, ``@result {...}``.
"""

import sys

import bluepyopt
from _result import print_result
from bluepyopt.ephys.evaluators import CellEvaluator
from bluepyopt.ephys.examples.simplecell import simplecell

mode = sys.argv[1]
rank = 0
map_function = map
if mode != "serial":
    from neuron import h

    from parnrn import p

    rank = p.parallel.rank
    map_function = p.parallel.map if mode == "map" else p.parallel.allmap


class RefusingEvaluator(CellEvaluator):
    """SimpleCell's evaluator, except that world rank 1 refuses every evaluation."""

    def evaluate_with_lists(self, param_list=None, target="scores"):
        if int(h.ParallelContext().id_world()) == 1:
            raise ValueError(f"evaluation of {param_list} refused on world rank 1")
        return super().evaluate_with_lists(param_list, target)


cell = simplecell.SimpleCell()
evaluator = cell.cell_evaluator
if mode == "refuse":
    evaluator.__class__ = RefusingEvaluator
optimisation = bluepyopt.optimisations.DEAPOptimisation(
    evaluator, offspring_size=8, seed=7, map_function=map_function
)
population, hall_of_fame, logbook, _ = optimisation.run(max_ngen=5)
if rank == 0:
    print_result(hall_of_fame, population, logbook)
