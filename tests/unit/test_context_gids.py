"""gid validation, distribution strategies and the run-time gid check, on one rank."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from parnrn import GidError, configure, p
from parnrn.context import gids
from parnrn.log import logger


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)  # not the run report, logged at INFO
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def logged():
    handler = ListHandler()
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def test_round_robin_and_block():
    assert gids.distribute(range(10), 1, 3).tolist() == [1, 4, 7]
    assert gids.distribute(range(10), 0, 3, "block").tolist() == [0, 1, 2, 3]
    assert gids.distribute(range(10), 2, 3, "block").tolist() == [7, 8, 9]
    assert gids.distribute(np.array([5, 9]), 2, 3).tolist() == []
    assert gids.distribute(range(4), 0, 1).dtype == np.int64


def test_balanced_is_greedy_lpt_and_a_partition():
    weights = [5, 1, 4, 3, 3, 2]
    shares = [gids.distribute(range(6), r, 2, "balanced", weights).tolist() for r in range(2)]
    # heaviest first to the least loaded rank: 5->0, 4->1, 3->1, 3->0, 2->1 (7 vs 8), 1->0
    assert shares == [[0, 1, 4], [2, 3, 5]]
    loads = [sum(weights[g] for g in share) for share in shares]
    assert loads == [9, 9]


@pytest.mark.parametrize("strategy", ["round_robin", "block", "balanced"])
@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_every_strategy_partitions(strategy, size):
    items = np.arange(100, 137)
    weights = np.linspace(1, 3, items.size)
    shares = [gids.distribute(items, r, size, strategy, weights) for r in range(size)]
    assert sorted(np.concatenate(shares).tolist()) == items.tolist()


def test_distribute_errors_name_rank_and_cause(pc):
    with pytest.raises(ValueError, match=r"^\[rank 0/1\] unknown distribution strategy 'x'"):
        pc.distribute(range(3), strategy="x")
    with pytest.raises(ValueError, match=r"^\[rank 0/1\] strategy 'balanced' needs weights"):
        pc.distribute(range(3), strategy="balanced")
    with pytest.raises(ValueError, match=r"^\[rank 0/1\] 'balanced' needs one finite"):
        pc.distribute(range(3), strategy="balanced", weights=[1, -1, 2])
    assert pc.distribute(range(3)).tolist() == [0, 1, 2]


def test_as_gid():
    assert gids.as_gid(np.int32(4)) == 4
    assert gids.as_gid(3.0) == 3
    with pytest.raises(GidError, match=r"^\[rank 0/1\] gid must be an integer from 0 .* not -1$"):
        gids.as_gid(-1)
    with pytest.raises(GidError, match=r"^\[rank 0/1\] gid must be .* not 2.5"):
        gids.as_gid(2.5)
    with pytest.raises(GidError, match=r"^\[rank 0/1\] gid must be .* not True$"):
        gids.as_gid(True)
    with pytest.raises(GidError, match=r"^\[rank 0/1\] gid must be .* not -3$"):
        gids.as_gid(np.int64(-3))


RULE = r"^\[rank 0/1\] gid must be an integer from 0 to 2\*\*31 - 1"


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ([0.5, 1.5], "not 0.5 (item 0 of 2)"),  # was truncated to [0, 1]: two cells merged
        (np.array([3, 2.5]), "not 2.5 (item 1 of 2)"),
        ([1, np.nan], "not nan (item 1 of 2)"),
        (np.array([4, -3]), "not -3 (item 1 of 2)"),
        ([2, "3"], "not '3'"),
        ([True, False], "not True"),
    ],
)
def test_distribute_refuses_gids_that_are_not_integers(pc, given, named):
    with pytest.raises(GidError, match=RULE) as caught:
        pc.distribute(given)
    assert str(caught.value).endswith(named)


def test_distribute_refuses_what_is_not_a_sequence_of_gids(pc):
    with pytest.raises(
        GidError, match=r"^\[rank 0/1\] gids must be a sequence of integers, not 'ab'"
    ):
        pc.distribute("ab")
    with pytest.raises(GidError, match=r"gids must be a sequence of integers, not 5$"):
        pc.distribute(np.int64(5))
    assert pc.distribute(np.array([4.0, 2.0])).tolist() == [4, 2]
    assert pc.distribute(p.Vector([1, 2])).tolist() == [1, 2]


@pytest.mark.parametrize("gid", [1.5, np.float64(1.5), "3", -2])
def test_every_call_that_takes_a_gid_refuses_one_that_is_not_an_integer(pc, gid):
    cell = p.IntFire1()
    named = r"not (1\.5|'3'|-2)( \(item 1 of 2\))?$"  # plain values, not np.float64(1.5)
    calls = [
        lambda: pc.set_gid2node(gid),
        lambda: pc.cell(gid, cell),
        lambda: pc.register(gid, cell),
        lambda: pc.gid_connect(gid, cell),
        lambda: p.ParallelCon(cell, gid),
        lambda: p.ParallelCon(gid, cell, delay=1),
        lambda: pc.spike_record(gid),
        lambda: pc.spike_record([0, gid]),
        lambda: pc.save_balance("unused.json", {gid: 1.0}),
    ]
    for call in calls:
        with pytest.raises(GidError, match=RULE + r".* " + named):
            call()
    assert not pc.network.registry.owned and not pc.network.registry.wanted


def test_spike_record_takes_a_list_of_gids(pc):
    cells = [p.IntFire1() for _ in range(3)]
    for gid, cell in enumerate(cells):
        p.ParallelCon(cell, gid)
    times, recorded = pc.spike_record([0, 2.0])
    stim = p.NetStim()
    stim.number, stim.start = 1, 1
    kicks = [p.NetCon(stim, cell) for cell in cells]
    for kick in kicks:
        kick.weight[0] = 2
    p.parallel.run(5)
    assert sorted(recorded.to_python()) == [0.0, 2.0]


def test_duplicate_gid_is_refused_before_neuron(pc):
    pc.set_gid2node(3)
    with pytest.raises(GidError, match=r"^\[rank 0/1\] gid 3 is already registered on this rank"):
        pc.set_gid2node(3, 0)
    with pytest.raises(GidError, match=r"^\[rank 0/1\] gid 3 is already registered"):
        p.ParallelCon(p.IntFire1(), 3)
    assert pc.gid_exists(3)


def test_set_gid2node_elsewhere_and_unknown_rank(pc):
    with pytest.raises(GidError, match=r"^\[rank 0/1\] set_gid2node\(4, 5\): rank 5 does not"):
        pc.set_gid2node(4, 5)
    assert not pc.gid_exists(4)


def test_cell_on_unowned_gid(pc):
    with pytest.raises(GidError, match=r"^\[rank 0/1\] cell\(8, \.\.\.\): gid 8 is not registered"):
        pc.cell(8, p.IntFire1())
    assert not pc.gid_exists(8)


def test_register_after_connect_is_refused(pc):
    cell = p.IntFire1()
    p.ParallelCon(2, cell, weight=0.1, delay=1)
    with pytest.raises(GidError, match=r"^\[rank 0/1\] gid 2 cannot be registered on this rank"):
        p.ParallelCon(p.IntFire1(), 2)


def test_missing_source_warns_on_rank_0(pc, logged):
    cell = p.IntFire1()
    p.ParallelCon(cell, 0)
    target = p.IntFire1()
    p.ParallelCon(0, target, weight=0.5, delay=1)
    p.ParallelCon(41, target, weight=0.5, delay=1)
    p.parallel.run(5)
    assert len(logged) == 1
    assert "1 gid problem(s)" in logged[0]
    assert "gid 41 has receivers on rank(s) 0 but no rank registered it" in logged[0]


def test_check_runs_again_only_after_changes(pc, logged):
    cell = p.IntFire1()
    p.ParallelCon(cell, 0)  # a cell: no warning that the run has none
    p.ParallelCon(7, p.IntFire1(), delay=1)
    p.parallel.run(1)
    p.parallel.run(2)
    assert len(logged) == 1
    p.ParallelCon(8, p.IntFire1(), delay=1)
    p.parallel.run(3)
    assert len(logged) == 2 and "gid 7" in logged[1] and "gid 8" in logged[1]


def test_strict_run_raises(pc):
    p.ParallelCon(9, p.IntFire1(), delay=1)
    with pytest.raises(GidError, match=r"^\[rank 0/1\] 1 gid problem\(s\).*\n  gid 9 has"):
        p.parallel.run(1, strict=True)


def test_strict_setting_raises(pc):
    p.ParallelCon(10, p.IntFire1(), delay=1)
    configure(strict=True)
    try:
        with pytest.raises(GidError, match=r"gid 10 has receivers on rank\(s\) 0"):
            p.parallel.run(1)
    finally:
        configure(strict=False)


def test_report_is_limited_but_counts_all(pc):
    target = p.IntFire1()
    for gid in range(100, 125):
        p.ParallelCon(gid, target, delay=1)
    with pytest.raises(GidError) as caught:
        p.parallel.run(1, strict=True)
    message = str(caught.value)
    assert message.startswith("[rank 0/1] 25 gid problem(s)")
    assert "gid 109 has" in message and "gid 110 has" not in message
    assert "... and 15 more" in message


def test_duplicates_found_by_problems():
    found, counts = gids._problems(
        [np.array([1, 2, 3]), np.array([3, 4]), np.array([3, 1])],
        [np.array([5]), np.array([], dtype=np.int64), np.array([4, 5])],
    )
    assert counts == (2, 1)  # duplicated, missing
    assert found == [(gids.DUPLICATE, 1, (0, 2)), (gids.DUPLICATE, 3, (0, 1, 2)),
                     (gids.MISSING, 5, (0, 2))]  # fmt: skip
    assert gids._describe(found[1]) == "gid 3 is registered on ranks 0, 1, 2"


def test_a_gid_beyond_neurons_int_is_refused_and_not_claimed(pc):
    for call in (pc.set_gid2node, lambda gid: p.ParallelCon(p.IntFire1(), gid)):
        with pytest.raises(gids.GidError, match=r"from 0 to 2\*\*31 - 1 .* not 2147483648"):
            call(2**31)
    with pytest.raises(gids.GidError, match="not 2147483648"):
        pc.gid_connect(2**31, p.IntFire1())
    assert 2**31 not in pc.network.registry.owned | pc.network.registry.wanted
    pc.set_gid2node(2**31 - 1)  # the largest gid NEURON takes
    assert pc.gid_exists(2**31 - 1)
