"""p.parallel.map launched with mpiexec: the same spike digests per item serially, on 2
and 3 ranks and on 4 ranks in subworlds of 2; failing items (an exception, a hoc error,
a deleted section, a timeout) named by index and rank while the job ends normally;
unpicklable fn or items refused on every rank before any task. Every launch is bounded."""

from __future__ import annotations

import os
import re
import sys

import pytest
from support.launch import run_bounded, run_mpi

TIMEOUT = 180
SCENARIO = os.path.join(os.path.dirname(__file__), "scenarios", "sweep_tasks.py")
SWEEP = ["-m", "parnrn.examples.sweep", "--ncell", "12", "--tstop", "60"]


def digests(stdout: str) -> dict[int, str]:
    found = re.findall(r"^sweep item (\d+) gain \S+: (\d+ spikes, digest \w+)$", stdout, re.M)
    return {int(index): text for index, text in found}


def serial(argv: list[str]):
    return run_bounded([sys.executable, *argv], TIMEOUT)


def test_same_digest_per_item_serial_2_3_and_4_ranks_in_subworlds():
    alone = serial([*SWEEP, "--alone"])
    assert alone.returncode == 0, alone.stderr
    expected = digests(alone.stdout)
    assert sorted(expected) == list(range(16))
    assert len(set(expected.values())) == 16  # every gain gives other spikes
    mapped = serial(SWEEP)
    assert mapped.returncode == 0, mapped.stderr
    assert digests(mapped.stdout) == expected
    for ranks, per_task, chunksize in ((2, 1, 1), (3, 1, 2), (4, 2, 1)):
        done = run_mpi(
            ranks,
            [*SWEEP, "--ranks-per-task", str(per_task), "--chunksize", str(chunksize)],
            TIMEOUT,
        )
        assert done.returncode == 0, done.stderr
        assert digests(done.stdout) == expected, (ranks, per_task)


def lines_of(stdout: str, rank: int) -> list[str]:
    tag = f"@{rank} "
    return [line[len(tag) :] for line in stdout.splitlines() if line.startswith(tag)]


@pytest.mark.parametrize(("ranks", "per_task"), [(1, 1), (2, 1), (4, 2)])
def test_failed_items_are_named_and_the_job_goes_on(ranks, per_task):
    argv = [SCENARIO, "failures", str(per_task)]
    done = serial(argv) if ranks == 1 else run_mpi(ranks, argv, TIMEOUT)
    assert done.returncode == 0, done.output
    for rank in range(ranks):
        lines = lines_of(done.stdout, rank)
        assert "TaskError 4 failed" in lines, done.output
        failed = {int(line.split()[1]): line.split() for line in lines if line.startswith("failed")}
        assert sorted(failed) == [3, 5, 6, 7]
        kinds = {index: words[2] for index, words in failed.items()}
        assert kinds == {3: "ValueError", 5: "HocError", 6: "ReferenceError", 7: "TimeoutError"}
        # Item 3 fails on the last rank of its subworld only: that rank is named.
        assert int(failed[3][4]) % per_task == per_task - 1
        assert all(0 <= int(words[4]) < ranks for words in failed.values())
        expected_second = "[1, 2, 3, 4, 5]" if rank == 0 else "None"
        assert f"second map {expected_second} world {rank}/{ranks}" in lines
    finished = lines_of(done.stdout, 0)
    assert "finished [(0, 0), (1, 1), (2, 4), (4, 16), (8, 64), (9, 81)]" in finished
    # Rank 0's message names each failed item and shows the first one's traceback.
    assert "4 of 10 item(s) failed in p.parallel.map" in done.stdout
    assert 'raise ValueError(f"bad parameter {item}")' in done.stdout


def test_return_exceptions_on_3_ranks():
    done = run_mpi(3, [SCENARIO, "exceptions", "1"], TIMEOUT)
    assert done.returncode == 0, done.output
    expected = "results 0 1 4 ValueError 16 HocError ReferenceError TimeoutError 64 81"
    assert expected in lines_of(done.stdout, 0), done.output


def test_an_exception_out_of_the_run_of_a_one_rank_task_fails_only_its_item():
    # Outside map (or in a task of several ranks) it ends the job: the others may wait in
    # NEURON. A task of one rank runs on a subworld of one: nobody waits for it.
    done = run_mpi(2, [SCENARIO, "run_error", "1"], TIMEOUT)
    assert done.returncode == 0, done.output
    for rank in (0, 1):
        (failed,) = [line for line in lines_of(done.stdout, rank) if line.startswith("failed")]
        assert failed.startswith("failed 1 HocError rank "), done.output
    assert "a callback fails inside psolve" in done.stderr


@pytest.mark.parametrize("ranks", [2, 4])
def test_a_rank_failing_before_a_collective_does_not_leave_its_subworld_waiting(ranks):
    done = run_mpi(ranks, [SCENARIO, "collective", "2"], TIMEOUT)
    assert done.returncode == 0, done.output
    for rank in range(ranks):
        failed = [line for line in lines_of(done.stdout, rank) if line.startswith("failed")]
        assert len(failed) == 1 and failed[0].startswith("failed 2 ValueError rank "), done.output
        assert int(failed[0].split()[-1]) % 2 == 1  # the subworld's last rank
    assert "finished [(0, 0), (1, 10), (3, 30)]" in lines_of(done.stdout, 0)


@pytest.mark.parametrize(
    ("mode", "ranks", "per_task"), [("unpicklable_fn", 2, 1), ("unpicklable_items", 4, 2)]
)
def test_unpicklable_fn_or_items_fail_on_every_rank_before_any_task(mode, ranks, per_task):
    done = run_mpi(ranks, [SCENARIO, mode, str(per_task)], TIMEOUT)
    assert done.returncode == 0, done.output
    what = "fn" if mode == "unpicklable_fn" else "items"
    for rank in range(ranks):
        lines = lines_of(done.stdout, rank)
        assert any(
            f"could not send {what} from rank 0" in line and "cannot pickle" in line
            for line in lines
        ), done.output
        assert "tasks run 0" in lines


def test_sections_left_by_tasks_are_deleted_on_2_ranks():
    done = run_mpi(2, [SCENARIO, "leftover", "1"], TIMEOUT)
    assert done.returncode == 0, done.output
    assert "sections seen [1, 1, 1, 1]" in lines_of(done.stdout, 0)
    assert all("sections after 0" in lines_of(done.stdout, rank) for rank in (0, 1))
    assert "left 1 section(s) alive" in done.stderr


def test_a_rank_stuck_in_a_task_ends_the_job_past_the_collective_timeout():
    """Its subworld's other rank times out in the task's barrier, then in map's own
    meeting between items: the job ends naming the stuck world rank, never hangs."""
    done = run_mpi(4, [SCENARIO, "stuck", "2"], 60)
    assert done.returncode == 1, done.output
    assert "map returned" not in done.stdout
    assert re.search(
        r"\[rank [02]/4\] map: world rank\(s\) [13] of this rank's subworld never ended item 0;",
        done.stderr,
    ), done.stderr
