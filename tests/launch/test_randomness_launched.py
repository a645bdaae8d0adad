"""A noisy network on 1, 2 and 3 ranks (tests/support/noisy_streams.py): the same spikes
with each of parnrn's random-stream helpers, different spikes on every rank count with
the three natural mistakes, and the warning for NEURON's default stream on rank 0 alone."""

from __future__ import annotations

import os
import re

import pytest
from support.launch import run_mpi

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(__file__)), "support", "noisy_streams.py")
LINE = re.compile(r"^(\w+) (\d+) ([0-9a-f]{16})$", re.M)
WARNING = "NetStim(s) with noise > 0 draw from NEURON's default random stream"


@pytest.fixture(scope="module")
def launched() -> dict[int, tuple[dict[str, tuple[int, str]], str]]:
    """rank count -> ({kind: (spike count, digest)}, stderr)."""
    runs = {}
    for ranks in (1, 2, 3):
        done = run_mpi(ranks, [SCRIPT], timeout=180)
        assert done.returncode == 0, done.output
        runs[ranks] = ({kind: (int(n), d) for kind, n, d in LINE.findall(done.stdout)}, done.stderr)
    return runs


@pytest.mark.parametrize("streams", ["helpers", "random_stream"])
def test_the_helpers_give_the_same_spikes_on_1_2_3_ranks(launched, streams):
    results = {ranks: spikes[streams] for ranks, (spikes, _) in launched.items()}
    assert results[1][0] > 300
    assert set(results.values()) == {results[1]}, results


@pytest.mark.parametrize("streams", ["default", "per_rank", "numpy_rank"])
def test_the_mistakes_give_different_spikes_on_each_rank_count(launched, streams):
    results = {ranks: spikes[streams] for ranks, (spikes, _) in launched.items()}
    assert len(set(results.values())) == 3, results


def test_the_default_stream_warns_once_on_rank_0_with_the_count_per_rank(launched):
    counts = {1: "rank 0: 48", 2: "rank 0: 24, rank 1: 24", 3: "rank 0: 16, rank 1: 16, rank 2: 16"}
    for ranks, (_, stderr) in launched.items():
        warnings = [line for line in stderr.splitlines() if "WARNING" in line]
        assert len(warnings) == 1, stderr  # the helpers' networks do not warn
        assert warnings[0].startswith(f"[rank 0/{ranks}] parnrn WARNING: 48 {WARNING}")
        assert f"({counts[ranks]}). Fix: p.parallel.noise(netstim, gid)" in warnings[0]
