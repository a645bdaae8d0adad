"""SONATA spike files written by every rank (2 and 3 ranks): every sorting, skewed firing,
read back by libsonata and h5py equal to gather_spikes, a failure while writing, an
existing path. Run under mpiexec -n 2 and -n 3."""

from __future__ import annotations

import os

import h5py
import libsonata
import numpy as np
import pytest

from parnrn import RemoteRankError, p, transport
from parnrn.output import spikefile, write_spikes

pytestmark = pytest.mark.mpi(min_size=2)


@pytest.fixture
def shared(tmp_path):
    """Rank 0's temporary directory, the same on every rank."""
    return p.parallel.broadcast(str(tmp_path))


def skewed_spikes(rank: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Uneven counts per rank, most spikes in one burst at t = 5 (ties), in time order."""
    rng = np.random.default_rng(rank)
    n = 200 + 900 * rank
    times = np.sort(np.concatenate([rng.uniform(0, 100, n // 3), np.full(n - n // 3, 5.0)]))
    gids = rng.integers(0, 50, n) * size + rank
    return times, gids.astype(float)


def everything(size: int) -> tuple[np.ndarray, np.ndarray]:
    parts = [skewed_spikes(r, size) for r in range(size)]
    return np.concatenate([t for t, _ in parts]), np.concatenate([g for _, g in parts])


@pytest.mark.parametrize("sorting", ["by_time", "by_id", "none"])
@pytest.mark.parametrize("chunk", [spikefile.CHUNK, 97])
def test_every_sorting_read_back(pc, shared, sorting, chunk):
    times, gids = skewed_spikes(pc.rank, pc.size)
    path = os.path.join(shared, f"spikes_{sorting}_{chunk}.h5")
    written = write_spikes(path, times, gids, sorting=sorting, population="net", comm=pc.comm,
                           chunk=chunk)  # fmt: skip
    all_times, all_gids = everything(pc.size)
    assert written == all_times.size
    reader = libsonata.SpikeReader(path)["net"]
    assert reader.sorting == sorting
    got = np.array(reader.get(), dtype=[("node_id", "u8"), ("t", "f8")])
    with h5py.File(path, "r") as file:
        stamps = file["spikes/net/timestamps"][()]
        ids = file["spikes/net/node_ids"][()]
        assert file["spikes/net/timestamps"].attrs["units"] == "ms" and ids.dtype == np.uint64
    np.testing.assert_array_equal(got["t"], stamps)
    np.testing.assert_array_equal(got["node_id"], ids)
    if sorting == "none":  # rank order, each rank's own order
        np.testing.assert_array_equal(stamps, all_times)
        np.testing.assert_array_equal(ids, all_gids)
        return
    key, other = (all_times, all_gids) if sorting == "by_time" else (all_gids, all_times)
    order = np.lexsort((other, key))
    np.testing.assert_array_equal(stamps, all_times[order])
    np.testing.assert_array_equal(ids, all_gids[order])


def test_equal_to_gather_spikes_after_a_run(pc, shared):
    cells = []
    for gid in pc.distribute(range(12)):
        cell = p.IntFire2()
        cell.ib = 1.2 + 0.05 * gid  # fires on its own, at a rate set by its gid
        cells.append(cell)
        p.ParallelCon(cell, gid)
    records = pc.spike_record()
    pc.run(200)
    path = os.path.join(shared, "run.h5")
    pc.save_spikes(path, population="ring")
    gathered = pc.gather_spikes(root=None)
    assert len(gathered) > 50
    reader = libsonata.SpikeReader(path)["ring"]
    got = np.array(reader.get(), dtype=[("node_id", "u8"), ("t", "f8")])
    np.testing.assert_array_equal(got["t"], gathered.times)
    np.testing.assert_array_equal(got["node_id"], gathered.gids)
    del records, cells


def test_existing_path_refused_on_every_rank(pc, shared):
    path = os.path.join(shared, "exists.h5")
    times, gids = skewed_spikes(pc.rank, pc.size)
    write_spikes(path, times, gids, comm=pc.comm)
    before = os.stat(path).st_mtime_ns
    expected = FileExistsError if pc.rank == 0 else RemoteRankError
    with pytest.raises(expected, match="exists: remove it or pass overwrite=True"):
        write_spikes(path, times, gids, comm=pc.comm)
    assert os.stat(path).st_mtime_ns == before
    write_spikes(path, times[:5], gids[:5], comm=pc.comm, overwrite=True)
    assert (
        libsonata.SpikeReader(path)["default"].get()
        and len(h5py.File(path)["spikes/default/timestamps"]) == 5 * pc.size
    )


def test_failure_while_writing_raises_everywhere_and_leaves_no_file(pc, shared, monkeypatch):
    path = os.path.join(shared, "broken.h5")
    times, gids = skewed_spikes(pc.rank, pc.size)
    failing = pc.size - 1
    if pc.rank == failing:  # this rank's disk "fills up" on its first chunk

        def full(*args):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(spikefile, "_write_piece", full)
    expected = OSError if pc.rank == failing else RemoteRankError
    with pytest.raises(expected, match="No space left on device"):
        write_spikes(path, times, gids, comm=pc.comm, chunk=100)
    transport.barrier(pc.comm)
    assert os.listdir(shared) == []


def test_bad_arguments_raise_on_every_rank(pc, shared):
    times, gids = skewed_spikes(pc.rank, pc.size)
    if pc.rank == 1:
        gids = gids[:-1]
    expected = ValueError if pc.rank == 1 else RemoteRankError
    with pytest.raises(expected, match="as many times as node ids"):
        write_spikes(os.path.join(shared, "x.h5"), times, gids, comm=pc.comm)
    with pytest.raises(ValueError, match="sorting must be one of"):
        write_spikes(os.path.join(shared, "x.h5"), times, times, sorting="by_gid", comm=pc.comm)
    assert os.listdir(shared) == []


@pytest.mark.skipif(
    not h5py.get_config().mpi,
    reason="this h5py is built without MPI (PyPI's): the mpio driver cannot be tested here",
)
def test_parallel_hdf5_path_is_taken(pc, shared):
    times, gids = skewed_spikes(pc.rank, pc.size)
    path = os.path.join(shared, "mpio.h5")
    write_spikes(path, times, gids, comm=pc.comm)
    all_times, all_gids = everything(pc.size)
    order = np.lexsort((all_gids, all_times))
    np.testing.assert_array_equal(
        h5py.File(path)["spikes/default/timestamps"][()], all_times[order]
    )
