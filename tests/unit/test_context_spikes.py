"""Spikes: ordering, per_gid, files, raster, missing extras; gather_spikes on one rank."""

from __future__ import annotations

import sys

import h5py
import numpy as np
import pytest

from parnrn import Spikes, TransportError, p


@pytest.fixture
def spikes():
    return Spikes([5.0, 1.0, 5.0, 2.5, 1.0], [3, 7, 1, 3, 2])


def test_sorted_by_time_then_gid(spikes):
    assert spikes.times.tolist() == [1.0, 1.0, 2.5, 5.0, 5.0]
    assert spikes.gids.tolist() == [2, 7, 3, 1, 3]
    assert spikes.times.dtype == np.float64 and spikes.gids.dtype == np.int64
    assert len(spikes) == 5 and repr(spikes) == "Spikes(5 spikes, 4 gids)"


def test_merged_runs_sort_like_lexsort():
    rng = np.random.default_rng(0)
    runs = [np.sort(rng.integers(0, 50, 300)) * 0.025 for _ in range(3)]  # ties
    gids = [rng.integers(0, 40, 300) for _ in range(3)]
    times, ids = np.concatenate(runs), np.concatenate(gids)
    order = np.lexsort((ids, times))
    merged = Spikes(times, ids)
    np.testing.assert_array_equal(merged.times, times[order])
    np.testing.assert_array_equal(merged.gids, ids[order])


def test_equality_and_digest(spikes):
    same = Spikes([1.0, 1.0, 2.5, 5.0, 5.0], [7, 2, 3, 3, 1])
    assert same == spikes and same.digest() == spikes.digest() and len(same.digest()) == 16
    assert Spikes([1.0], [2]) != spikes
    assert Spikes([1.0], [2]).digest() != Spikes([1.0], [3]).digest()


def test_per_gid(spikes):
    trains = spikes.per_gid()
    assert list(trains) == [1, 2, 3, 7]
    assert trains[3].tolist() == [2.5, 5.0] and trains[7].tolist() == [1.0]
    assert Spikes([], []).per_gid() == {}


def test_length_mismatch():
    with pytest.raises(ValueError, match=r"^\[rank 0/1\] Spikes needs as many times as gids: 2"):
        Spikes([1.0, 2.0], [1])


def test_npz_round_trip(spikes, tmp_path):
    spikes.save(tmp_path / "s.npz")
    assert Spikes.load(tmp_path / "s.npz") == spikes


def test_h5_is_sonata(spikes, tmp_path):
    path = tmp_path / "s.h5"
    spikes.save(path, population="ring")
    with h5py.File(path) as file:
        group = file["spikes/ring"]
        assert group["timestamps"][()].tolist() == spikes.times.tolist()
        assert group["node_ids"][()].tolist() == spikes.gids.tolist()
        assert group["timestamps"].attrs["units"] == "ms"
        sorting = group.attrs["sorting"]
        names = h5py.check_enum_dtype(group.attrs.get_id("sorting").dtype)
        assert {v: k for k, v in names.items()}[sorting] == "by_time"
    assert Spikes.load(path) == spikes
    assert Spikes.load(path, population="ring") == spikes
    with pytest.raises(ValueError, match=r"^\[rank 0/1\] .* has spike populations \['ring'\]"):
        Spikes.load(path, population="other")


@pytest.mark.parametrize("name", ["s.npz", "s.h5"])
def test_save_leaves_no_partial_file_and_nothing_under_the_name_on_failure(
    spikes, tmp_path, monkeypatch, name
):
    spikes.save(tmp_path / name)
    assert sorted(f.name for f in tmp_path.iterdir()) == [name]
    (tmp_path / name).unlink()

    def fail_midway(*args, **kwargs):
        with open(args[0], "wb") as partial:
            partial.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", fail_midway)
    monkeypatch.setattr(h5py, "File", fail_midway)
    with pytest.raises(OSError, match="disk full"):
        spikes.save(tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_unknown_suffix(spikes, tmp_path):
    with pytest.raises(ValueError, match=r"^\[rank 0/1\] cannot save spikes to .*s.csv"):
        spikes.save(tmp_path / "s.csv")


def test_raster(spikes):
    import matplotlib

    matplotlib.use("Agg")
    ax = spikes.raster()
    offsets = ax.collections[0].get_offsets()
    assert offsets[:, 0].tolist() == spikes.times.tolist()
    assert offsets[:, 1].tolist() == spikes.gids.tolist()
    assert ax.get_title() == "4 cells firing, 5 spikes"
    assert spikes.raster(ax) is ax


def raster_of(ncell, nspikes, **kw):
    import matplotlib

    matplotlib.use("Agg")
    rng = np.random.default_rng(1)
    spikes = Spikes(rng.uniform(0, 100, nspikes), rng.integers(0, ncell, nspikes))
    ax = spikes.raster(cells=ncell, **kw)
    tick = np.sqrt(ax.collections[0].get_sizes()[0])  # points
    return ax, tick


@pytest.mark.parametrize(("ncell", "nspikes"), [(20, 80), (2000, 80), (2000, 30000)])
def test_raster_reads_at_20_and_2000_cells(ncell, nspikes):
    ax, tick = raster_of(ncell, nspikes, ranks=4, title="ring")
    assert ax.get_title() == f"ring: {ncell} cells, {nspikes} spikes, 4 ranks"
    assert ax.get_ylim() == (-0.5, ncell - 0.5)  # every cell, fired or not
    ticks = ax.get_yticks()
    assert len(ticks) > 2 and np.all(ticks == np.round(ticks))  # whole gids, no 17.5
    assert ax.get_ylabel() == "cell (gid)" and ax.get_xlabel() == "time (ms)"
    row = ax.get_window_extent().height * 72 / ax.figure.dpi / ncell
    if ncell == 20:
        assert 0.5 * row < tick < row  # a tick per row, apart from the next
    else:
        assert tick >= 1.5  # visible, however thin the rows
    if nspikes == 80 and ncell == 2000:
        assert tick >= 6  # a few spikes among many cells stay visible


def test_gathered_spikes_know_their_ranks(pc):
    assert p.parallel.gather_spikes().ranks == 1


@pytest.mark.parametrize("module", ["h5py", "matplotlib"])
def test_missing_extra_says_what_to_install(spikes, tmp_path, monkeypatch, module):
    # None in sys.modules makes the import fail as if the package were not installed.
    monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    if module == "h5py":
        with pytest.raises(ImportError, match=r"^\[rank 0/1\] h5py is needed to save spikes to"
                           r" \.h5: pip install 'parnrn\[hdf5\]'"):  # fmt: skip
            spikes.save(tmp_path / "s.h5")
        with pytest.raises(ImportError, match=r"pip install 'parnrn\[hdf5\]'"):
            Spikes.load(tmp_path / "s.h5")
    else:
        with pytest.raises(ImportError, match=r"^\[rank 0/1\] matplotlib is needed to draw a "
                           r"raster: pip install 'parnrn\[plot\]'"):  # fmt: skip
            spikes.raster()


def test_gather_spikes_serial(pc):
    cell = p.IntFire1()
    p.ParallelCon(cell, 4)
    stim = p.NetStim()
    stim.start, stim.number, stim.interval = 1, 2, 10
    nc = p.NetCon(stim, cell)
    nc.weight[0] = 2
    assert len(pc.gather_spikes()) == 0  # nothing recorded before the run
    p.parallel.run(20)
    for root in (0, None):
        gathered = pc.gather_spikes(root)
        assert gathered.times.tolist() == [2.0, 12.0] and gathered.gids.tolist() == [4, 4]
    bad_root = r"^\[rank 0/1\] gather_spikes failed on rank 0: ValueError: root 1 is not a rank"
    with pytest.raises(TransportError, match=bad_root):
        pc.gather_spikes(1)
    del nc


def test_only_chosen_gids_are_recorded(pc):
    cells = [p.IntFire1() for _ in range(3)]
    for gid, cell in enumerate(cells):
        p.ParallelCon(cell, gid)
    stims = []
    for cell in cells:
        stim = p.NetStim()
        stim.start, stim.number = 1, 1
        nc = p.NetCon(stim, cell)
        nc.weight[0] = 2
        stims.append((stim, nc))
    tv, gv = p.Vector(), p.Vector()
    pc.spike_record(0, tv, gv)
    pc.spike_record(2, tv, gv)  # same vectors: gathered once
    p.parallel.run(5)
    assert pc.gather_spikes().gids.tolist() == [0, 2]
