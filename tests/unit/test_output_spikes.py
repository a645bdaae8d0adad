"""SONATA spike files on one rank: every sorting read back by libsonata, an existing path
refused, a failure while writing leaves no file, and ``save_spikes`` equals
``gather_spikes``."""

from __future__ import annotations

import libsonata
import numpy as np
import pytest

from parnrn import p
from parnrn.output import spikefile, write_spikes


def spikes():
    rng = np.random.default_rng(3)
    times = np.sort(np.concatenate([rng.uniform(0, 50, 300), np.full(200, 7.5)]))
    return times, rng.integers(0, 40, times.size).astype(float)


def read(path, population="default"):
    got = libsonata.SpikeReader(str(path))[population]
    return got.sorting, np.array(got.get(), dtype=[("node_id", "u8"), ("t", "f8")])


@pytest.mark.parametrize("sorting", ["by_time", "by_id", "none"])
def test_every_sorting(tmp_path, sorting):
    times, gids = spikes()
    assert write_spikes(tmp_path / "s.h5", times, gids, sorting=sorting, chunk=64) == times.size
    got_sorting, got = read(tmp_path / "s.h5")
    assert got_sorting == sorting
    order = {
        "by_time": np.lexsort((gids, times)),
        "by_id": np.lexsort((times, gids)),
        "none": np.arange(times.size),
    }[sorting]
    np.testing.assert_array_equal(got["t"], times[order])
    np.testing.assert_array_equal(got["node_id"], gids[order])


def test_existing_path_refused(tmp_path):
    path = tmp_path / "s.h5"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match=r"\[rank 0/1\] .*s.h5 exists"):
        write_spikes(path, *spikes())
    assert path.read_bytes() == b"precious"
    write_spikes(path, *spikes(), overwrite=True)
    assert read(path)[1].size == 500


def test_failure_while_writing_leaves_no_file(tmp_path, monkeypatch):
    def full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(spikefile, "_write_piece", full)
    with pytest.raises(OSError, match="No space left"):
        write_spikes(tmp_path / "s.h5", *spikes())
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments(tmp_path):
    times, gids = spikes()
    with pytest.raises(ValueError, match="use .h5"):
        write_spikes(tmp_path / "s.npz", times, gids)
    with pytest.raises(ValueError, match="node ids must be >= 0"):
        write_spikes(tmp_path / "s.h5", times, -gids - 1)
    assert list(tmp_path.iterdir()) == []


def test_save_spikes_equals_gather_spikes(pc, tmp_path):
    cells = []
    for gid in range(6):
        cell = p.IntFire2()
        cell.ib = 1.2 + 0.05 * gid
        cells.append(cell)
        p.ParallelCon(cell, gid)
    pc.run(150)
    pc.save_spikes(tmp_path / "run.h5", population="cells")
    gathered = pc.gather_spikes()
    _, got = read(tmp_path / "run.h5", "cells")
    assert len(gathered) > 20
    np.testing.assert_array_equal(got["t"], gathered.times)
    np.testing.assert_array_equal(got["node_id"], gathered.gids)
