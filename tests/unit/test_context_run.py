"""p.parallel.run on one rank: initialization, continuation, progress, min_delay, transfer."""

from __future__ import annotations

import libsonata
import numpy as np
import pytest

from parnrn import log, p
from parnrn.context import run
from parnrn.examples import ring


def ring_spikes(tstops, **run_kw):
    p.parallel.gid_clear()
    model = ring.build(10, 3)
    for tstop in tstops:
        p.parallel.run(tstop, **run_kw)
    spikes = p.parallel.gather_spikes()
    del model
    return spikes


def test_run_records_every_gid_and_sets_min_delay(pc):
    spikes = ring_spikes([50])
    assert len(spikes) > 20 and set(spikes.gids.tolist()) == set(range(10))
    # NEURON's min delay counts only connections between ranks: none on one rank.
    assert pc.min_delay == 10
    assert p.t == pytest.approx(50)


def test_second_run_continues(pc):
    whole = ring_spikes([60])
    pieces = ring_spikes([20, 45, 60])
    assert whole == pieces
    assert p.t == pytest.approx(60)


def test_progress_gives_the_same_spikes(pc, capsys):
    plain = ring_spikes([80])
    shown = ring_spikes([80], progress=True)
    assert shown == plain and shown.digest() == plain.digest()
    assert "80.0/80.0" in capsys.readouterr().err


def test_v_init_and_finitialize(pc):
    soma = p.Section(name="soma")
    soma.insert("pas")
    p.parallel.run(1, v_init=-50)
    assert pc.network.initialized
    # relaxing from -50 towards e_pas = -70 with tau = 1 ms
    assert soma(0.5).v == pytest.approx(-70 + 20 * np.exp(-1), abs=0.1)
    p.parallel.finitialize(-60)
    assert p.t == 0 and soma(0.5).v == -60
    p.parallel.run(0.5)  # continues: no second finitialize
    assert p.t == pytest.approx(0.5)
    assert soma(0.5).v == pytest.approx(-70 + 10 * np.exp(-0.5), abs=0.1)


def test_min_delay_without_connections_is_maxstep(pc):
    assert pc.min_delay is None
    p.parallel.run(1)
    assert pc.min_delay == 10


def test_transfer_is_set_up_by_run(pc):
    source = p.Section(name="source")
    target = p.Section(name="target")
    clamp = p.IClamp(target(0.5))
    pc.source_var(source(0.5)._ref_v, 0, sec=source)
    pc.target_var(clamp, clamp._ref_amp, 0)
    assert pc.network.transfer_pending
    p.parallel.run(0.1, v_init=-42)
    assert not pc.network.transfer_pending
    assert clamp.amp == pytest.approx(source(0.5).v, abs=1e-9)
    assert source(0.5).v == pytest.approx(-42, abs=0.5)


def test_psolve_is_neurons_own_and_keeps_state_set_after_finitialize(pc):
    soma = p.Section(name="soma")
    soma.insert("hh")
    p.finitialize(-65)
    soma(0.5).hh.m = 0.9  # set after the user's own finitialize
    pc.psolve(p.dt)
    assert p.t == pytest.approx(p.dt)
    assert soma(0.5).hh.m == pytest.approx(0.9072, abs=1e-3)  # 0.0529 if re-initialized
    assert not pc.network.initialized and not pc.network.records.pairs  # parnrn did nothing


def test_p_run_is_stdruns_run(pc):
    soma = p.Section(name="soma")
    soma.insert("pas")
    p.load_file("stdrun.hoc")
    p.tstop, p.v_init = 2, -50
    p.run()  # stdrun's run(): no argument, initializes every call
    assert p.t == pytest.approx(2)
    p.run()
    assert p.t == pytest.approx(2)
    p.continuerun(3)
    assert p.t == pytest.approx(3)


@pytest.mark.parametrize(
    ("tstop", "shown"),
    [
        ("100", "not '100' (a str)"),
        (None, "not None (a NoneType)"),
        (True, "not True (a bool)"),
        (float("nan"), "not nan"),
        (2e9, "not 2e+09"),
        (np.float64(-5), "tstop = -5 ms is before the current time"),
    ],
)
def test_bad_tstop_is_a_value_error_before_neuron_sees_it(pc, tstop, shown):
    model = ring.build(4, 1)
    with pytest.raises(ValueError, match=r"^\[rank 0/1\] run: ") as caught:
        p.parallel.run(tstop)
    assert shown in str(caught.value) and "t = 0 ms" in str(caught.value)
    assert not pc.network.initialized  # nothing ran: the next run starts cleanly
    p.parallel.run(5)
    assert p.t == pytest.approx(5)
    del model


def test_a_run_to_an_earlier_time_is_refused_and_the_network_goes_on(pc):
    model = ring.build(4, 1)
    p.parallel.run(30)
    with pytest.raises(ValueError, match=r"\[rank 0/1\] run: tstop = 20 ms is before the current"):
        p.parallel.run(20)
    with pytest.raises(ValueError, match=r"t = 30 ms: a run continues from where"):
        p.parallel.run(-5)
    # t is 30 up to NEURON's rounding, on either side: a run to 30 again does nothing.
    p.parallel.run(30)
    p.parallel.run(40)
    p.parallel.run(40)
    assert p.t == pytest.approx(40)
    del model


@pytest.mark.parametrize("v_init", [float("nan"), float("inf"), "-65"])
def test_bad_v_init_is_a_value_error(pc, v_init):
    p.Section(name="soma")
    with pytest.raises(ValueError, match=r"\[rank 0/1\] v_init must be a finite number of mV"):
        p.parallel.run(1, v_init=v_init)
    with pytest.raises(ValueError, match=r"\[rank 0/1\] v_init must be a finite number of mV"):
        p.parallel.finitialize(v_init)
    assert not pc.network.initialized


@pytest.mark.parametrize("dt", [0, -0.025, float("nan")])
def test_bad_dt_is_a_value_error(pc, dt):
    p.Section(name="soma")
    saved = p.dt
    p.dt = dt
    try:
        with pytest.raises(ValueError, match=r"\[rank 0/1\] h.dt must be a finite number of ms"):
            p.parallel.run(1)
    finally:
        p.dt = saved


@pytest.mark.parametrize("progress", [False, True])
@pytest.mark.parametrize("buffer_mib", [None, 0.001, 4.0])
def test_continued_runs_with_reports_and_progress(pc, tmp_path, progress, buffer_mib):
    whole = ring_spikes([40])
    p.parallel.gid_clear()
    model = ring.build(10, 3)
    if buffer_mib is not None:
        path = tmp_path / "v.h5"
        pc.report("v", range(10), dt=0.1, buffer_mib=buffer_mib, path=path)
    for tstop in (30, 40, 40, 52.5):
        p.parallel.run(tstop, progress=progress)
        assert p.t == pytest.approx(tstop)
    spikes = p.parallel.gather_spikes()
    del model
    assert spikes.times[spikes.times <= 40].tolist() == whole.times.tolist()
    if buffer_mib is not None:
        frame = libsonata.SomaReportReader(str(path))["default"].get()
        assert np.asarray(frame.data).shape[0] in (525, 526)
        assert sorted(x.name for x in tmp_path.iterdir()) == ["v.h5"]
        pc.network.reports.clear()


def test_pieces_never_end_before_t():
    assert run.piece_stops(29.99999999999883, 40, 10, 0.025) == [40]
    assert run.piece_stops(0, 25, 10, 0.025) == [10, 20, 25]
    assert run.piece_stops(0, 20.01, 10, 0.025) == [10, 20.01]
    assert run.piece_stops(40.00000000000053, 40, 10, 0.025) == []


def test_a_run_without_cells_warns_once(pc, capsys, monkeypatch):
    monkeypatch.setattr(log, "_warned", set())
    soma = p.Section(name="soma")  # a section, but no gid: no spikes to record
    p.parallel.run(1)
    p.parallel.run(2)
    warnings = capsys.readouterr().err.splitlines()
    assert [line for line in warnings if "WARNING" in line] == [
        "[rank 0/1] parnrn WARNING: no rank has a cell (a gid registered with "
        "p.ParallelCon(source, gid), or set_gid2node and cell): p.parallel.run records no "
        "spikes, and gather_spikes() will be empty (warned once)"
    ]
    assert len(p.parallel.gather_spikes()) == 0
    pc.gid_clear()
    monkeypatch.setattr(log, "_warned", set())
    model = ring.build(3, 1)
    p.parallel.run(1)
    assert "WARNING" not in capsys.readouterr().err
    del model, soma
