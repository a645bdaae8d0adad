"""Variable reports on one rank: continued runs, a bounded buffer, bad arguments, an
existing path or a missing folder, gids that are no cell, a run that ends before the
report starts, and failures while writing or running that leave no file."""

from __future__ import annotations

import libsonata
import numpy as np
import pytest

from parnrn import GidError, HocError, p
from parnrn.examples import ring
from parnrn.output import reportfile


@pytest.fixture
def cells(pc):
    built = ring.build(6, 2)
    yield built
    del built


def soma_data(path):
    frame = libsonata.SomaReportReader(str(path))["default"].get()
    return np.asarray(frame.data), list(frame.ids)


def test_each_run_leaves_a_complete_file_and_the_buffer_stays_bounded(pc, cells, tmp_path):
    path = tmp_path / "v.h5"
    memory = p.Vector()
    memory.record(cells[2].soma(0.5)._ref_v, 0.1)
    report = pc.report("v", [2, 4], dt=0.1, buffer_mib=0.001, path=path)
    assert report.rows == 65  # 1 KiB of float64 for 2 elements
    pc.run(20)
    # t = 20 itself is recorded by the step that ends on it or by the next run
    assert soma_data(path)[0].shape == (memory.size(), 2) and memory.size() in (200, 201)
    assert max(v.buffer_size() for v in report.vectors) <= 2 * report.rows
    pc.run(35)
    data, ids = soma_data(path)
    assert ids == [2, 4] and data.shape == (memory.size(), 2) and memory.size() in (350, 351)
    np.testing.assert_array_equal(data[:, 0], memory.as_numpy().astype(np.float32))
    assert sorted(x.name for x in tmp_path.iterdir()) == ["v.h5"]


def test_existing_path_refused(pc, cells, tmp_path):
    path = tmp_path / "v.h5"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match=r"\[rank 0/1\] .*v.h5 exists"):
        pc.report("v", [1], dt=0.1, path=path)
    assert path.read_bytes() == b"precious"
    pc.report("v", [1], dt=0.1, path=path, overwrite=True)
    pc.run(5)
    assert soma_data(path)[0].shape[0] in (50, 51)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dt": 0.0375}, "must be a multiple of h.dt"),
        ({"dt": 0.1, "start": 5, "stop": 5}, "0 <= start < stop"),
        ({"dt": 0.1, "start": 0.05}, "start=0.05 must be a multiple of dt=0.1"),
        ({"dt": 0.1, "sections": "dend"}, "sections must be 'soma', 'all' or a function"),
        ({"dt": 0.1, "variable": "nope"}, "no range variable 'nope'"),
    ],
)
def test_bad_arguments(pc, cells, tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        pc.report("v", [1], path=tmp_path / "v.h5", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_report_after_the_first_run_refused(pc, cells, tmp_path):
    pc.run(1)
    with pytest.raises(RuntimeError, match="must come before the first run"):
        pc.report("v", [1], dt=0.1, path=tmp_path / "v.h5")


def test_failure_while_writing_leaves_no_file(pc, cells, tmp_path, monkeypatch):
    path = tmp_path / "v.h5"
    pc.report("v", [0, 1], dt=0.1, buffer_mib=0.001, path=path)

    def full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(reportfile, "_write_rows", full)
    with pytest.raises(OSError, match="No space left"):
        pc.run(10)
    assert list(tmp_path.iterdir()) == []
    pc.network.reports.clear()


def test_gids_that_are_no_cell_are_refused(pc, cells, tmp_path):
    path = tmp_path / "v.h5"
    with pytest.raises(GidError) as caught:
        pc.report("v", [0, 1, 99], dt=0.1, path=path)  # used to write node ids [0 1]
    assert str(caught.value).startswith(
        f"[rank 0/1] report {path}: gid(s) 99 are not a cell on any rank"
    )
    with pytest.raises(GidError, match=r"gid\(s\) 6, 7, .*, 15, \.\.\. \(94 in all\) are not"):
        pc.report("v", range(100), dt=0.1, path=path)
    with pytest.raises(GidError, match=r"^\[rank 0/1\] gid must be an integer .* not 1.5"):
        pc.report("v", [0, 1.5], dt=0.1, path=path)
    assert list(tmp_path.iterdir()) == [] and not pc.network.reports


def test_a_run_that_ends_before_the_report_starts_is_refused(pc, cells, tmp_path):
    path = tmp_path / "late.h5"
    pc.report("v", [0, 1], dt=0.1, start=50, path=path)
    with pytest.raises(ValueError) as caught:
        pc.run(20)
    assert str(caught.value).startswith(
        f"[rank 0/1] report {path} starts at 50 ms, after the end of this run (tstop = 20 ms)"
    )
    assert not pc.network.initialized  # refused before anything ran
    pc.run(60)
    frame = libsonata.SomaReportReader(str(path))["default"].get()
    assert frame.times[0] == pytest.approx(50) and np.asarray(frame.data).shape[0] in (100, 101)
    pc.run(70)  # the report has data now: a later run is never refused
    assert sorted(x.name for x in tmp_path.iterdir()) == ["late.h5"]


def test_a_failed_run_leaves_no_temporary_file(pc, cells, tmp_path, capsys):
    path = tmp_path / "v.h5"
    pc.report("v", [0, 1], dt=0.1, buffer_mib=0.001, path=path)

    def fail():
        raise ZeroDivisionError("the callback failed")

    at_5 = p.FInitializeHandler(lambda: p.CVode().event(5, fail))
    with pytest.raises(HocError, match="the callback failed"):
        pc.run(20)
    assert list(tmp_path.iterdir()) == [] and not pc.network.reports
    assert f"parnrn WARNING: report {path} abandoned: the run failed" in capsys.readouterr().err
    del at_5


def test_a_missing_folder_is_named_by_the_path_given(pc, cells, tmp_path):
    path = tmp_path / "no" / "v.h5"
    message = rf"^\[rank 0/1\] cannot write {path}: its folder {path.parent} does not exist$"
    with pytest.raises(FileNotFoundError, match=message):
        pc.report("v", [0, 1], dt=0.1, path=path)
    pc.run(5)
    spikes = tmp_path / "no" / "spikes.h5"
    message = rf"^\[rank 0/1\] cannot write {spikes}: its folder {spikes.parent} does not exist$"
    with pytest.raises(FileNotFoundError, match=message):
        pc.save_spikes(spikes)
    with pytest.raises(FileNotFoundError, match=message):
        pc.gather_spikes().save(spikes)
    assert list(tmp_path.iterdir()) == []
