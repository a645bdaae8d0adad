"""The example models launched with mpiexec: the same digest for 1, 2 and 3 ranks (and 4
and 8 for those with random streams), and the files they write. Every launch runs under a
timeout, so a hang fails instead of blocking."""

from __future__ import annotations

import re

import pytest
from support.launch import run_mpi

from parnrn import Spikes

TIMEOUT = 240


def launch(ranks: int, example: str, *args: str, cwd=None) -> str:
    done = run_mpi(ranks, ["-m", f"parnrn.examples.{example}", *args], TIMEOUT, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done.stdout


def digest(stdout: str, example: str) -> tuple[int, str]:
    found = re.search(rf"^{example}: (\d+) spikes, digest ([0-9a-f]{{16}})$", stdout, re.M)
    assert found, stdout
    return int(found[1]), found[2]


# The examples with random streams (p.parallel.noise, numpy_rng) on more rank counts:
# 8 oversubscribes a small machine, which is the point.
@pytest.mark.parametrize(
    ("example", "args", "rank_counts"),
    [
        ("ring", ["--ncell", "24", "--tstop", "80"], (1, 2, 3)),
        ("brunel", ["--ncell", "400", "--tstop", "100"], (1, 2, 3, 4, 8)),
        ("mixed", ["--ncell", "40", "--tstop", "30"], (1, 2, 3, 4, 8)),
    ],
)
def test_same_digest_on_every_rank_count(example, args, rank_counts):
    results = {ranks: digest(launch(ranks, example, *args), example) for ranks in rank_counts}
    count, _ = results[1]
    assert count > 40
    assert set(results.values()) == {results[1]}, results


def test_ring_writes_raster_and_spikes(tmp_path):
    out = launch(2, "ring", "--raster", "raster.png", "--save", "ring.h5", cwd=tmp_path)
    count, expected = digest(out, "ring")
    assert (tmp_path / "raster.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = Spikes.load(tmp_path / "ring.h5", population="ring")
    assert len(saved) == count and saved.digest() == expected


def test_brunel_saves_npz_and_seed_matters(tmp_path):
    first = launch(2, "brunel", "--ncell", "200", "--tstop", "50", "--save", "b.npz", cwd=tmp_path)
    count, expected = digest(first, "brunel")
    assert Spikes.load(tmp_path / "b.npz").digest() == expected
    other = launch(1, "brunel", "--ncell", "200", "--tstop", "50", "--seed", "2")
    assert digest(other, "brunel")[1] != expected
