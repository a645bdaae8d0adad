"""Real optimisers drive ``p.parallel.map`` as their users do, and get what they get
serially without parnrn: BluePyOpt's own SimpleCell optimisation (NEURON runs in processes
BluePyOpt forks, eFEL features, DEAP objects) and DEAP's OneMax (no NEURON), at 2 and 3
ranks; a NetPyNE batch (two NEURON runs per task) on subworlds of 2 ranks, at 2 and 4. An
evaluation that raises on a worker ends the job with its traceback and rank; an optimiser
given plain ``map`` (results on rank 0 only) is told to use ``allmap``. Every launch is
bounded: the BluePyOpt run hung in its first generation before the fix."""

from __future__ import annotations

import json
import os
import re
import sys

import pytest
from support.launch import run_bounded, run_mpi

TIMEOUT = 120
HERE = os.path.join(os.path.dirname(__file__), "optimisers")
SIMPLECELL = os.path.join(HERE, "simplecell.py")
ONEMAX = os.path.join(HERE, "onemax.py")
NETPYNE = os.path.join(HERE, "netpyne_batch.py")


def result_of(done) -> dict:
    assert done.returncode == 0, done.output
    found = re.findall(r"^@result (.*)$", done.stdout, re.M)
    assert len(found) == 1, done.output  # printed by rank 0 only
    return json.loads(found[0])


@pytest.fixture(scope="module")
def serial_simplecell():
    pytest.importorskip("bluepyopt")
    return result_of(run_bounded([sys.executable, SIMPLECELL, "serial"], TIMEOUT))


@pytest.mark.parametrize("ranks", [2, 3])
def test_bluepyopt_simplecell_gives_the_serial_result(serial_simplecell, ranks):
    parallel = result_of(run_mpi(ranks, [SIMPLECELL, "allmap"], TIMEOUT))
    assert parallel["hall_of_fame"] == serial_simplecell["hall_of_fame"]
    assert parallel["population"] == serial_simplecell["population"]
    assert parallel["logbook"] == serial_simplecell["logbook"]
    assert len(parallel["logbook"]) == 5  # generations 1-5: the optimisation ran


def test_an_evaluation_raising_on_a_worker_ends_the_job_with_its_traceback_and_rank():
    pytest.importorskip("bluepyopt")
    done = run_mpi(2, [SIMPLECELL, "refuse"], TIMEOUT)
    assert done.returncode == 1, done.output
    assert re.search(r"\[rank 1/2\] parnrn: rank 1 failed: unhandled TaskError", done.output)
    assert re.search(
        r"item \d+ \(.*\) on rank 1 \(subworld 1\): ValueError: evaluation", done.output
    )
    assert "in evaluate_with_lists" in done.output  # the evaluation's own traceback
    assert "@result" not in done.stdout


def test_plain_map_as_map_function_is_told_to_use_allmap():
    pytest.importorskip("bluepyopt")
    done = run_mpi(2, [SIMPLECELL, "map"], TIMEOUT)
    assert done.returncode == 1, done.output
    assert re.search(r"\[rank 1/2\] parnrn: rank 1 failed: unhandled TypeError", done.output)
    assert re.search(
        r"\[rank 1/2\] hint: p\.parallel\.map \(at algorithms\.py:\d+\) returned None on this "
        r"rank: its results are on rank 0 only\..* p\.parallel\.allmap",
        done.output,
    ), done.output


@pytest.mark.parametrize("ranks", [2, 3])
def test_deap_onemax_gives_the_serial_result(ranks):
    pytest.importorskip("deap")
    serial = result_of(run_bounded([sys.executable, ONEMAX, "serial"], TIMEOUT))
    parallel = result_of(run_mpi(ranks, [ONEMAX, "allmap"], TIMEOUT))
    assert parallel == serial
    assert max(fitness for _, (fitness,) in serial["population"]) > 40  # it optimised


@pytest.mark.parametrize("ranks", [2, 4])
def test_netpyne_batch_on_subworlds_of_two_gives_the_serial_result(ranks):
    pytest.importorskip("netpyne")
    serial = result_of(run_bounded([sys.executable, NETPYNE, "serial"], TIMEOUT))
    parallel = result_of(run_mpi(ranks, [NETPYNE, "map"], TIMEOUT))
    assert parallel == serial
    counts = [count for runs in serial for count, _ in runs]
    assert len(set(counts)) > 2 and min(counts) > 0  # the weights change the spikes
