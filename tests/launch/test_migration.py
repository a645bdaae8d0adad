"""The migration guides' scripts (docs/examples) run under mpiexec -n 2, and the "before"
and "after" scripts of each guide print the same spikes."""

import os
import re

import pytest
from support.launch import run_mpi, run_python

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "docs", "examples")
SPIKE = re.compile(r"^(\S+) (\d+)$")


def spikes(script: str, env: dict | None = None) -> list[tuple[float, int]]:
    """The spikes ``script`` prints (``time gid`` lines) when run on 2 ranks."""
    result = run_mpi(2, [os.path.join(EXAMPLES, script)], timeout=180, env=env)
    assert result.returncode == 0, result.output
    found = [(float(m[1]), int(m[2])) for m in map(SPIKE.match, result.stdout.splitlines()) if m]
    assert found, f"{script} printed no spikes:\n{result.output}"
    return found


@pytest.fixture(scope="module")
def neuron_mpi_env() -> dict:
    """``MPI_LIB_NRN_PATH`` for scripts that start NEURON's MPI by hand: the library
    mpi4py loads, as parnrn would find it."""
    code = "from mpi4py import MPI\nfrom parnrn import runtime\nprint(runtime.start().library)"
    result = run_python(code)
    assert result.returncode == 0, result.output
    return {"MPI_LIB_NRN_PATH": result.stdout.strip()}


def test_raw_neuron_and_parnrn_give_the_same_spikes(neuron_mpi_env):
    before = spikes("ring_neuron.py", neuron_mpi_env)
    assert spikes("ring_parnrn.py") == before
    # Every cell fires, and each spike is printed once (a serial fallback prints twice).
    assert {gid for _, gid in before} == set(range(8))
    assert len(before) == len(set(before))


def test_patch_and_parnrn_give_the_same_spikes(neuron_mpi_env):
    check = run_python("from patch import p")
    if check.returncode != 0:
        reason = (check.stderr.strip().splitlines() or ["unknown error"])[-1]
        pytest.skip(f"nrn-patch is not importable ({reason}): pip install nrn-patch")
    before = spikes("ring_patch.py", neuron_mpi_env)
    assert spikes("ring_patch_parnrn.py") == before
    assert spikes("ring_patch_objects.py") == before
