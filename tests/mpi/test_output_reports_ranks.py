"""Variable reports on 2 and 3 ranks, in process: the file read back equal to Vector.record
gathered from every rank, an existing path, a missing folder, bad arguments, gids that
are no cell and a run that ends before the report starts raising on every rank. (The
bits on 1, 2 and 3 ranks and a failure during the run: tests/launch.)"""

from __future__ import annotations

import os

import libsonata
import numpy as np
import pytest

from parnrn import GidError, RemoteRankError, p
from parnrn.examples import ring

pytestmark = pytest.mark.mpi(min_size=2)


@pytest.fixture
def shared(tmp_path):
    """Rank 0's temporary directory, the same on every rank."""
    return p.parallel.broadcast(str(tmp_path))


@pytest.fixture
def cells(pc):
    built = ring.build(9, 2)
    yield built
    del built


def test_report_equals_vector_record_of_every_rank(pc, cells, shared):
    path = os.path.join(shared, "v.h5")
    memory = {}
    for gid, cell in cells.items():
        if gid in (1, 4, 8):
            memory[gid] = p.Vector()
            memory[gid].record(cell.soma(0.5)._ref_v, 0.05)
    pc.report("v", [8, 1, 4], dt=0.05, buffer_mib=0.0005, path=path)
    pc.run(30)
    recorded = pc.allgather({g: v.as_numpy().astype(np.float32) for g, v in memory.items()})
    want = {g: v for part in recorded for g, v in part.items()}
    frame = libsonata.SomaReportReader(path)["default"].get()
    data = np.asarray(frame.data)
    assert list(frame.ids) == [1, 4, 8] and data.shape[0] == want[1].size > 500
    for column, gid in enumerate(frame.ids):
        np.testing.assert_array_equal(data[:, column], want[gid])


def test_existing_path_refused_on_every_rank(pc, cells, shared):
    path = os.path.join(shared, "v.h5")
    if pc.rank == 0:
        with open(path, "w") as file:
            file.write("precious")
    expected = FileExistsError if pc.rank == 0 else RemoteRankError
    with pytest.raises(expected, match="exists: remove it or pass overwrite=True"):
        pc.report("v", range(9), dt=0.1, path=path)
    with open(path) as file:
        assert file.read() == "precious"
    assert sorted(os.listdir(shared)) == ["v.h5"]


def test_bad_variable_on_one_rank_raises_on_every_rank(pc, cells, shared):
    owner = 1  # round robin: gid 1 lives on rank 1
    expected = ValueError if pc.rank == owner else RemoteRankError
    with pytest.raises(expected, match="no range variable 'cai'"):
        pc.report("cai", [1], "cai", dt=0.1, path=os.path.join(shared, "cai.h5"))
    assert os.listdir(shared) == []


def test_gids_that_are_no_cell_are_refused_on_every_rank(pc, cells, shared):
    path = os.path.join(shared, "v.h5")
    with pytest.raises(GidError) as caught:
        pc.report("v", [0, 1, 99], dt=0.1, path=path)
    assert str(caught.value).startswith(
        f"[rank {pc.rank}/{pc.size}] report {path}: gid(s) 99 are not a cell on any rank"
    )
    # Each rank lists only its own gids: 99 is still found missing, by every rank.
    mine = [gid for gid in range(9) if gid % pc.size == pc.rank]
    with pytest.raises(GidError, match=r"gid\(s\) 99 are not a cell on any rank"):
        pc.report("v", mine + ([99] if pc.rank == pc.size - 1 else []), dt=0.1, path=path)
    assert os.listdir(shared) == []


def test_a_run_that_ends_before_the_report_starts_is_refused_on_every_rank(pc, cells, shared):
    path = os.path.join(shared, "late.h5")
    pc.report("v", range(9), dt=0.1, start=50, path=path)
    with pytest.raises(ValueError, match=rf"^\[rank {pc.rank}/{pc.size}\] report .*late.h5 starts"):
        pc.run(20)
    pc.run(60)
    if pc.rank == 0:
        frame = libsonata.SomaReportReader(path)["default"].get()
        assert frame.times[0] == pytest.approx(50) and list(frame.ids) == list(range(9))
    pc.network.reports.clear()


def test_a_missing_folder_is_named_by_the_path_given_on_every_rank(pc, cells, shared):
    path = os.path.join(shared, "no", "v.h5")
    expected = FileNotFoundError if pc.rank == 0 else RemoteRankError
    with pytest.raises(expected, match=f"cannot write {path}: its folder .* does not exist"):
        pc.report("v", range(9), dt=0.1, path=path)
    pc.run(5)
    with pytest.raises(expected, match="cannot write .*spikes.h5: its folder .* does not exist"):
        pc.save_spikes(os.path.join(shared, "no", "spikes.h5"))
    assert os.listdir(shared) == []
