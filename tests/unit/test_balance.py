"""Cell cost against NEURON's own LoadBalance, the balance file, and distribute by cost
(every rank's share computed here for ranks 0..3 of 4)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from neuron import h

from parnrn import p
from parnrn.context import balance, gids
from parnrn.examples import mixed


@pytest.fixture(scope="module")
def load_balance():
    p.load_file("loadbal.hoc")
    return p.LoadBalance()


def hh_soma():
    soma = p.Section(name="soma")
    soma.nseg = 3
    soma.insert("hh")
    return soma, [p.ExpSyn(soma(0.5)), p.IClamp(soma(0)), p.Exp2Syn(soma(1))]


def passive_tree():
    soma = p.Section(name="soma")
    soma.insert("pas")
    dends = []
    for i in range(5):
        dend = p.Section(name=f"dend{i}")
        dend.nseg = 2 * i + 1
        dend.insert("pas")
        dend.connect(soma(1))
        dends.append(dend)
    return soma, dends


def many_segments():
    soma, keep = hh_soma()
    axon = p.Section(name="axon")
    axon.nseg = 201
    axon.insert("hh")
    axon.insert("pas")
    axon.connect(soma(0))
    tuft = p.Section(name="tuft")
    tuft.nseg = 51
    tuft.insert("pas")
    tuft.insert("extracellular")
    tuft.connect(axon(1))
    # Point processes at the ends: their node belongs to the parent section.
    keep += [p.APCount(axon(0)), p.APCount(axon(1)), p.ExpSyn(tuft(0)), p.ExpSyn(tuft(1))]
    return soma, [axon, tuft, keep]


def integrated_ions():
    soma, keep = hh_soma()
    p.ion_style("na_ion", 3, 2, 1, 1, 0, sec=soma)  # eadvance: concentrations integrated
    return soma, keep


@pytest.mark.parametrize("build", [hh_soma, passive_tree, many_segments, integrated_ions])
def test_cost_equals_neuron_load_balance(load_balance, build):
    soma, keep = build()
    expected = load_balance.cell_complexity(sec=soma)
    assert balance.cell_cost(p, soma) == expected
    for sec in soma.wholetree():  # any section of the tree names the same cell
        assert balance.cell_cost(p, sec) == expected
    assert expected > 10
    del keep


def test_cost_of_a_hoc_cell_with_all(load_balance):
    h(
        "begintemplate BalanceTestCell\npublic soma, dend, all\ncreate soma, dend\nobjref all\n"
        "proc init() { connect dend(0), soma(1)\n soma insert hh\n dend { nseg = 9 insert pas }\n"
        " all = new SectionList()\n soma all.append()\n dend all.append() }\n"
        "endtemplate BalanceTestCell"
    )
    cell = p.BalanceTestCell()
    assert balance.cell_cost(p, cell) == load_balance.cell_complexity(cell) == 1 + 6 + 19
    # Two trees given as sections: the sum of each tree's cost.
    other, _ = passive_tree()
    both = balance.cell_cost(p, [cell.soma, other, cell.dend])
    assert both == balance.cell_cost(p, cell) + load_balance.cell_complexity(sec=other)


def test_cost_with_measured_mcomplex(tmp_path, monkeypatch):
    table = balance.complexity(p)
    names = ["zero_area_node", *list(table.density)[1:], *table.point, "overhead", "na_ion"]
    values = [0.5 + i for i in range(len(names))]
    (tmp_path / "mcomplex.dat").write_text("".join(f"{v:g} {n}\n" for v, n in zip(values, names)))
    monkeypatch.chdir(tmp_path)
    p.load_file("loadbal.hoc")
    neuron_lb = p.LoadBalance()
    neuron_lb.read_mcomplex()  # NEURON reads ./mcomplex.dat
    measured = balance.complexity(p, tmp_path / "mcomplex.dat")
    assert measured.density["hh"] != table.density["hh"]
    for build in (hh_soma, many_segments, integrated_ions):
        soma, keep = build()
        assert balance.cell_cost(p, soma, measured) == neuron_lb.cell_complexity(sec=soma)
        del keep


def test_mcomplex_of_other_mechanisms_is_refused(tmp_path):
    (tmp_path / "mcomplex.dat").write_text("1 zero_area_node\n1 capacitance\n1 nosuchmech\n")
    with pytest.raises(ValueError, match=r"line 3: expected mechanism 'pas', found 'nosuchmech'"):
        balance.complexity(p, tmp_path / "mcomplex.dat")


def test_cells_without_sections_are_refused():
    with pytest.raises(TypeError, match="cannot find the sections"):
        balance.cell_cost(p, 3.0)
    with pytest.raises(TypeError, match="is not a Section"):
        balance.cell_cost(p, [p.NetStim()])


def test_cost_per_type_measures_prototypes_and_drops_them():
    before = len(list(p.allsec()))
    costs = balance.cost_per_type(
        p, {k: (lambda k=k: mixed.make_cell(k)) for k in ("big", "small")}
    )
    assert len(list(p.allsec())) == before
    big = mixed.make_cell("big")
    assert costs["big"] == balance.cell_cost(p, big) and costs["small"] == 1 + 1 + 1 + 4 + 2
    assert costs == p.parallel.cost_per_type(
        {"big": lambda: mixed.make_cell("big"), "small": lambda: mixed.make_cell("small")}
    )


def test_balance_file_round_trip(tmp_path):
    costs = {7: 19.0, 0: 1005.5, 3: 0.0}
    path = balance.BalanceFile(costs).save(tmp_path / "balance.json")
    document = json.loads(path.read_text())
    assert document["format"] == "parnrn balance file" and document["version"] == 1
    assert list(document["costs"]) == ["0", "3", "7"] and document["cells"] == 3
    assert balance.BalanceFile.load(path).costs == costs
    assert [f.name for f in tmp_path.iterdir()] == ["balance.json"]  # no partial file left


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"format": "other"}, "not a parnrn balance file"),
        ({"format": "parnrn balance file", "version": 99, "costs": {}}, "version 99"),
        ({"format": "parnrn balance file", "version": 1}, "'costs'"),
    ],
)
def test_foreign_or_future_balance_file_is_refused(tmp_path, document, message):
    path = tmp_path / "balance.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match=rf"\[rank 0/1\] cannot read balance file .*{message}"):
        balance.BalanceFile.load(path)


def test_mismatched_balance_file_is_refused_naming_first_mismatches(tmp_path):
    path = balance.BalanceFile({gid: 1.0 for gid in range(2, 20)}).save(tmp_path / "b.json")
    with pytest.raises(ValueError) as raised:
        gids.distribute(range(12), 0, 2, "cost", cost=path)
    message = str(raised.value)
    assert "b.json does not match the model's 12 gids" in message
    assert "2 of the model's gids have no cost (first: 0, 1)" in message
    assert "8 gids are not in the model (first: 12, 13, 14, 15, 16, ...)" in message


def test_bad_costs_are_refused():
    with pytest.raises(ValueError, match="got 2 costs for 3 gids"):
        gids.distribute(range(3), 0, 2, "cost", cost=[1, 2])
    with pytest.raises(ValueError, match="gid 1 costs -1.0"):
        gids.distribute(range(3), 0, 2, "cost", cost=[1, -1, 2])
    with pytest.raises(ValueError, match="needs cost="):
        gids.distribute(range(3), 0, 2, "cost")


def shares(size, cost, ncell=40):
    return [gids.distribute(range(ncell), rank, size, "cost", cost=cost) for rank in range(size)]


def test_cost_distribution_same_from_every_form_and_partitions(tmp_path):
    ncell = 40
    per_type = balance.cost_per_type(
        p, {k: (lambda k=k: mixed.make_cell(k)) for k in mixed.COMPARTMENTS}
    )

    def by_type(gid):
        return per_type[mixed.cell_type(gid, ncell)]

    listed = [by_type(gid) for gid in range(ncell)]
    path = balance.BalanceFile(dict(enumerate(listed))).save(tmp_path / "balance.json")
    for size in (1, 2, 3, 4):
        expected = shares(size, listed)
        for form in (by_type, dict(enumerate(listed)), np.array(listed), path, str(path)):
            got = shares(size, form)
            assert all(np.array_equal(a, b) for a, b in zip(got, expected)), (size, form)
        assert sorted(np.concatenate(expected).tolist()) == list(range(ncell))
        loads = [sum(listed[g] for g in share) for share in expected]
        round_robin = [sum(listed[g] for g in range(r, ncell, size)) for r in range(size)]
        assert max(loads) <= max(round_robin)
        if size > 1:
            assert max(loads) / np.mean(loads) - 1 < 0.05


def test_cost_distribution_is_lpt_with_ties_to_the_lower_rank():
    # Heaviest first, each to the least loaded rank; equal loads go to the lower rank.
    assert [s.tolist() for s in shares(2, [5, 1, 4, 2, 3, 3], ncell=6)] == [[0, 1, 5], [2, 3, 4]]
    assert [s.tolist() for s in shares(3, [1.0] * 6, ncell=6)] == [[0, 3], [1, 4], [2, 5]]


def test_save_balance_on_one_rank(pc, tmp_path):
    path = tmp_path / "balance.json"
    assert pc.save_balance(str(path), {3: 2.5, 1: 9.0}) is None
    assert balance.BalanceFile.load(path).costs == {1: 9.0, 3: 2.5}
    assert pc.distribute([1, 3], "cost", cost=path).tolist() == [1, 3]
