"""p.parallel.map on one rank: results and their order, chunks, per-task errors, the
NEURON state between tasks, argument checks and the per-item random streams."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import parnrn
from parnrn import BroadcastError, GidError, HocError, TaskError, p
from parnrn.examples import sweep


def square(x):
    return x * x


def fail_on_odd(x):
    if x % 2:
        raise ValueError(f"odd item {x}")
    return x


def test_results_in_item_order_with_any_chunksize(pc):
    for chunksize in (1, 3, 50):
        assert pc.map(square, range(10), chunksize=chunksize) == [x * x for x in range(10)]
    assert pc.map(square, []) == []
    assert pc.map(lambda x: x + 1, iter(range(3))) == [1, 2, 3]  # any iterable, lambdas too


def test_unordered_gives_every_result(pc):
    assert sorted(pc.map(square, range(10), ordered=False)) == [x * x for x in range(10)]


def test_failed_items_raise_task_error_with_the_finished_results(pc):
    with pytest.raises(TaskError) as caught:
        pc.map(fail_on_odd, range(6))
    error = caught.value
    assert [t.index for t in error.tasks] == [1, 3, 5]
    first = error.tasks[0]
    assert (first.item, first.rank, first.subworld, first.type_name) == ("1", 0, 0, "ValueError")
    assert "odd item 1" in first.message and "fail_on_odd" in first.traceback
    assert error.results == {0: 0, 2: 2, 4: 4}
    assert error.failures[0][0] == "ValueError"
    assert "3 of 6 item(s) failed" in str(error) and "item 5 (5) on rank 0" in str(error)


def test_return_exceptions_puts_them_in_the_results(pc):
    results = pc.map(fail_on_odd, range(4), return_exceptions=True)
    assert results[0] == 0 and results[2] == 2
    assert isinstance(results[1], ValueError) and str(results[1]) == "odd item 1"
    assert isinstance(results[3], ValueError)


def test_a_hoc_error_is_a_failed_item_naming_it(pc):
    def hoc_fails(x):
        if x == 1:
            p.execerror("no such thing")
        return x

    results = pc.map(hoc_fails, range(3), return_exceptions=True)
    assert results[0] == 0 and results[2] == 2
    assert isinstance(results[1], Exception) and "no such thing" in str(results[1])
    with pytest.raises(TaskError) as caught:
        pc.map(hoc_fails, range(3))
    (failure,) = caught.value.tasks
    assert failure.type_name == HocError.__name__ and "item 1" in failure.message


def test_timeout_interrupts_a_task_and_the_others_go_on(pc):
    import time

    def slow(x):
        if x == 1:
            time.sleep(60)  # interrupted: the test would take a minute otherwise
        return x

    began = time.monotonic()
    results = pc.map(slow, range(3), timeout=0.5, return_exceptions=True)
    assert time.monotonic() - began < 30
    assert results[0] == 0 and results[2] == 2
    assert isinstance(results[1], TimeoutError) and "timeout of 0.5 s" in str(results[1])


def test_gids_are_cleared_between_tasks(pc):
    def register(x):
        soma = p.Section(name="soma")
        p.ParallelCon(soma, 7)  # the same gid in every task: no GidError
        assert pc.network.registry.owned == {7}
        return x

    assert pc.map(register, range(3)) == [0, 1, 2]
    assert not pc.network.registry.owned


def test_sections_left_by_a_task_are_deleted(pc, caplog):
    mine = p.Section(name="before_map")  # the user's own: kept
    kept = []

    def leak(x):
        kept.append(p.Section(name=f"leak{x}"))
        return sum(1 for _ in p.allsec())

    assert pc.map(leak, range(3)) == [2, 2, 2]
    assert [sec.name() for sec in p.allsec()] == ["before_map"]
    assert "left 1 section(s) alive" in caplog.text
    del mine


def test_unpicklable_fn_or_items_fail_before_any_task():
    lock = threading.Lock()
    ran = []
    with pytest.raises(BroadcastError, match="could not send fn.*cannot pickle"):
        p.parallel.map(lambda x: (ran.append(x), lock), [1])
    with pytest.raises(BroadcastError, match="could not send items.*cannot pickle"):
        p.parallel.map(ran.append, [1, lock])
    assert ran == []


def test_an_unpicklable_result_fails_its_item_only(pc):
    results = pc.map(lambda x: threading.Lock() if x == 1 else x, range(3), return_exceptions=True)
    assert results[0] == 0 and results[2] == 2
    assert isinstance(results[1], Exception) and "cannot be sent to rank 0" in str(results[1])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ranks_per_task": 2}, "ranks_per_task must be an int in 1..1"),
        ({"chunksize": 0}, "chunksize must be an int >= 1"),
        ({"timeout": -1}, "timeout must be a number of seconds > 0"),
    ],
)
def test_bad_arguments(pc, kwargs, match):
    with pytest.raises(ValueError, match=match):
        pc.map(square, range(3), **kwargs)


def test_results_everywhere_and_progress_off(pc):
    assert pc.map(square, range(4), results_everywhere=True, progress=False) == [0, 1, 4, 9]


def test_item_rng_is_the_same_stream_for_the_same_item():
    a = parnrn.item_rng(7, 3).normal(size=5)
    assert np.array_equal(a, parnrn.item_rng(7, 3).normal(size=5))
    assert not np.array_equal(a, parnrn.item_rng(7, 4).normal(size=5))
    # The keying scheme it shares with p.parallel.numpy_rng: tests/unit/test_randomness.py
    assert isinstance(parnrn.item_rng(7, 3).bit_generator, np.random.Philox)


def test_the_ring_sweep_matches_each_item_run_alone(pc):
    jobs = [(gain, 10, 40.0) for gain in sweep.GAINS[:4]]
    mapped = pc.map(sweep.ring_digest, jobs)
    alone = []
    for job in jobs:
        pc.gid_clear()
        alone.append(sweep.ring_digest(job))
    assert mapped == alone and len(set(mapped)) == 4 and all(n > 10 for n, _ in mapped)


def test_gid_error_in_a_task_is_reported_not_fatal(pc):
    def twice(x):
        soma = p.Section(name="s")
        p.ParallelCon(soma, 1)
        p.ParallelCon(soma, 1)

    with pytest.raises(TaskError) as caught:
        pc.map(twice, [0])
    assert caught.value.tasks[0].type_name == GidError.__name__


def test_a_lambda_may_use_h_and_p_parallel():
    from neuron import h

    pc = p.parallel
    assert pc.map(lambda x: (h.dt > 0, pc.size, x), [1]) == [(True, 1, 1)]


def test_hoc_and_task_errors_survive_pickling():
    import pickle

    from parnrn.errors import TaskFailure

    hoc = pickle.loads(pickle.dumps(HocError("msg", "text", 3, "psolve")))
    assert (str(hoc), hoc.hoc_text, hoc.rank, hoc.what) == ("msg", "text", 3, "psolve")
    failure = TaskFailure(1, "1", 0, 0, "ValueError", "bad", "tb")
    task = pickle.loads(pickle.dumps(TaskError("two", [failure], {0: 5})))
    assert (str(task), task.tasks, task.results, task.failures) == (
        "two",
        [failure],
        {0: 5},
        {0: ("ValueError", "bad", "tb")},
    )


def test_items_that_cannot_be_listed_or_fn_not_callable_are_clear_errors():
    def broken():
        yield 1
        raise OSError("disk gone")

    with pytest.raises(BroadcastError, match="could not send items.*OSError: disk gone"):
        p.parallel.map(square, broken())
    with pytest.raises(BroadcastError, match="could not send fn.*fn must be callable"):
        p.parallel.map(None, [1])


def test_progress_bar_counts_items_and_failures(pc, capsys):
    pc.map(fail_on_odd, range(4), progress=True, return_exceptions=True)
    shown = capsys.readouterr().err
    assert "map: 100%" in shown and "4/4" in shown and "failed=2" in shown
    pc.map(fail_on_odd, range(4), return_exceptions=True)  # not a terminal: no bar
    assert "map:" not in capsys.readouterr().err
