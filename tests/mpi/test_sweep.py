"""p.parallel.map inside mpiexec -n 2 / -n 3: what p.parallel is inside a task and after
map, results everywhere, arguments checked the same on every rank."""

from __future__ import annotations

import multiprocessing
import os
import re
import time

import pytest

from parnrn import CollectiveTimeoutError, ParallelError, TaskError, configure, p

pytestmark = pytest.mark.mpi(min_size=2)


def identity(x):
    """Where item ``x`` ran: this task's p.parallel, the subworld's agreed values."""
    pc = p.parallel
    ranks = pc.allgather(int(pc.id_world()))
    return (x, pc.rank, pc.size, pc.broadcast(x * 10), ranks)


def test_inside_a_task_p_parallel_is_the_subworld_and_after_map_the_world():
    world = p.parallel.size
    results = p.parallel.map(identity, range(7), results_everywhere=True)
    assert [r[0] for r in results] == list(range(7))
    for x, rank, size, sent, ranks in results:
        assert (rank, size, sent, len(ranks)) == (0, 1, x * 10, 1)
    assert (p.parallel.size, p.parallel.comm.Get_size()) == (world, world)
    assert p.parallel.rank == p.parallel.world_comm.Get_rank()
    assert p.parallel.allgather(p.parallel.rank) == list(range(world))


@pytest.mark.mpi(min_size=2)
def test_two_ranks_per_task_share_a_subworld():
    world = p.parallel.size
    if world % 2:
        with pytest.raises(ValueError, match="does not divide the 3 ranks"):
            p.parallel.map(identity, range(4), ranks_per_task=2)
        return
    results = p.parallel.map(identity, range(5), ranks_per_task=2, results_everywhere=True)
    for x, rank, size, sent, ranks in results:
        assert (rank, size, sent) == (0, 2, x * 10)
        assert ranks[1] == ranks[0] + 1 and ranks[0] % 2 == 0
    assert p.parallel.size == world


def test_task_error_is_raised_on_every_rank_with_results_everywhere():
    def odd_fails(x):
        if x % 2:
            raise KeyError(x)
        return x

    with pytest.raises(TaskError) as caught:
        p.parallel.map(odd_fails, range(6), results_everywhere=True, chunksize=2)
    assert [t.index for t in caught.value.tasks] == [1, 3, 5]
    assert caught.value.results == {0: 0, 2: 2, 4: 4}


def test_ranks_disagreeing_on_arguments_raise_on_every_rank():
    with pytest.raises(ParallelError, match="chunksize"):
        p.parallel.map(identity, range(3), chunksize=1 + p.parallel.rank)


def test_items_are_read_on_rank_0_only():
    items = range(4) if p.parallel.rank == 0 else None
    results = p.parallel.map(lambda x: x + 1, items)
    assert results == ([1, 2, 3, 4] if p.parallel.rank == 0 else None)


def first_items_time_out(x):
    """Items 0-3 (one per subworld of 2 at 8 ranks: none ends before they are all taken)
    have the subworld's rank 1 arrive 1.4 s late, past the timeout of 1 s, but back before
    its partner, waiting for it again between items, times out a second time (at ~3 s:
    a first timeout, its grace for notices, then the wait between items); the other items
    are ordinary tasks."""
    pc = p.parallel
    if x < 4 and pc.rank == 1:
        time.sleep(1.4)
    pc.barrier()
    time.sleep(0.05)
    return pc.allgather(x)


@pytest.mark.mpi(min_size=8)
def test_a_subworld_that_timed_out_gets_a_new_communicator_for_its_next_items():
    """A task whose collective timed out leaves its subworld's communicator out of step;
    the subworld's later items (and later maps) run on a new one instead of failing."""
    if p.parallel.size % 2:
        pytest.skip("needs subworlds of 2 ranks")
    configure(timeout=1.0)
    try:
        results = p.parallel.map(
            first_items_time_out, range(12), ranks_per_task=2, return_exceptions=True
        )
    finally:
        configure(timeout=None)
    if p.parallel.rank == 0:
        assert all(isinstance(r, CollectiveTimeoutError) for r in results[:4]), results[:4]
        message = str(results[0])
        assert re.search(r"\[rank 0/2\] barrier #\d+ timed out after 1 s", message), message
        assert "rank(s) 1 never arrived" in message, message
        assert results[4:] == [[x, x] for x in range(4, 12)]
    again = p.parallel.map(lambda x: p.parallel.allgather(x), range(8), ranks_per_task=2)
    if p.parallel.rank == 0:
        assert again == [[x, x] for x in range(8)]


def hoc_run_in_a_forked_child(x):
    """What BluePyOpt does with every evaluation: fork a process that runs hoc's ``run()``
    (the hoc interpreter, which on rank 0 probes MPI for bulletin-board messages), and
    return what the child computed."""
    with multiprocessing.get_context("fork").Pool(1) as pool:
        return x, pool.apply(_hoc_run, (x,))


def _hoc_run(x):
    from neuron import h

    h.load_file("stdrun.hoc")
    soma = h.Section(name="soma")
    soma.insert("hh")
    clamp = h.IClamp(soma(0.5))
    clamp.delay, clamp.dur, clamp.amp = 1, 150, 0.1 + 0.05 * x
    times = h.Vector().record(h._ref_t)
    h.dt, h.tstop = 0.025, 200
    h.run()  # stdrun's loop in hoc: a probe every 300 hoc instructions on rank 0
    return len(times) == 8001


def test_tasks_that_fork_processes_running_hoc_code_lose_no_result():
    """A forked child of rank 0 used to take the results other ranks sent to rank 0 from
    MPI's shared-memory queue (NEURON's bulletin-board polling in the child's hoc
    interpreter), and map waited for them forever."""
    items = range(8 * p.parallel.size)
    results = p.parallel.allmap(hoc_run_in_a_forked_child, items)
    assert results == [(x, True) for x in items]


def test_a_parnrn_collective_in_a_forked_child_is_refused_naming_the_parent():
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: not a rank; it must not touch MPI
        try:
            p.parallel.broadcast(1)
            message = "no error"
        except ParallelError as error:
            message = str(error)
        os.write(writer, message.encode())
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as pipe:
        message = pipe.read()
    os.waitpid(pid, 0)
    rank, size = p.parallel.rank, p.parallel.size
    assert f"[rank {rank}/{size}] broadcast called in process {pid}, forked from" in message
    assert f"(process {os.getpid()})" in message and "is not a rank" in message
    assert p.parallel.allgather(rank) == list(range(size))  # the rank itself is unharmed


def test_allmap_refuses_results_everywhere():
    with pytest.raises(TypeError, match=r"\[rank \d+/\d+\] p\.parallel\.allmap always"):
        p.parallel.allmap(identity, range(2), results_everywhere=False)


def last_item_is_long(x):
    if x == 2 * p.parallel.size - 1:
        time.sleep(1.5)
    return x


def test_ranks_done_early_wait_for_a_long_task_past_the_collective_timeout():
    """The collective timeout bounds collectives, not tasks: the ranks that run out of
    items wait at map's end for as long as the others' tasks take."""
    configure(timeout=0.5)
    try:
        results = p.parallel.allmap(last_item_is_long, range(2 * p.parallel.size))
    finally:
        configure(timeout=None)
    assert results == list(range(2 * p.parallel.size))
