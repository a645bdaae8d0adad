"""p, the ParallelContext wrapper and ParallelCon, on one rank."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from neuron import h

import parnrn
from parnrn import BroadcastError, GidError, HocError, ParallelConnectError, p
from parnrn.log import logger


class Wrapped:
    """Stands for an nrn-patch object: the NEURON object is behind __neuron__."""

    def __init__(self, obj):
        self.obj = obj

    def __neuron__(self):
        return self.obj


class WithNetcon:
    def __init__(self, segment):
        self.segment = segment

    def __netcon__(self):
        return self.segment


def test_p_forwards_to_h():
    assert p.Vector is h.Vector
    sec = p.Section(name="forwarded")
    assert sec.name() == "forwarded"
    old = h.celsius
    p.celsius = 30.5
    try:
        assert h.celsius == 30.5
    finally:
        p.celsius = old
    assert "Section" in dir(p) and "ParallelCon" in dir(p)


def test_one_wrapper_per_process(pc):
    assert p.ParallelContext() is pc
    assert parnrn.ParallelContext() is pc
    assert (pc.rank, pc.size, pc.id(), pc.nhost()) == (0, 1, 0, 1)
    assert pc.__neuron__().nhost() == 1


def test_transmitter_from_a_section(pc):
    soma = p.Section(name="soma")
    nc = p.ParallelCon(soma, 1)
    assert nc.threshold == -20
    assert nc.preseg().sec == soma and nc.preseg().x == 0.5
    assert pc.gid_exists(1) and pc.network.registry.owned == {1}


def test_transmitter_sources(pc):
    soma = p.Section(name="soma")
    soma.nseg = 2
    assert p.ParallelCon(soma(0.25), np.int64(2), threshold=-5).preseg().x == 0.25
    assert p.ParallelCon(WithNetcon(soma(0.75)), 3).preseg().x == 0.75
    cell = p.IntFire1()
    assert p.ParallelCon(Wrapped(cell), 4).pre() == cell
    stim = p.NetStim()
    assert p.ParallelCon(stim, 5, output=False).pre() == stim
    pc.set_gid2node(6)
    nc = pc.cell(6, p.IntFire2())
    assert nc.threshold == 10  # cell() keeps NEURON's default threshold
    assert [pc.gid_exists(g) for g in (2, 3, 4, 5, 6)] == [3, 3, 3, 2, 3]


def test_cell_takes_a_netcon_and_a_pointer_with_sec(pc):
    soma = p.Section(name="soma")
    nc = p.NetCon(soma(0.5)._ref_v, None, sec=soma)
    pc.set_gid2node(1)
    assert pc.cell(1, nc, threshold=-30) is nc and nc.threshold == -30
    other = p.Section(name="other")
    assert p.ParallelCon(other(0.5)._ref_v, 2, sec=other).preseg().sec == other
    with pytest.raises(HocError, match=r"^\[rank 0/1\] NEURON error in cell\(3, .*\): .*PreSyn"):
        p.ParallelCon(other(0.5)._ref_v, 3, sec=other)  # NEURON: one gid per source


def test_receiver_weight_delay_and_refs(pc):
    post = p.Section(name="post")
    syn = p.ExpSyn(post(0.5))
    nc = p.ParallelCon(np.int32(7), syn, weight=0.25, delay=3.5)
    assert (nc.weight[0], nc.delay, nc.syn()) == (0.25, 3.5, syn)
    assert nc.threshold == 10  # never touched on a receiver
    assert pc.network.registry.wanted == {7}
    target = Wrapped(p.IntFire1())
    kept = pc.gid_connect(8, target, weight=[0.5])
    assert (kept.weight[0], kept.syn()) == (0.5, target.obj)
    assert (pc.network.receiving_netcons[-1], pc.network.targets[-1]) == (kept, target)


def test_receiver_keeps_target_alive(pc):
    nc = p.ParallelCon(9, p.IntFire1(), weight=0.1)
    assert nc.syn().hname().startswith("IntFire1")


def test_parallelcon_argument_errors(pc):
    with pytest.raises(ParallelConnectError, match=r"^\[rank 0/1\] ParallelCon needs exactly one"):
        p.ParallelCon(1, 2)
    with pytest.raises(ParallelConnectError, match=r"one integer gid.*; got Section and HocObject"):
        p.ParallelCon(p.Section(name="a"), p.IntFire1())
    with pytest.raises(ParallelConnectError, match=r"^\[rank 0/1\] ParallelCon needs exactly one"):
        p.ParallelCon(True, p.IntFire1())
    with pytest.raises(ParallelConnectError, match=r"^\[rank 0/1\] a receiving ParallelCon cannot"):
        p.ParallelCon(1, p.IntFire1(), threshold=0)
    with pytest.raises(ParallelConnectError, match=r"^\[rank 0/1\] cannot watch 'soma'"):
        p.ParallelCon("soma", 3)
    assert not pc.gid_exists(3) and 3 not in pc.network.registry.owned
    with pytest.raises(ParallelConnectError, match=r"^\[rank 0/1\] gid 4: unknown NetCon options"):
        p.ParallelCon(p.IntFire1(), 4, colour="red")
    with pytest.raises(ParallelConnectError, match=r"^\[rank 0/1\] gid_connect\(5, 'x'\) failed"):
        p.ParallelCon(5, "x")


def test_spike_record_returns_vectors_and_warns_on_late_gids(pc):
    handler = logging.Handler()
    seen = []
    handler.emit = lambda record: seen.append(record.getMessage())
    logger.addHandler(handler)
    try:
        p.ParallelCon(p.IntFire1(), 0)
        tv, gv = pc.spike_record()
        assert tv.hname().startswith("Vector") and gv.hname().startswith("Vector")
        mine = p.Vector(), p.Vector()
        assert pc.spike_record(0, *mine) == mine
        p.ParallelCon(p.IntFire1(), 1)
        p.ParallelCon(p.IntFire1(), 2)
    finally:
        logger.removeHandler(handler)
    assert len(seen) == 1 and seen[0].startswith("gid 1 was registered after spike_record(-1)")


def test_transfer_keys_must_not_be_negative(pc):
    soma = p.Section(name="soma")
    with pytest.raises(GidError, match=r"^\[rank 0/1\] transfer keys \(sgid\) must be .* not -1"):
        pc.source_var(soma(0.5)._ref_v, -1, sec=soma)
    with pytest.raises(GidError, match=r"not -2"):
        pc.target_var(p.IClamp(soma(0.5)), soma(0.5)._ref_v, -2)
    assert not pc.network.transfer_pending


def test_broadcast_serial(pc):
    vec = p.Vector([1.0, 2.0])
    assert pc.broadcast(vec) is vec and list(vec) == [1.0, 2.0]
    data = {"a": np.arange(3)}
    assert pc.broadcast(data) is data
    refused = r"^\[rank 0/1\] broadcast failed on rank 0.*NEURON IntFire1\[\d+\] cannot"
    with pytest.raises(BroadcastError, match=refused + " be broadcast: only Vectors can"):
        pc.broadcast(p.IntFire1())


def test_object_collectives_serial(pc):
    assert pc.gather({"x": 1}) == [{"x": 1}]
    assert pc.allgather(2) == [2]
    assert pc.scatter(["only"]) == "only"
    assert pc.allreduce(5, "max") == 5 and pc.allreduce(3, 1) == 3
    vec = pc.allgather(4.5, p.Vector())
    assert list(vec) == [4.5]
    summed = pc.allreduce(p.Vector([1, 2]), 1)
    assert list(summed) == [1.0, 2.0]
    assert pc.barrier() is None
    with pc.collective():
        pass


def test_a_netcon_given_to_a_transmitter_keeps_its_threshold(pc):
    # The ball-and-stick tutorial's shape: the cell makes its own detector at 10 mV.
    soma = p.Section(name="soma")
    detector = p.NetCon(soma(0.5)._ref_v, None, sec=soma)
    detector.threshold = 10
    assert p.ParallelCon(detector, 1) is detector and detector.threshold == 10
    dend = p.Section(name="dend")
    other = p.NetCon(dend(0.5)._ref_v, None, sec=dend)
    assert p.ParallelCon(other, 2, threshold=5).threshold == 5
    assert p.ParallelCon(p.Section(name="fresh"), 3).threshold == -20  # a new detector
