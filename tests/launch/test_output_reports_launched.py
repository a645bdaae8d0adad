"""SONATA variable reports of the ring written by 1, 2 and 3 ranks: the same data bit for
bit, equal (float32) to Vector.record in memory, read by libsonata and h5py in the layout
SONATA lists. Every launch runs under a timeout."""

from __future__ import annotations

import glob
import os

import h5py
import libsonata
import numpy as np
import pytest
from support.launch import run_mpi

SUPPORT = os.path.join(os.path.dirname(os.path.dirname(__file__)), "support")
SCRIPT = os.path.join(SUPPORT, "report_ring.py")


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    folders = {}
    for ranks in (1, 2, 3):
        folder = str(tmp_path_factory.mktemp(f"ranks{ranks}"))
        done = run_mpi(ranks, [SCRIPT, folder], timeout=180)
        assert done.returncode == 0, done.stderr
        folders[ranks] = folder
    return folders


def contents(path: str) -> dict[str, bytes]:
    with h5py.File(path, "r") as file:
        found = {}
        file.visititems(
            lambda name, item: found.__setitem__(name, item[()].tobytes())
            if isinstance(item, h5py.Dataset) else None
        )  # fmt: skip
        return found


@pytest.mark.parametrize("report", ["soma.h5", "all.h5"])
def test_same_bits_on_1_2_3_ranks(written, report):
    one = contents(os.path.join(written[1], report))
    assert set(one) >= {"report/default/data", "report/default/mapping/time"}
    for ranks in (2, 3):
        assert contents(os.path.join(written[ranks], report)) == one
    assert not glob.glob(os.path.join(written[3], "*partial*"))


def test_soma_report_equals_vector_record(written):
    for ranks, folder in written.items():
        memory = {}
        for rank in range(ranks):
            with np.load(os.path.join(folder, f"memory{rank}.npz")) as saved:
                memory |= {int(g): saved[g] for g in saved.files}
        population = libsonata.SomaReportReader(os.path.join(folder, "soma.h5"))["default"]
        assert population.sorted and population.data_units == "mV"
        assert population.time_units == "ms"
        frame = population.get()
        data = np.asarray(frame.data)
        assert data.dtype == np.float32 and data.shape == (601, 20)
        assert list(frame.ids) == list(range(20))
        for column, gid in enumerate(frame.ids):
            np.testing.assert_array_equal(data[:, column], memory[gid])
        np.testing.assert_allclose(frame.times[:3], [0, 0.1, 0.2])


def test_compartment_report_layout(written):
    path = os.path.join(written[2], "all.h5")
    population = libsonata.ElementReportReader(path)["default"]
    frame = population.get()
    assert [tuple(x) for x in frame.ids] == [(g, e) for g in (3, 4, 17) for e in range(3)]
    assert np.asarray(frame.data).shape == (700, 9)  # 10 <= t < 45 every 0.05 ms
    assert population.times[0] == 10 and population.data_units == "mA/cm2"
    with h5py.File(path, "r") as file:
        mapping = file["report/default/mapping"]
        assert mapping["node_ids"].dtype == np.uint64 and mapping["node_ids"].attrs["sorted"]
        assert mapping["index_pointers"].dtype == np.uint64
        assert mapping["index_pointers"][()].tolist() == [0, 3, 6, 9]
        assert mapping["element_ids"].dtype == np.uint32
        np.testing.assert_allclose(mapping["time"][()], [10, 45, 0.05])
        assert mapping["time"].attrs["units"] == "ms"
        assert file["report/default/data"].dtype == np.float32


@pytest.mark.parametrize("ranks", [2, 3])
def test_failure_while_writing_ends_the_job_and_leaves_no_file(tmp_path, ranks):
    done = run_mpi(ranks, [os.path.join(SUPPORT, "report_failing.py"), str(tmp_path)], 120)
    assert done.returncode != 0
    assert "No space left on device" in done.stderr
    assert f"rank {ranks - 1}/{ranks}" in done.stderr
    assert "should not have ended" not in done.stdout
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("ranks", [2, 3])
def test_failure_inside_psolve_ends_the_job_and_leaves_no_file(tmp_path, ranks):
    script = os.path.join(SUPPORT, "report_failing.py")
    done = run_mpi(ranks, [script, str(tmp_path), "callback"], 120)
    assert done.returncode != 0
    assert "the callback at 25 ms failed" in done.stderr
    assert f"[rank {ranks - 1}/{ranks}] parnrn: rank {ranks - 1} failed" in done.stderr
    assert "should not have ended" not in done.stdout
    assert os.listdir(tmp_path) == []
