"""p.parallel.run on one rank: initialization, continuation, progress, min_delay, transfer."""

from __future__ import annotations

import numpy as np
import pytest

from parnrn import p
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
