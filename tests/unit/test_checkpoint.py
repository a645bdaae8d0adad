"""Checkpoint and restore on one rank, in process: the restored run gives the spikes and
the report values of the uninterrupted one; every refusal names its cause and leaves no
checkpoint behind."""

from __future__ import annotations

import gc
import json
import os

import h5py
import numpy as np
import pytest
from neuron import h

from parnrn import ParallelError, p
from parnrn.examples import ring


@pytest.fixture
def fresh():
    """No gids and no sections before and after: a checkpoint saves every section."""

    def clear():
        p.parallel.gid_clear()
        gc.collect()
        for sec in list(h.allsec()):
            h.delete_section(sec=sec)

    clear()
    yield
    clear()


def run_ring(tstop, *, save=None, restore=None, report=None, ncell=12):
    model = ring.build(ncell, 3)
    if restore:
        p.parallel.restore(restore)
    if report:
        p.parallel.report("v", range(ncell), dt=0.1, path=report)
    if save:
        p.parallel.run(save[1])
        p.parallel.checkpoint(save[0])
    p.parallel.run(tstop)
    spikes = p.parallel.gather_spikes()
    del model
    p.parallel.gid_clear()
    return spikes


def test_restored_spikes_and_reports_are_those_of_the_uninterrupted_run(fresh, tmp_path):
    full = run_ring(80, report=tmp_path / "full.h5")
    saved = run_ring(80, save=(tmp_path / "ckpt", 40))
    restored = run_ring(80, restore=tmp_path / "ckpt", report=tmp_path / "after.h5")
    assert len(full) > 30
    np.testing.assert_array_equal(saved.times, full.times)
    np.testing.assert_array_equal(restored.gids, full.gids)
    np.testing.assert_allclose(restored.times, full.times, rtol=0, atol=1e-9)
    with h5py.File(tmp_path / "full.h5") as whole, h5py.File(tmp_path / "after.h5") as after:
        start, stop, step = after["report/default/mapping/time"][:]
        assert (start, step) == pytest.approx((40, 0.1))
        assert stop == pytest.approx(whole["report/default/mapping/time"][1])
        tail = whole["report/default/data"][round(start / step) :]
        np.testing.assert_allclose(after["report/default/data"][:], tail, atol=1e-4)
    manifest = json.loads((tmp_path / "ckpt" / "manifest.json").read_text())
    assert manifest["t"] == pytest.approx(40) and manifest["ranks"] == 1
    assert sorted(manifest["cells"], key=int) == [str(gid) for gid in range(12)]
    assert manifest["cells"]["0"]["sections"] == 1 and manifest["settings"]["dt"] == h.dt


def test_nothing_to_checkpoint_before_a_run(fresh, tmp_path):
    model = ring.build(6, 2)  # noqa: F841
    with pytest.raises(ValueError, match=r"\[rank 0/1\] checkpoint .*ckpt: nothing has run yet"):
        p.parallel.checkpoint(tmp_path / "ckpt")


def test_an_existing_checkpoint_is_replaced_only_when_asked(fresh, tmp_path):
    model = ring.build(6, 2)  # noqa: F841
    p.parallel.run(10)
    p.parallel.checkpoint(tmp_path / "ckpt")
    with pytest.raises(FileExistsError, match=r"\[rank 0/1\] checkpoint .*ckpt exists"):
        p.parallel.checkpoint(tmp_path / "ckpt")
    p.parallel.run(20)
    p.parallel.checkpoint(tmp_path / "ckpt", replace=True)
    assert json.loads((tmp_path / "ckpt" / "manifest.json").read_text())["t"] == pytest.approx(20)
    assert os.listdir(tmp_path) == ["ckpt"]


def test_sections_without_a_cell_are_named(fresh, tmp_path):
    soma = h.Section(name="lonely")
    p.ParallelCon(soma, 0)
    p.parallel.run(5)
    with pytest.raises(ParallelError, match=r"\[rank 0/1\] checkpoint .*: 1 section\(s\) on this "
                       r"rank belong to no cell \(lonely\).*cell=self"):  # fmt: skip
        p.parallel.checkpoint(tmp_path / "ckpt")
    assert os.listdir(tmp_path) == []


def test_replayed_stimuli_are_refused(fresh, tmp_path):
    model = ring.build(6, 2)  # noqa: F841
    replay = h.PatternStim()  # noqa: F841
    p.parallel.run(5)
    with pytest.raises(ParallelError, match=r"1 PatternStim\(s\) on this rank replay spike"):
        p.parallel.checkpoint(tmp_path / "ckpt")


def test_a_failure_while_writing_leaves_no_checkpoint(fresh, tmp_path):
    class Twins:
        """Two sections of one name in one cell: BBSaveState fails writing it."""

        def __init__(self):
            self.a = h.Section(name="soma", cell=self)
            self.b = h.Section(name="soma", cell=self)

    model = ring.build(6, 2)  # noqa: F841
    twins = Twins()
    p.ParallelCon(twins.a, 6)
    p.parallel.run(5)
    with pytest.raises(Exception, match="not unique"):
        p.parallel.checkpoint(tmp_path / "ckpt")
    assert os.listdir(tmp_path) == []


def test_restore_refuses_a_missing_checkpoint_or_a_network_that_ran(fresh, tmp_path):
    model = ring.build(6, 2)  # noqa: F841
    with pytest.raises(FileNotFoundError, match=r"\[rank 0/1\] restore .*nowhere: no checkpoint"):
        p.parallel.restore(tmp_path / "nowhere")
    assert p.parallel.restore(tmp_path / "nowhere", missing_ok=True) is None
    p.parallel.run(5)
    p.parallel.checkpoint(tmp_path / "ckpt")
    with pytest.raises(ValueError, match=r"restore .*ckpt: this network has already run"):
        p.parallel.restore(tmp_path / "ckpt")


def test_restore_names_each_difference_of_the_model(fresh, tmp_path):
    run_ring(10, save=(tmp_path / "ckpt", 5), ncell=8)
    model = ring.build(7, 3)
    model[3].soma.insert("pas")
    dt = h.dt
    h.dt = dt / 2
    try:
        with pytest.raises(ParallelError) as caught:
            p.parallel.restore(tmp_path / "ckpt")
    finally:
        h.dt = dt
    message = str(caught.value)
    assert "[rank 0/1] restore" in message and "the model built is not the one" in message
    assert "1 gid(s) of the checkpoint are in no rank's model: 7" in message
    assert "dt is 0.0125 in the model, 0.025 in the checkpoint" in message
    mechanisms = "gid 3 has mechanisms [hh, k_ion, na_ion, pas] in the model, [hh, k_ion, na_ion]"
    assert mechanisms in message
