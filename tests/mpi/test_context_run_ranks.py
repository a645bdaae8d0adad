"""p.parallel.run on several ranks: bad arguments raise the same ValueError on every rank,
before NEURON sees them; continued runs with reports and progress; the warning when no
rank has a cell; the run report's one line on rank 0. Run under mpiexec -n 2
and -n 3."""

from __future__ import annotations

import os

import libsonata
import numpy as np
import pytest

from parnrn import log, p
from parnrn.context import runreport
from parnrn.examples import ring

pytestmark = pytest.mark.mpi(min_size=2)


@pytest.fixture
def cells(pc):
    built = ring.build(9, 2)
    yield built
    del built


def test_bad_tstop_raises_on_every_rank_and_the_run_goes_on(pc, cells):
    tag = rf"^\[rank {pc.rank}/{pc.size}\] run: "
    with pytest.raises(ValueError, match=tag + r"tstop must be .* not '100' \(a str\)"):
        pc.run("100")
    with pytest.raises(ValueError, match=tag + r"tstop must be .* not nan; now t = 0 ms"):
        pc.run(float("nan"))
    pc.run(30)
    with pytest.raises(ValueError, match=tag + r"tstop = 20 ms is before the current time, t = 30"):
        pc.run(20)
    pc.run(40)
    pc.run(40)  # t is 40 up to rounding: nothing to do, on every rank
    assert p.t == pytest.approx(40)


@pytest.mark.parametrize("progress", [False, True])
@pytest.mark.parametrize("buffer_mib", [None, 0.001, 4.0])
def test_continued_runs_with_reports_and_progress(pc, tmp_path, progress, buffer_mib):
    folder = pc.broadcast(str(tmp_path))
    path = os.path.join(folder, f"v-{buffer_mib}-{progress}.h5")
    model = ring.build(9, 2)
    if buffer_mib is not None:
        pc.report("v", range(9), dt=0.1, buffer_mib=buffer_mib, path=path)
    for tstop in (30, 40, 40, 52.5):
        pc.run(tstop, progress=progress, quiet=True)
        assert p.t == pytest.approx(tstop)
    spikes = pc.gather_spikes()
    del model
    if pc.rank == 0:
        assert len(spikes) > 20
    if buffer_mib is not None and pc.rank == 0:
        frame = libsonata.SomaReportReader(path)["default"].get()
        assert np.asarray(frame.data).shape[0] in (525, 526)
        assert os.listdir(folder) == [os.path.basename(path)]
    pc.network.reports.clear()


def test_a_run_without_cells_on_any_rank_warns_once_on_rank_0(pc, capsys, monkeypatch):
    monkeypatch.setattr(log, "_warned", set())
    p.parallel.run(1)
    p.parallel.run(2)
    err = capsys.readouterr().err
    warned = [line for line in err.splitlines() if "no rank has a cell" in line]
    assert len(warned) == (1 if pc.rank == 0 else 0)
    if warned:
        assert warned[0].startswith(f"[rank 0/{pc.size}] parnrn WARNING: no rank has a cell")
    pc.gid_clear()
    monkeypatch.setattr(log, "_warned", set())
    if pc.rank == pc.size - 1:  # one cell, on the last rank only: no warning anywhere
        soma = p.Section(name="soma")
        p.ParallelCon(soma, 0)
    p.parallel.run(1)
    assert "no rank has a cell" not in capsys.readouterr().err


def test_rank_0_logs_one_line_per_run_and_none_in_a_map_task(pc, cells, capsys):
    pc.run(10)
    pc.run(20)
    # The run reports (the first run also logs the job's random seed).
    lines = [
        line for line in capsys.readouterr().err.splitlines() if "INFO: random seed" not in line
    ]
    if pc.rank == 0:
        assert len(lines) == 2, lines
        for line, (start, stop) in zip(lines, [(0, 10), (10, 20)]):
            assert line.startswith(
                f"[rank 0/{pc.size}] parnrn INFO: run {start} -> {stop} ms on {pc.size} ranks in "
            )
            assert "load balance" in line and "imbalance" in line
    else:
        assert lines == []
    with runreport.map_task():
        pc.run(30)
    assert "INFO: run " not in capsys.readouterr().err
    report = pc.run_report()
    assert (report is not None) == (pc.rank == 0)
