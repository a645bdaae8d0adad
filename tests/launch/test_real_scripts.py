"""Real parallel NEURON script shapes, raw and with parnrn dropped in (issue 11).

Each script in ``realscripts/`` (see its README) runs first as raw NEURON, correctly
configured: that run is the reference. Then it runs with parnrn dropped in:
``import parnrn`` first, ``from parnrn import p`` with ``h = p``, ``from parnrn import p``
with ``pc = p.parallel``, and under ``python -m parnrn``. Every form must end with status
0, without hanging, and print exactly the reference's ``RESULT`` lines.

Each case is a pattern that failed before issue 11, which fixed these:

1. the bulletin board ends with the workers in NEURON's ``MPI_Finalize`` (inside
   ``pc.runworker()``) while rank 0 waits in parnrn's exit agreement, forever;
2. ``p.ParallelCon(netcon, gid)`` overwrites the NetCon's threshold with -20;
3. ``p.run``/``p.finitialize``/``pc.psolve`` are parnrn's, not stdrun's: ``h.run()`` is a
   TypeError, a task's ``p.run(tstop)`` is a world collective, the first ``psolve``
   initializes again (wiping state set after the user's ``h.finitialize``) and records all
   gids with ``pc.spike_record(-1)``, which takes over every ``NetCon.record`` vector;
4. ``import parnrn`` alone and ``python -m parnrn`` leave NEURON as the script set it up:
   serial without ``MPI_LIB_NRN_PATH``, and hoc errors still NEURON's ``MPI_Abort``;
5. after ``pc.subworlds(2)``, ``p.parallel`` keeps the world's rank and size and acts on
   the world;
6. rank 0 leaving while another rank waits in NEURON's ``pc.barrier()`` hangs the job in
   parnrn's exit agreement.

Every run is bounded and killed with its process group on timeout (``support.launch``).
"""

from __future__ import annotations

import functools
import glob
import os
import re
import shutil
import sys

import pytest
from support.launch import MPIEXEC, Completed, mpiexec_python, run_bounded

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "realscripts")
REPO = os.path.dirname(os.path.dirname(HERE))
# Generous for a run that works (about a second each, two cores); a run that does not end
# within it is a hang.
BOUND = 60
# How long parnrn may take to end a job in which a rank left while another is stuck.
EXIT_BOUND = 15


def _real_libmpi() -> str | None:
    """The MPI library NEURON must load: ``libmpi.so.N`` of this environment (the
    ``libmpi.so`` next to it is a linker script NEURON cannot load)."""
    found = glob.glob(os.path.join(sys.prefix, "lib", "libmpi.so.*"))
    real = sorted(p for p in found if re.search(r"/libmpi\.so\.\d+$", p))
    return real[0] if real else os.environ.get("MPI_LIB_NRN_PATH")


LIBMPI = _real_libmpi()
pytestmark = [
    pytest.mark.skipif(not shutil.which(MPIEXEC), reason="mpiexec not found"),
    pytest.mark.skipif(LIBMPI is None, reason="no libmpi.so.N to give NEURON"),
]

FORMS = ("import", "p", "pc", "runner")
_DROPIN = {"raw": "", "import": "1", "p": "p", "pc": "pc", "runner": ""}


def launch(
    script: str,
    n: int,
    form: str,
    args: tuple[str, ...] = (),
    timeout: float = BOUND,
    libmpi: bool = True,
) -> Completed:
    """Run ``realscripts/script`` on ``n`` ranks in ``form``; ``libmpi=False`` leaves
    ``MPI_LIB_NRN_PATH`` unset (parnrn is then the one to point NEURON at MPI)."""
    env = dict(os.environ)
    env.pop("MPI_LIB_NRN_PATH", None)
    if libmpi:
        env["MPI_LIB_NRN_PATH"] = LIBMPI
    env["PARNRN_DROPIN"] = _DROPIN[form]
    env["PYTHONPATH"] = os.pathsep.join([REPO, *filter(None, [os.environ.get("PYTHONPATH")])])
    path = os.path.join(SCRIPTS, script)
    runner = ["-m", "parnrn"] if form == "runner" else []
    argv = mpiexec_python(n, *runner, path, *args)
    # run_bounded adds os.environ to env; an empty env var removed above must stay removed.
    saved = os.environ.pop("MPI_LIB_NRN_PATH", None)
    try:
        return run_bounded(argv, timeout, env, cwd=SCRIPTS)
    finally:
        if saved is not None:
            os.environ["MPI_LIB_NRN_PATH"] = saved


def results(done: Completed) -> list[str]:
    """The ``RESULT`` lines, sorted (several ranks may print)."""
    return sorted(re.findall(r"^RESULT .*$", done.stdout, re.M))


def describe(done: Completed) -> str:
    tail = "\n".join(done.output.splitlines()[-40:])
    return f"exit status {done.returncode}; last output:\n{tail}"


@functools.cache
def reference(script: str, n: int, args: tuple[str, ...] = ()) -> list[str]:
    """Raw NEURON's RESULT lines; the raw run must itself end cleanly."""
    done = launch(script, n, "raw", args)
    assert done.returncode == 0, f"raw NEURON failed: {describe(done)}"
    lines = results(done)
    assert lines, f"raw NEURON printed no result: {describe(done)}"
    assert any(f"nhost={n}" in line for line in lines), f"raw NEURON not on {n} ranks: {lines}"
    return lines


def check_like_raw(script: str, n: int, form: str, args: tuple[str, ...] = (), **kw) -> None:
    expected = reference(script, n, args)
    done = launch(script, n, form, args, **kw)
    assert done.returncode == 0, describe(done)
    assert results(done) == expected, describe(done)


def case(script, n, form, *marks, args=(), timeout=BOUND):
    name = "-".join([script.removesuffix(".py"), f"n{n}", form, *(a.lstrip("-") for a in args)])
    return pytest.param(script, n, form, args, timeout, marks=marks, id=name)


def _cases():
    # ringtest: raw set_gid2node/cell/gid_connect, stdinit, psolve, py_gather; barrier+quit.
    for n in (1, 2, 3):
        for form in ("import", "p", "runner"):
            yield case("ringtest.py", n, form)
    # ballstick: the tutorial's NetCon threshold 10 and NetCon.record vectors.
    for n in (1, 2, 3):
        yield case("ballstick.py", n, "import")
        yield case("ballstick.py", n, "p")
        yield case("ballstick.py", n, "pc")
        yield case("ballstick.py", n, "runner")
    # stdrun: h.run, continuerun, stdinit+psolve, finitialize + gate + psolve.
    for n in (1, 2, 3):
        yield case("stdrun.py", n, "import")
        yield case("stdrun.py", n, "p")
        yield case("stdrun.py", n, "pc")
        yield case("stdrun.py", n, "runner")
    # bulletin board f-I, ending at pc.done() (no h.quit()).
    for n in (1, 2, 3):
        for form in FORMS:
            yield case("bulletin_fi.py", n, form)
    # ... and with h.quit() after pc.done(): NEURON finalizes MPI before Python's atexit.
    for n in (1, 3):
        for form in ("import", "pc", "runner"):
            yield case("bulletin_fi.py", n, form, args=("--quit",))
    # Tasks calling h.run(h.tstop): with h = p, p.run(tstop) inside one task.
    for n in (1, 2):
        yield case("bulletin_fi.py", n, "p", args=("--run-arg",))
    # subworlds on 4 ranks: p.parallel follows pc.subworlds(2).
    for form in FORMS:
        yield case("subworlds.py", 4, form)


@pytest.mark.parametrize("script,n,form,args,timeout", list(_cases()))
def test_same_results_as_raw_neuron(script, n, form, args, timeout):
    check_like_raw(script, n, form, tuple(args), timeout=timeout)


# -- item 4: parnrn's forms must set NEURON up themselves -----------------------------------


@pytest.mark.parametrize(
    "form",
    [
        "import",
        "runner",
        "p",
    ],
)
def test_parnrn_points_neuron_at_mpi(form):
    """Without ``MPI_LIB_NRN_PATH`` raw NEURON runs N serial copies (rank 0 of 1 each);
    with parnrn in the script, NEURON must share mpi4py's MPI: the same results as raw
    NEURON correctly configured."""
    check_like_raw("ringtest.py", 2, form, libmpi=False)


@pytest.mark.parametrize(
    "form",
    [
        "import",
        "runner",
        "p",
        "pc",
    ],
)
def test_hoc_error_is_reported_by_parnrn(form):
    """Raw NEURON answers a duplicate gid with ``MPI_Abort(MPI_COMM_WORLD, -1)``; with
    parnrn the job still ends with a non-zero status, through parnrn's failure report
    naming rank 0."""
    raw = launch("hoc_error.py", 2, "raw")
    # Raw NEURON's MPI_Abort(-1) races its own output: only the failure is certain.
    assert raw.returncode != 0 and "RESULT" not in raw.stdout
    done = launch("hoc_error.py", 2, form)
    assert done.returncode != 0, describe(done)
    assert "parnrn: rank 0 failed" in done.output, describe(done)
    assert "MPI_Abort(MPI_COMM_WORLD, -1)" not in done.output, describe(done)
    assert "RESULT" not in done.stdout


# -- item 6: a rank leaves while another waits in a NEURON collective --------------------


@pytest.mark.parametrize("n", (2, 3))
def test_raw_neuron_exit_during_barrier(n):
    """What raw NEURON does: rank 0 leaves Python without MPI_Finalize and mpiexec ends
    the ranks still in the barrier (SIGKILL): the job ends at once, with status 0 or 9 at
    random and no word of the barrier that never completed."""
    done = launch("exit_during_barrier.py", n, "raw")
    assert done.returncode in (0, 9), describe(done)
    assert results(done) == [f"RESULT exit_during_barrier nhost={n}: rank 0 leaves"]


@pytest.mark.parametrize("n", (2, 3))
@pytest.mark.parametrize("form", FORMS)
def test_parnrn_exit_during_barrier(form, n, monkeypatch):
    """With parnrn the job ends (bounded), not as a success, and says which rank did not
    reach the end and that it is in a barrier. With ``p.parallel`` the barrier is parnrn's
    (a mismatch with the exit, at once); with NEURON's own barrier the stuck rank cannot
    answer the liveness ping after ``PARNRN_EXIT_PATIENCE``."""
    monkeypatch.setenv("PARNRN_EXIT_PATIENCE", "2")
    done = launch("exit_during_barrier.py", n, form, timeout=EXIT_BOUND)
    assert done.returncode != 0, describe(done)
    assert re.search(r"\brank(\(s\))? 1\b", done.stderr), describe(done)
    assert "barrier" in done.stderr, describe(done)
    assert "passed the barrier" not in done.stdout


# -- subworlds through parnrn's own API ----------------------------------------------------


def test_ported_subworlds_match_raw_neuron():
    """``subworlds.py`` ported to ``p.parallel.distribute``, ``p.ParallelCon``,
    ``p.parallel.run``, ``gather_spikes`` and ``broadcast`` inside each subworld's task:
    the same identities and the same spikes per task as raw NEURON."""
    expected = reference("subworlds.py", 4)
    done = launch("subworlds_ported.py", 4, "raw")
    assert done.returncode == 0, describe(done)
    assert results(done) == expected, describe(done)


def test_a_late_rank_that_is_working_is_waited_for(monkeypatch):
    """Rank 0 works in Python well past the exit patience while the others have ended:
    it answers their pings, so the job that succeeded ends with status 0."""
    monkeypatch.setenv("PARNRN_EXIT_PATIENCE", "1")
    done = launch("late_rank.py", 3, "import")
    assert done.returncode == 0, describe(done)
    assert results(done) == ["RESULT late_rank nhost=3: rank 0 finished last"]


@pytest.mark.parametrize("form", ("import", "runner"))
def test_a_task_that_raises_on_a_worker_ends_the_job_named(form):
    """Raw NEURON answers with MPI_Abort(-1) from the worker; with parnrn the job ends with
    parnrn's report: the worker's rank and the task's traceback."""
    raw = launch("bulletin_task_error.py", 3, "raw")
    # Raw NEURON's MPI_Abort(-1) races its own output: only the failure is certain.
    assert raw.returncode != 0 and "no task failed" not in raw.stdout
    done = launch("bulletin_task_error.py", 3, form)
    assert done.returncode != 0, describe(done)
    failed = re.search(
        r"\[rank ([12])/3\] parnrn: rank \1 failed: unhandled RuntimeError", done.stderr
    )
    assert failed, describe(done)
    assert "ValueError: bad parameter" in done.stderr and "runworker" in done.stderr
    assert "MPI_Abort(MPI_COMM_WORLD, -1)" not in done.output, describe(done)
