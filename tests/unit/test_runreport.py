"""The run report on one rank, and its derived numbers, table and chart."""

from __future__ import annotations

import numpy as np
import pytest

from parnrn import configure, p
from parnrn.context import runreport
from parnrn.context.runreport import RunReport, imbalance
from parnrn.examples import mixed


def report_of(computation, wait):
    ranks = len(computation)
    zeros = np.zeros(ranks)
    counts = np.arange(ranks, dtype=np.int64)
    return RunReport(
        t_start=0.0,
        t_stop=100.0,
        setup=zeros + 0.1,
        computation=np.asarray(computation, dtype=float),
        wait=np.asarray(wait, dtype=float),
        psolve=np.asarray(computation, dtype=float) + np.asarray(wait, dtype=float),
        spikes_sent=counts,
        spikes_received=counts,
        cells=counts,
        compartments=counts,
    )


def test_derived_numbers():
    report = report_of([2.0, 4.0, 3.0], [2.1, 0.1, 1.1])
    assert report.ranks == 3
    assert report.load_balance == pytest.approx(3.0 / 4.1)
    assert report.imbalance == pytest.approx(4.0 / 3.0 - 1)
    assert report.speedup == pytest.approx(4.1 / 3.0)
    perfect = report_of([1.0, 1.0], [0.0, 0.0])
    assert perfect.load_balance == 1 and perfect.imbalance == 0 and perfect.speedup == 1
    assert imbalance([10, 12]) == pytest.approx(12 / 11 - 1) and imbalance([0, 0]) == 0


def test_table_shows_every_rank_or_a_summary():
    few = report_of([2.0, 4.0], [1.0, 0.0]).table().splitlines()
    assert few[0].startswith("run 0 -> 100 ms on 2 ranks in 4 s: load balance 0.75")
    assert "computation s" in few[1] and [line.split()[0] for line in few[2:]] == ["0", "1"]
    many = report_of(np.linspace(1, 2, 20), np.zeros(20)).table().splitlines()
    assert [line.split()[0] for line in many[2:]] == ["min", "mean", "max"]


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    report_of([2.0, 4.0], [1.0, 0.0]).plot(tmp_path / "balance.png")
    assert (tmp_path / "balance.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_summary_says_what_each_figure_measures():
    # Four equal ranks that waited two thirds of the run: balanced, but slowed by waiting.
    report = report_of([1.0, 1.0, 1.025, 0.975], [2.0, 2.0, 1.975, 2.025])
    assert report.summary() == (
        "run 0 -> 100 ms on 4 ranks in 3 s: load balance 0.33 (the ranks computed 33% of "
        "the time and waited the rest in the spike exchange; with no wait at all, at most "
        "3.00x faster), imbalance 2.5% (the busiest rank's computation over the mean: what "
        "balancing the cells can gain)"
    )


def test_one_rank_report_is_logged_at_debug_only(pc, capsys, restore_settings):
    assert pc.run_report() is None or pc.run_report().ranks == 1
    model = mixed.build(12, "cost")
    pc.run(20)
    first = pc.run_report()
    logged = capsys.readouterr().err
    assert "run " not in logged and "load balance" not in logged  # one rank: no balance
    configure(log_level="DEBUG")
    pc.run(25)
    logged = capsys.readouterr().err.splitlines()
    assert logged[0] == "[rank 0/1] parnrn DEBUG: run report per rank:"
    assert "compartments" in logged[1] and logged[2].split()[0] == "0" and len(logged) == 3
    pc.run(30, quiet=True)
    second = pc.run_report()
    assert capsys.readouterr().err == ""
    with runreport.map_task():
        pc.run(35)
    assert capsys.readouterr().err == ""
    assert pc.run_report().t_stop == pytest.approx(35)
    times = (first.t_start, first.t_stop, second.t_start, second.t_stop)
    assert times == pytest.approx((0, 20, 25, 30))
    for report in (first, second):
        assert report.ranks == 1 and report.cells.tolist() == [12]
        assert report.compartments.tolist() == [sum(sec.nseg for sec in p.allsec())]
        for times in (report.setup, report.computation, report.wait, report.psolve):
            assert times.shape == (1,) and np.all(times >= 0)
        # NEURON's step and wait times are parts of psolve's wall time.
        assert report.computation[0] + report.wait[0] <= report.psolve[0] * 1.01 + 1e-3
        assert report.computation[0] > 0
    # One rank exchanges no spikes: NEURON counts none.
    assert first.spikes_sent.tolist() == [0] and first.spikes_received.tolist() == [0]
    del model
