"""p.parallel.run with engine="coreneuron" on one rank: the same spikes as NEURON, and
each feature CoreNEURON cannot run refused by name before the run. The failure matrix
(tests/launch/test_failures.py) checks the same on several ranks under mpiexec, and
tests/launch/test_engine_launched.py extracellular and LinearMechanism on one: a process
that deleted sections with either segfaults in its next run of artificial cells alone
(NEURON 9.0.2, with or without CoreNEURON), so they cannot share this one."""

from __future__ import annotations

import math
import os
import platform
import re
from typing import Any

import numpy as np
import pytest
from neuron import coreneuron

import parnrn
from parnrn import EngineError, p
from parnrn.context import engine
from parnrn.examples import brunel, mixed, ring
from parnrn.settings import settings

ERROR = r"\[rank 0/1\] CoreNEURON cannot run this model .*found before the run:\n  "


def spikes_of(build, tstops, **run_kw):
    p.parallel.gid_clear()
    model = build()
    for tstop in tstops:
        p.parallel.run(tstop, **run_kw)
    spikes = p.parallel.gather_spikes()
    p.parallel.gid_clear()
    del model
    return spikes


@pytest.fixture
def engine_setting():
    """settings.engine and NEURON's coreneuron switches as they were before the test."""
    saved = (settings.engine, coreneuron.enable, coreneuron.gpu, coreneuron.verbose)
    yield
    settings.engine = saved[0]
    coreneuron.enable, coreneuron.gpu, coreneuron.verbose = saved[1:]


@pytest.mark.parametrize(
    "build",
    [lambda: ring.build(12, 3), lambda: mixed.build(16, "round_robin")],
    ids=["ring", "mixed"],
)
def test_same_spikes_as_neuron_in_one_run_and_in_pieces(pc, build):
    neuron = spikes_of(build, [60], engine="neuron")
    assert len(neuron) > 20
    assert spikes_of(build, [60], engine="coreneuron") == neuron
    assert spikes_of(build, [20, 45, 60], engine="coreneuron") == neuron


def test_engines_can_take_turns_in_a_continued_run(pc):
    neuron = spikes_of(lambda: ring.build(12, 3), [90])
    model = ring.build(12, 3)
    for tstop, name in ((30, "neuron"), (60, "coreneuron"), (90, "neuron")):
        p.parallel.run(tstop, engine=name)
    assert p.parallel.gather_spikes() == neuron
    del model


def test_save_spikes_is_the_same_file_content(pc, tmp_path):
    files = {}
    for name in ("neuron", "coreneuron"):
        p.parallel.gid_clear()
        model = ring.build(12, 3)
        p.parallel.run(50, engine=name)
        p.parallel.save_spikes(tmp_path / f"{name}.h5")
        files[name] = parnrn.Spikes.load(tmp_path / f"{name}.h5")
        del model
    assert len(files["neuron"]) > 10 and files["coreneuron"] == files["neuron"]


def test_coreneuron_is_switched_on_for_the_run_only(pc, engine_setting):
    model = ring.build(6, 2)
    p.parallel.run(10, engine="coreneuron")
    assert not coreneuron.enable and coreneuron.verbose == 2
    coreneuron.enable = True  # set by the script: a run that names no engine uses it
    assert engine.chosen(None) == "coreneuron"
    p.parallel.run(20, engine="neuron")  # but "neuron" named runs NEURON
    assert coreneuron.enable
    assert p.parallel.run_report().engine == "neuron"
    del model


def test_the_engine_comes_from_the_call_then_the_settings(engine_setting):
    coreneuron.enable = False
    assert engine.chosen(None) == "neuron"
    parnrn.configure(engine="coreneuron")
    assert engine.chosen(None) == "coreneuron" and engine.chosen("neuron") == "neuron"
    with pytest.raises(ValueError, match=r"\[rank 0/1\] run: engine must be one of neuron, "):
        engine.chosen("gpu")
    with pytest.raises(ValueError, match="engine must be one of neuron, coreneuron, not 'nest'"):
        parnrn.configure(engine="nest")
    assert settings.engine == "coreneuron"


def test_run_report_counts_coreneurons_run(pc):
    model = ring.build(12, 3)
    p.parallel.run(50, engine="coreneuron", quiet=True)
    report = p.parallel.run_report()
    assert report.engine == "coreneuron" and report.computation[0] > 0
    assert report.computation[0] == report.psolve[0]
    assert math.isnan(report.wait[0]) and math.isnan(report.load_balance)
    assert math.isnan(report.imbalance) and math.isnan(report.speedup)
    # As NEURON counts them on one rank: nothing is exchanged.
    assert report.spikes_sent[0] == 0 and report.spikes_received[0] == 0
    assert report.summary().startswith("run 0 -> 50 ms on 1 rank with CoreNEURON in ")
    assert report.summary().endswith(
        "(the model's transfer included): load balance not measured (CoreNEURON counts no "
        "computation or wait per rank)"
    )
    del model


def test_checkpoint_needs_the_neuron_engine(pc, tmp_path):
    with pytest.raises(ValueError, match=r"\[rank 0/1\] run: checkpoint= needs the engine"):
        p.parallel.run(10, checkpoint=tmp_path / "ckpt", engine="coreneuron")
    assert not pc.network.initialized and not (tmp_path / "ckpt").exists()


def test_brunel_is_refused_naming_intfire1(pc):
    model = brunel.build(brunel.Params(ncell=50))
    expected = (
        r"IntFire1: 50 instances on rank 0 \(IntFire1\[0\], IntFire1\[1\], IntFire1\[2\], "
        r"\.\.\.\): one of NEURON's own mechanisms, which this CoreNEURON was not built with "
        r"\(NEURON's built-in mechanisms only: libcorenrnmech_internal\.so\)"
    )
    with pytest.raises(EngineError, match=ERROR + expected) as raised:
        p.parallel.run(10, engine="coreneuron")
    assert str(raised.value).count("\n") == 1 and p.t == 0  # its NetStims are fine
    del model


def make_cvode(cell, folder):
    p.CVode().active(1)
    return lambda: p.CVode().active(0)


def make_event_callbacks(cell, folder):
    def schedule():
        p.CVode().event(2.0, lambda: None)
        p.CVode().event(3.5, "x = 1")
        p.CVode().event(4.0)  # no callback: nothing to lose, not refused

    handler = p.FInitializeHandler(schedule)
    return lambda: handler


def make_sampled_records(cell, folder):
    every, at = p.Vector(), p.Vector()
    every.record(cell.soma(0.5)._ref_v, 0.1)
    times = p.Vector([1.0, 2.0])
    at.record(cell.soma(0.5)._ref_v, times)
    return lambda: (every, at, times)


def make_report(cell, folder):
    p.parallel.report("soma_v", [0], dt=0.1, path=folder / "soma_v.h5")
    return lambda: None


def make_stepped_plays(cell, folder):
    clamp = p.IClamp(cell.soma(0.5))
    every, at, times = p.Vector([0.0, 0.1]), p.Vector([0.0, 0.1]), p.Vector([1.0, 2.0])
    every.play(clamp._ref_amp, 0.5)
    at.play(clamp._ref_dur, times)
    return lambda: (clamp, every, at, times)


def make_gpu(cell, folder):
    coreneuron.gpu = True
    return lambda: setattr(coreneuron, "gpu", False)


def make_alpha_synapse(cell, folder):
    synapse = p.AlphaSynapse(cell.soma(0.5))
    return lambda: synapse


FEATURES = {
    "cvode": (make_cvode, r"CVode \(variable time step\) is active, on rank 0: CoreNEURON "
              r"integrates with the fixed step only; h\.CVode\(\)\.active\(0\) turns it off"),
    "event_callbacks": (make_event_callbacks, r"CVode\(\)\.event with a callback: 2 events on "
                        r"rank 0 \(at t = 2 ms: a Python callable, at t = 3\.5 ms: hoc 'x = "
                        r"1'\): CoreNEURON drops interpreter events"),
    "sampled_records": (make_sampled_records, r"Vector\.record\(ref, dt\) or \(ref, tvec\): 2 "
                        r"Vectors on rank 0 \(next sample at t = 0\.1 ms, next sample at t = "
                        r"1 ms\): CoreNEURON returns only the first sample"),
    "report": (make_report, r"p\.parallel\.report .*soma_v\.h5, on rank 0: it records with "
               r"Vector\.record\(ref, dt\), which CoreNEURON returns one sample of"),
    "stepped_plays": (make_stepped_plays, r"Vector\.play\(ref, dt\) or \(ref, tvec\): 2 "
                      r"Vectors on rank 0 \(Vector\[\d+\], Vector\[\d+\]\): CoreNEURON plays "
                      r"only Vector\.play\(ref, tvec, 1\)"),
    "gpu": (make_gpu, r"coreneuron\.gpu = True, on rank 0: this NEURON's CoreNEURON has no GPU "
            r"support \(it would end the process with status 42\)"),
    "mechanism": (make_alpha_synapse, r"AlphaSynapse: 1 instance on rank 0 "
                  r"\(AlphaSynapse\[\d+\]\): one of NEURON's own mechanisms"),
}  # fmt: skip


def refusal(*makes: Any, folder: Any = None) -> str:
    """The ``EngineError`` message of a run of a small ring whose first cell got each of
    ``makes``; all they made is gone afterwards (before the ring's sections, which a
    LinearMechanism points to)."""
    model = ring.build(4, 1)
    undos = [make(model[0], folder) for make in makes]
    try:
        p.parallel.run(10, engine="coreneuron")
    except EngineError as error:  # not kept: its traceback would keep the model alive
        return str(error)
    finally:
        assert p.t == 0 and not coreneuron.enable  # psolve never ran
        for undo in undos:
            undo()
        undos.clear()
        p.parallel.gid_clear()
    raise AssertionError("no EngineError")


@pytest.mark.parametrize("feature", FEATURES)
def test_each_feature_is_refused_by_name_before_the_run(pc, feature, tmp_path):
    make, expected = FEATURES[feature]
    message = refusal(make, folder=tmp_path)
    assert re.match(ERROR + expected, message), message
    assert message.count("\n") == 1  # this feature alone


def test_every_feature_of_a_rank_is_named_at_once(pc):
    lines = refusal(make_cvode, make_alpha_synapse).splitlines()[1:]
    assert [line.split(":")[0].split(",")[0] for line in lines] == [
        "  CVode (variable time step) is active",
        "  AlphaSynapse",
    ]


def test_a_continuous_play_runs_the_same_and_prints_nothing(pc, capfd):
    soma = p.Section(name="soma")
    soma.L = soma.diam = 10
    soma.insert("pas")
    clamp = p.IClamp(soma(0.5))
    clamp.dur = 1e9
    amps, times = p.Vector([0.0, 0.1, 0.0]), p.Vector([0.0, 5.0, 10.0])
    amps.play(clamp._ref_amp, times, 1)  # VecPlayContinuous: its queue entry uses printf
    voltages = {}
    for name in ("neuron", "coreneuron"):
        p.parallel.gid_clear()
        p.parallel.run(8, v_init=-65, engine=name)
        voltages[name] = soma(0.5).v
    assert voltages["neuron"] > -69  # the clamp's current counts
    assert voltages["coreneuron"] == pytest.approx(voltages["neuron"], abs=1e-9)
    assert capfd.readouterr().out == ""


def test_the_mechanism_library_is_found_as_neuron_finds_it(monkeypatch, tmp_path):
    path, source = engine.mechanism_library(p)
    assert path.endswith("libcorenrnmech_internal.so") and os.path.exists(path)
    assert source == "NEURON's built-in mechanisms only: libcorenrnmech_internal.so"
    built = tmp_path / platform.machine() / "libcorenrnmech.so"
    built.parent.mkdir()
    built.write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    assert engine.mechanism_library(p) == (str(built), f"{built}, made by nrnivmodl -coreneuron")
    monkeypatch.setenv("CORENEURONLIB", path)
    assert engine.mechanism_library(p) == (path, f"CORENEURONLIB={path}")


def test_a_model_coreneuron_can_run_has_no_problems(pc):
    model = mixed.build(8, "round_robin")
    p.parallel.run(1, engine="coreneuron")
    assert engine.problems(pc.network, p) == []
    assert np.isfinite(p.parallel.run_report().computation).all()
    del model
