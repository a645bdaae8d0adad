"""CoreNEURON as the engine of ``p.parallel.run``, launched as users run it: the examples
give NEURON's spikes under both engines on 1, 2 and 3 ranks (brunel with its cell
compiled by ``nrnivmodl -coreneuron``, as a user would), an example CoreNEURON
cannot run is one named error on every rank with status 1 (never an ``MPI_Abort`` with
status 255), and extracellular and LinearMechanism on one rank, where raw NEURON raises
and parnrn must too, without a segfault. Every launch runs under a timeout."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from support.launch import run_bounded, run_mpi

TIMEOUT = 240
SCENARIOS = os.path.join(os.path.dirname(__file__), "scenarios")


MOD_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "parnrn", "examples", "mod")


def digest(
    ranks: int, example: str, engine: str, *args: str, cwd: str | None = None
) -> tuple[int, str]:
    argv = ["-m", f"parnrn.examples.{example}", *args, "--engine", engine]
    done = run_mpi(ranks, argv, TIMEOUT, cwd=cwd)
    assert done.returncode == 0, done.stderr
    found = re.search(rf"^{example}: (\d+) spikes, digest ([0-9a-f]{{16}})$", done.stdout, re.M)
    assert found, done.stdout
    return int(found[1]), found[2]


@pytest.mark.parametrize(
    ("example", "args"),
    [("ring", ["--ncell", "24", "--tstop", "80"]), ("mixed", ["--ncell", "40", "--tstop", "30"])],
)
def test_examples_give_the_same_spikes_under_both_engines(example, args):
    results = {
        (ranks, engine): digest(ranks, example, engine, *args)
        for ranks in (1, 2, 3)
        for engine in ("neuron", "coreneuron")
    }
    count, _ = results[1, "neuron"]
    assert count > 40
    assert set(results.values()) == {results[1, "neuron"]}, results


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> str:
    """A directory where ``parnrn/examples/mod`` is compiled for both engines
    (``nrnivmodl -coreneuron``): NEURON loads the mechanisms of the working directory."""
    where = tmp_path_factory.mktemp("mod")
    shutil.copytree(MOD_DIR, where / "mod")
    nrnivmodl = os.path.join(os.path.dirname(sys.executable), "nrnivmodl")
    done = subprocess.run(
        [nrnivmodl, "-coreneuron", "mod"],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return str(where)


def test_brunel_with_its_compiled_cell_gives_the_same_spikes_under_both_engines(compiled):
    """LeakyIF gives IntFire1's spikes under NEURON, and its own under CoreNEURON, at 1, 2
    and 3 ranks."""
    args = ["--ncell", "200", "--tstop", "100"]
    expected = digest(1, "brunel", "neuron", *args)  # IntFire1, NEURON's own
    assert expected[0] > 500
    results = {
        (ranks, engine): digest(ranks, "brunel", engine, *args, "--cell", "LeakyIF", cwd=compiled)
        for ranks in (1, 2, 3)
        for engine in ("neuron", "coreneuron")
    }
    assert set(results.values()) == {expected}, (expected, results)


def test_brunel_names_a_cell_type_neuron_does_not_have():
    done = run_mpi(1, ["-m", "parnrn.examples.brunel", "--cell", "LeakyIF"], TIMEOUT)
    assert done.returncode == 2, done.output
    assert "--cell LeakyIF: NEURON has no such mechanism here; compile its mod file" in (
        done.stderr
    )


@pytest.mark.parametrize("ranks", [1, 2, 3])
def test_an_example_with_a_mechanism_coreneuron_lacks_is_named_on_every_rank(ranks):
    argv = ["-m", "parnrn.examples.brunel", "--ncell", "100", "--tstop", "20"]
    done = run_mpi(ranks, [*argv, "--engine", "coreneuron"], TIMEOUT)
    assert done.returncode == 1, done.output
    for rank in range(ranks):
        prefix = "" if ranks == 1 else rf"\[rank {rank}/{ranks}\] "  # lines of several ranks
        header = (
            rf"EngineError: \[rank {rank}/{ranks}\] CoreNEURON cannot run this model "
            rf"\(p\.parallel\.run engine 'coreneuron'\); found before the run:$"
        )
        feature = rf"^{prefix}  IntFire1: 100 instances on ranks? 0[^(]*\(IntFire1\[0\], "
        assert re.search(header, done.stderr, re.M), done.stderr
        assert re.search(feature, done.stderr, re.M), done.stderr
    assert "brunel:" not in done.stdout  # no spikes: the run never started


@pytest.mark.parametrize("mode", ["extracellular", "linear_mechanism"])
def test_on_one_rank_what_neuron_raises_is_named_too(mode):
    done = run_bounded(
        [sys.executable, os.path.join(SCENARIOS, "engine_errors.py"), mode, "0"], TIMEOUT
    )
    assert done.returncode == 1, done.output
    feature = {
        "extracellular": r"extracellular: 1 section on rank 0 \(RingCell\[0\]\.soma\)",
        "linear_mechanism": r"LinearMechanism: 1 object on rank 0 \(LinearMechanism\[0\]\)",
    }[mode]
    assert re.search(
        r"rank 0 caught EngineError: \[rank 0/1\] CoreNEURON cannot run this model .* //   "
        + feature,
        done.stdout,
    ), done.output


def test_stdrun_names_are_there_from_the_start():
    """``p.cvode`` (CoreNEURON recipes start with ``p.cvode.cache_efficient(1)``), ``p.run``
    and ``p.tstop`` without ``p.load_file("stdrun.hoc")`` first: a fresh process, as the
    first use of ``p`` in a script loads it."""
    code = "from parnrn import p; p.cvode.cache_efficient(1); print(p.tstop, callable(p.run))"
    done = run_bounded([sys.executable, "-c", code], TIMEOUT)
    assert done.returncode == 0, done.output
    assert done.stdout.split() == ["5.0", "True"]
