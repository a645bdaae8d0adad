"""DEAP's OneMax with ``eaSimple``, no NEURON: ``python onemax.py MODE``, MODE ``serial``
(the builtin ``map``, without parnrn) or ``allmap`` (``toolbox.register("map",
p.parallel.allmap)``, under mpiexec). Rank 0 prints the hall of fame, the final
population and the logbook as one JSON line, ``@result {...}``.
"""

import random
import sys

import numpy
from _result import print_result
from deap import algorithms, base, creator, tools

mode = sys.argv[1]
rank = 0
toolbox = base.Toolbox()
if mode == "serial":
    toolbox.register("map", map)
else:
    from parnrn import p

    rank = p.parallel.rank
    toolbox.register("map", p.parallel.allmap)

creator.create("FitnessMax", base.Fitness, weights=(1.0,))
creator.create("Individual", list, fitness=creator.FitnessMax)


def evaluate(individual):
    return (sum(individual),)


toolbox.register("attr_bool", random.randint, 0, 1)
toolbox.register("individual", tools.initRepeat, creator.Individual, toolbox.attr_bool, 50)
toolbox.register("population", tools.initRepeat, list, toolbox.individual)
toolbox.register("evaluate", evaluate)
toolbox.register("mate", tools.cxTwoPoint)
toolbox.register("mutate", tools.mutFlipBit, indpb=0.05)
toolbox.register("select", tools.selTournament, tournsize=3)

random.seed(64)
population = toolbox.population(n=60)
hall_of_fame = tools.HallOfFame(3)
stats = tools.Statistics(lambda ind: ind.fitness.values)
stats.register("avg", numpy.mean)
stats.register("max", numpy.max)
population, logbook = algorithms.eaSimple(
    population, toolbox, cxpb=0.5, mutpb=0.2, ngen=15, stats=stats,
    halloffame=hall_of_fame, verbose=False,
)  # fmt: skip
if rank == 0:
    print_result(hall_of_fame, population, logbook)
