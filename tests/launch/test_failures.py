"""The failure-mode matrix: every way one rank can fail must end the whole job quickly,
with a non-zero status, naming the rank and the cause. Never a hang, never a silent
success.

Each row launches a small script from ``tests/launch/scenarios`` under ``mpiexec`` (in a
subprocess with a bounded timeout; its whole process group is killed on expiry) on 2 and 3
ranks, with the failing rank first and last, run as ``python script.py`` and, where it
adds something, as ``python -m parnrn script.py``. The scenario prints ``@fail <time>``
just before failing; the time from there to ``mpiexec`` returning is checked and the worst
is printed at the end of the module.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field

import pytest
from support.launch import MPIEXEC, OPEN_MPI, mpiexec_python, run_bounded

SCENARIOS = os.path.join(os.path.dirname(__file__), "scenarios")
HANG_LIMIT = 60.0  # seconds before a launch counts as a hang
EXIT_LIMIT = 2.0  # seconds from the failure to mpiexec returning
ALWAYS = "always"  # Row.status: any non-zero status

pytestmark = pytest.mark.skipif(not shutil.which(MPIEXEC), reason="mpiexec not found")


@dataclass
class Row:
    """One failure mode. ``expect`` are regular expressions the output must match, with
    ``{bad}`` (the failing rank) and ``{n}`` filled in; ``every_rank`` must match once per
    rank with ``{r}`` filled in. ``status`` is the exit status (None: any non-zero)."""

    script: str
    mode: str
    status: int | None
    expect: list[str]
    every_rank: list[str] = field(default_factory=list)
    record: str | None = None  # exception type in the failing rank's error record
    runner: str = "both"  # "python", "runner" or "both"
    per_rank: bool = True  # vary the failing rank (False: every rank fails alike)
    env: dict[str, str] = field(default_factory=dict)
    # The failing rank's own exit status, for deaths no parnrn code can see: MPICH's
    # mpiexec tells it with -print-all-exitcodes (its message may name another rank's PID),
    # Open MPI's exits with 128 + the signal and names the rank.
    rank_status: int | None = None
    silent: bool = False  # the failing rank never gets to print (``every_rank`` skips it)


FAILED = r"\[rank {bad}/{n}\] parnrn: rank {bad} failed: "
# Every rank raises the EngineError: whichever is first ends the job.
ENGINE_FAILED = r"parnrn: rank \d+ failed: unhandled EngineError"
# Every rank's EngineError, its first line, and the start of the line naming the feature.
ENGINE = (
    r"rank {r} caught EngineError: \[rank {r}/{n}\] CoreNEURON cannot run this model \("
    r"p\.parallel\.run engine 'coreneuron'\); found before the run: //   "
)
# The item the failing rank was running, as map's scenario printed it, named in the failure.
MAP_ITEM = r"(?s)@item (\d+) rank {bad}\n.*p\.parallel\.map item \1\b"
ROWS = {
    "uncaught exception": Row(
        "exits.py", "raise", 1,
        [FAILED + "unhandled ValueError", r"ValueError: scenario failure on rank {bad}"],
        record="ValueError",
    ),
    "KeyboardInterrupt": Row(
        "exits.py", "keyboard", 130, [FAILED + "unhandled KeyboardInterrupt"],
        record="KeyboardInterrupt", runner="python",
    ),
    "healthy ranks' output kept": Row(
        "exits.py", "output_then_raise", 1, [FAILED + "unhandled ValueError"],
        every_rank=[r"rank {r} line 4\b"], env={"PYTHONUNBUFFERED": ""},
    ),
    "Ctrl-C while waiting in a collective": Row(
        "exits.py", "sigint_while_waiting", 130, [FAILED + "unhandled KeyboardInterrupt"],
        runner="python",
    ),
    "the script's own excepthook": Row(
        "exits.py", "users_excepthook", 1,
        [r"the script's hook saw ValueError", FAILED + "unhandled ValueError"],
        record="ValueError", runner="python",
    ),
    "the script's own excepthook, set after MPI started": Row(
        "exits.py", "users_excepthook_late", 1,
        [r"the script's hook saw ValueError",
         FAILED + r"unhandled ValueError \(reported by the script's own sys\.excepthook, set "
         r"after parnrn's\)", r"ValueError: scenario failure on rank {bad}"],
        record="ValueError", runner="python",
    ),
    "sys.exit(3)": Row(
        "exits.py", "sys_exit", 3, [FAILED + r"(sys\.exit|SystemExit)\(3\)"], record="SystemExit",
    ),
    "raise SystemExit(4)": Row(
        "exits.py", "raise_system_exit", 4, [FAILED + r"SystemExit\(4\)"], runner="runner",
        record="SystemExit",
    ),
    "raise SystemExit(4) under plain python": Row(
        "exits.py", "raise_system_exit", 1,
        [FAILED + r"reached the end of the program \(or an uncaught SystemExit, whose status "
         r"only `python -m parnrn` can report\) while other ranks had not"],
        runner="python",
    ),
    "sys.exit(0) early": Row(
        "exits.py", "exit_zero", 1,
        [FAILED + r"reached sys\.exit\(0\) while other ranks had not", r"rank {bad} in exit"],
    ),
    "os._exit(0)": Row(
        "exits.py", "os_exit_zero", 1,
        [FAILED + r"reached os\._exit\(0\) while other ranks had not", r"rank {bad} in exit"],
    ),
    "SIGKILL": Row(
        "exits.py", "sigkill", None,
        [r"Killed \(signal 9\)|process rank {bad} with PID \d+ on node \S+ exited on\s+signal 9 "
         r"\(Killed\)"],
        runner="python", rank_status=9,
    ),
    "segfault": Row(
        "exits.py", "segfault", None,
        [r"\[rank {bad}/{n}\] crashed: the Python stack of each of its threads follows",
         r"File \".*exits\.py\", line \d+ in <module>"],
    ),
    "unpicklable broadcast": Row(
        "transport_errors.py", "broadcast_unpicklable", 1,
        [FAILED + "unhandled BroadcastError"],
        every_rank=[r"rank {r} caught BroadcastError: .*rank {bad} \(root\): TypeError: "
                    r"cannot pickle"],
        record="BroadcastError", runner="python",
    ),
    "unpicklable gather": Row(
        "transport_errors.py", "gather_unpicklable", 1, [],
        every_rank=[r"rank {r} caught TransportError: .*rank {bad}( \(root\))?: TypeError: "
                    r"cannot pickle"],
        runner="python",
    ),
    "out of memory receiving a broadcast": Row(
        "memory.py", "broadcast", 0,
        [r"rank {bad} caught BroadcastError: \[rank {bad}/{n}\] broadcast failed on rank {bad}: "
         r"MemoryError: out of memory allocating \d+ bytes to receive into \(receiving or "
         r"loading its data; the other ranks have returned\)"],
        every_rank=[r"rank {r} finished"], runner="python",
    ),
    "out of memory receiving a gather": Row(
        "memory.py", "gather", 0,
        [r"rank {bad} caught TransportError: \[rank {bad}/{n}\] gather failed on rank {bad}: "
         r"MemoryError: out of memory allocating \d+ bytes to receive into \(receiving or "
         r"loading its data; the other ranks have returned\)"],
        every_rank=[r"rank {r} finished"], runner="python",
    ),
    "out of memory receiving a allgather": Row(
        "memory.py", "allgather", 0,
        [r"rank {bad} caught TransportError: \[rank {bad}/{n}\] allgather failed on rank {bad}: "
         r"MemoryError: out of memory allocating \d+ bytes to receive into \(receiving or "
         r"loading its data; the other ranks have returned\)"],
        every_rank=[r"rank {r} finished"], runner="python",
    ),
    "out of memory receiving a scatter": Row(
        "memory.py", "scatter", 0,
        [r"rank {bad} caught TransportError: \[rank {bad}/{n}\] scatter failed on rank {bad}: "
         r"MemoryError: out of memory allocating \d+ bytes to receive into \(receiving or "
         r"loading its data; the other ranks have returned\)"],
        every_rank=[r"rank {r} finished"], runner="python",
    ),
    "out of memory receiving an object": Row(
        "memory.py", "broadcast_object", 0, [],
        every_rank=[r"rank {r} caught BroadcastError: .*failed on rank {bad}: MemoryError: out "
                    r"of memory allocating \d+ bytes", r"rank {r} finished"],
        runner="python",
    ),
    "a second thread in a collective on the same communicator": Row(
        "transport_errors.py", "second_thread", 1,
        [FAILED + "unhandled RankLostError",
         r"\[rank {bad}/{n}\] broadcast: another thread of this rank waits in barrier on this "
         r"communicator, so this rank cannot make the call"],
        runner="python",
    ),
    "... from a thread of its own": Row(
        "transport_errors.py", "second_thread_in_thread", 1,
        [FAILED + "unhandled RankLostError in thread 'second'",
         r"\[rank {bad}/{n}\] broadcast: another thread of this rank waits in barrier"],
        runner="python",
    ),
    "mismatched collectives": Row(
        "transport_errors.py", "mismatch", 1, [],
        every_rank=[r"rank {r} caught CollectiveMismatchError: .*rank {bad} in gather"],
        runner="python",
    ),
    "rank never arrives": Row(
        "transport_errors.py", "never_arrives", 1,
        [r"caught CollectiveTimeoutError: .*rank\(s\) {bad} never arrived",
         r"parnrn: rank \d+ failed: unhandled CollectiveTimeoutError"],
        runner="python",
    ),
    "a caught timeout, then the same communicator": Row(
        "transport_errors.py", "timeout_caught", 1,
        [r"parnrn: rank \d+ failed: unhandled CollectiveTimeoutError"],
        every_rank=[r"rank {r} caught the timeout and goes on",
                    r"rank {r} caught CollectiveTimeoutError: \[rank {r}/{n}\] broadcast "
                    r"refused: this rank gave up on this communicator when broadcast #\d+ "
                    r"timed out \(rank\(s\) {bad} never arrived\)"],
        runner="python", silent=True,
    ),
    "a caught timeout, then the end of the program": Row(
        "transport_errors.py", "timeout_caught_end", 1,
        [r"parnrn: rank \d+ failed: reached the end of the program .*out of step with the "
         r"other ranks", r"exit refused: this rank gave up on this communicator when "
         r"broadcast #\d+ timed out \(rank\(s\) {bad} never arrived\)"],
        every_rank=[r"rank {r} caught the timeout and goes on"],
        runner="python", silent=True,
    ),
    "a rank slow in its part of an allreduce (timeout)": Row(
        "transport_errors.py", "slow_allreduce", 1,
        [r"parnrn: rank \d+ failed: unhandled CollectiveTimeoutError"],
        every_rank=[r"rank {r} caught CollectiveTimeoutError: .*(allreduce \(data\)|broadcast) "
                    r"#\d+ timed out after 1 s: rank\(s\) {bad} never arrived"],
        runner="python", silent=True,
    ),
    "a collective inside __reduce__": Row(
        "transport_errors.py", "collective_in_reduce", 1,
        [FAILED + "unhandled BroadcastError"],
        every_rank=[r"rank {r} caught BroadcastError: .*rank {bad} \(root\): ParallelError: "
                    r"\[rank {bad}/{n}\] barrier called while this rank is pickling data"],
        record="BroadcastError", runner="python",
    ),
    "a receiver stuck loading (timeout)": Row(
        "transport_errors.py", "slow_load", 1,
        [r"caught CollectiveTimeoutError: .*broadcast \(loading\) #\d+ timed out after 1 s: "
         r"rank\(s\) {bad} never arrived",
         r"parnrn: rank \d+ failed: unhandled CollectiveTimeoutError"],
        runner="python",
    ),
    "exception in collective()": Row(
        "transport_errors.py", "collective_block", 1,
        [FAILED + "unhandled ValueError"],
        every_rank=[r"rank {r} caught (ValueError|RemoteRankError): .*"
                    r"(rank {bad}: ValueError: )?scenario failure on rank {bad}"],
        record="ValueError",
    ),
    "nhost disagrees": Row(
        "nrn_errors.py", "nhost_mismatch", 1,
        [r"parnrn: rank \d+ failed: unhandled MPIConfigError",
         r"NEURON sees 1 rank\(s\) but MPI has {n}"],
        per_rank=False, runner="python", env={"MPI_LIB_NRN_PATH": "not-an-mpi-library.so"},
    ),
    "hoc error caught": Row(
        "nrn_errors.py", "hoc_caught", 0,
        [r"caught: \[rank {bad}/{n}\] NEURON error in gid_connect: .*\n.*"
         r"arg 2 must be a point process"],
        every_rank=[r"rank {r} finished"], runner="python",
    ),
    "hoc error uncaught": Row(
        "nrn_errors.py", "hoc_uncaught", 1,
        [FAILED + "unhandled RuntimeError", r"arg 2 must be a point process"],
        record="RuntimeError",
    ),
    "exception in psolve event": Row(
        "nrn_errors.py", "psolve_event", 1,
        [FAILED + r"HocError escaped p\.parallel\.run on this rank",
         r"NEURON error in run\(10\)", r"ValueError: event callback failed on rank {bad}"],
        record="HocError",
    ),
    "h.quit() on one rank": Row(
        "nrn_errors.py", "quit_one_rank", 1,
        [FAILED + r"reached MPI_Finalize called by NEURON .* while other ranks had not",
         r"rank {bad} in exit"],
    ),
    "ranks disagree on the run": Row(
        "nrn_errors.py", "run_mismatch", 1,
        [r"parnrn: rank \d+ failed: unhandled ParallelError"],
        every_rank=[r"rank {r} caught ParallelError: .*run failed on rank \d: ValueError: its "
                    r"run is tstop=(50|100)(\.0)? dt=0.025 t=0\.0 engine=neuron v_init=None "
                    r"\(first run\), rank 0's tstop=(50|100)"],
        runner="python",
    ),
    "a NetCon with delay 0 across ranks": Row(
        "nrn_errors.py", "zero_delay", 1, [r"parnrn: rank \d+ failed: unhandled ParallelError"],
        every_rank=[r"rank {r} caught ParallelError: \[rank {r}/{n}\] usable mindelay is "
                    r"0(\.0)? ms: on rank\(s\) {bad} a NetCon"],
        runner="python",
    ),
    "exception out of the run, caught": Row(
        "nrn_errors.py", "psolve_event_caught", 1,
        [FAILED + r"HocError escaped p\.parallel\.run on this rank",
         r"ValueError: event callback failed on rank {bad}"],
        record="HocError",
    ),
    "stuck in psolve (watchdog)": Row(
        "nrn_errors.py", "psolve_stuck", None,
        [r"\[rank (\d+)/{n}\] parnrn: rank \1 failed: psolve exceeded timeout 1 s",
         r"File .*parnrn/context/run\.py"],
        runner="python",
    ),
    "stuck in finitialize (watchdog)": Row(
        "nrn_errors.py", "finitialize_stuck", None,
        [r"\[rank (\d+)/{n}\] parnrn: rank \1 failed: finitialize exceeded timeout 1 s",
         r"File .*parnrn/context/run\.py"],
        runner="python",
    ),
    "stuck in pc.barrier (watchdog)": Row(
        "nrn_errors.py", "barrier_stuck", None,
        [r"\[rank (\d+)/{n}\] parnrn: rank \1 failed: pc\.barrier exceeded timeout 1 s",
         r"File .*nrn_errors\.py"],
        runner="python",
    ),
    "CoreNEURON: CVode": Row(
        "engine_errors.py", "cvode", 1, [ENGINE_FAILED],
        every_rank=[ENGINE + r"CVode \(variable time step\) is active, on rank {bad}: "
                    r"CoreNEURON integrates with the fixed step only"],
        runner="python",
    ),
    "CoreNEURON: LinearMechanism": Row(
        "engine_errors.py", "linear_mechanism", 1, [ENGINE_FAILED],
        every_rank=[ENGINE + r"LinearMechanism: 1 object on rank {bad} \(LinearMechanism\[0\]\)"],
        runner="python",
    ),
    "CoreNEURON: extracellular": Row(
        "engine_errors.py", "extracellular", 1, [ENGINE_FAILED],
        every_rank=[ENGINE + r"extracellular: 1 section on rank {bad} \(RingCell\[{bad}\]\.soma\)"],
        runner="python",
    ),
    "CoreNEURON: a Python event callback": Row(
        "engine_errors.py", "event_callback", 1, [ENGINE_FAILED],
        every_rank=[ENGINE + r"CVode\(\)\.event with a callback: 1 event on rank {bad} \(at t "
                    r"= 2 ms: a Python callable\)"],
        runner="python",
    ),
    "CoreNEURON: Vector.record at an interval": Row(
        "engine_errors.py", "sampled_record", 1, [ENGINE_FAILED],
        every_rank=[ENGINE + r"Vector\.record\(ref, dt\) or \(ref, tvec\): 1 Vector on rank "
                    r"{bad} \(next sample at t = 0\.1 ms\)"],
        runner="python",
    ),
    "CoreNEURON: a variable report": Row(
        "engine_errors.py", "report", 1, [ENGINE_FAILED],
        every_rank=[ENGINE + r"p\.parallel\.report \S+soma_v\.h5, on ranks 0, 1"],
        runner="python", per_rank=False,
    ),
    "CoreNEURON: GPU without GPU support (exit 42)": Row(
        "engine_errors.py", "gpu", 1, [ENGINE_FAILED],
        every_rank=[ENGINE + r"coreneuron\.gpu = True, on rank {bad}: this NEURON's CoreNEURON "
                    r"has no GPU support"],
        runner="python",
    ),
    "CoreNEURON: a mechanism it lacks (abort)": Row(
        "engine_errors.py", "missing_mechanism", 1, [ENGINE_FAILED],
        every_rank=[ENGINE + r"IntFire1: 2 instances on rank {bad} \(IntFire1\[0\], "
                    r"IntFire1\[1\]\): one of NEURON's own mechanisms"],
        runner="python",
    ),
    "map: an evaluation raises on a rank": Row(
        "sweep_deaths.py", "raise", 1,
        [FAILED + "unhandled TaskError", r"ValueError: evaluation refused on rank {bad}",
         r"(?s)@item (\d+) rank {bad}\n.*item \1 \(\1\) on rank {bad} "],
        record="TaskError", runner="python",
    ),
    "map: sys.exit(0) in a task": Row(
        "sweep_deaths.py", "sys_exit_zero", 1,
        [FAILED + r"sys\.exit\(0\) inside p\.parallel\.map item \d+", MAP_ITEM],
        runner="python",
    ),
    "map: sys.exit(3) in a task": Row(
        "sweep_deaths.py", "sys_exit_three", 3,
        [FAILED + r"sys\.exit\(3\) inside p\.parallel\.map item \d+", MAP_ITEM],
        runner="python",
    ),
    "map: os._exit(0) in a task": Row(
        "sweep_deaths.py", "os_exit_zero", 1,
        [FAILED + r"os\._exit\(0\) inside p\.parallel\.map item \d+", MAP_ITEM],
        runner="python",
    ),
    "map: h.quit() in a task": Row(
        "sweep_deaths.py", "quit", 1,
        [FAILED + r"MPI_Finalize called by NEURON .* inside p\.parallel\.map item \d+", MAP_ITEM],
        runner="python",
    ),
    "map: SIGTERM in a task": Row(
        "sweep_deaths.py", "sigterm", None,
        [r"\[rank {bad}/{n}\] crashed", r"Terminated \(signal 15\)|exited on\s+signal 15",
         MAP_ITEM],
        runner="python", rank_status=15,
    ),
    "map: SIGKILL in a task": Row(
        "sweep_deaths.py", "sigkill", None, [r"Killed \(signal 9\)|exited on\s+signal 9"],
        runner="python",
        rank_status=9,
    ),
    "map: segfault in a task": Row(
        "sweep_deaths.py", "segfault", None, [r"\[rank {bad}/{n}\] crashed", MAP_ITEM],
        runner="python",
    ),
}  # fmt: skip


def _cases():
    for name, row in ROWS.items():
        launchers = ["python", "runner"] if row.runner == "both" else [row.runner]
        for n in (2, 3):
            for bad in ("0", "last") if row.per_rank else ("0",):
                for launcher in launchers:
                    case_id = f"{name}-n{n}-{'rank' + bad if row.per_rank else 'all'}-{launcher}"
                    yield pytest.param(name, n, bad, launcher, id=case_id)


@pytest.fixture(scope="module")
def timings(request):
    """Time from failure to job end, per case; the worst is reported at the end."""
    times: dict[str, float] = {}
    yield times
    if times:
        worst = max(times, key=times.get)
        median = sorted(times.values())[len(times) // 2]
        line = (
            f"failure matrix: {len(times)} runs, worst time from failure to exit "
            f"{times[worst]:.2f} s ({worst}), median {median:.2f} s"
        )
        capture = request.config.pluginmanager.getplugin("capturemanager")
        with capture.global_and_fixture_disabled():
            print("\n" + line)


def launch(args: list[str], tmp_path, extra: dict[str, str]) -> tuple[int, str, float]:
    """Run ``args`` bounded by ``HANG_LIMIT``: (status, output, wall time at its end)."""
    env = {"PARNRN_ERROR_DIR": str(tmp_path / "errors"), **extra}
    done = run_bounded(args, HANG_LIMIT, env)
    return done.returncode, done.output, time.time()


@pytest.mark.parametrize("name, n, bad, launcher", list(_cases()))
def test_failure_mode(name, n, bad, launcher, tmp_path, timings):
    row = ROWS[name]
    runner = ["-m", "parnrn"] if launcher == "runner" else []
    script = os.path.join(SCENARIOS, row.script)
    codes = ("-print-all-exitcodes",) if row.rank_status is not None and not OPEN_MPI else ()
    args = mpiexec_python(n, *runner, script, row.mode, bad, flags=codes)
    status, output, ended = launch(args, tmp_path, row.env)
    context = f"{' '.join(args)}\nexit status {status}; output:\n{output}"

    if row.status is None:
        assert status != 0, f"silent success: {context}"
    else:
        assert status == row.status, context
    bad_rank = n - 1 if bad == "last" else int(bad)
    fields = {"bad": bad_rank, "n": n}
    for pattern in row.expect:
        assert re.search(pattern.format(**fields), output), f"no {pattern!r} in {context}"
    for pattern in row.every_rank:
        for r in range(n):
            if row.silent and r == bad_rank:
                continue
            expected = pattern.format(r=r, **fields)
            assert re.search(expected, output), f"no {expected!r} in {context}"
    if row.rank_status is not None and OPEN_MPI:
        assert status == 128 + row.rank_status, context
    elif row.rank_status is not None:
        statuses = re.search(r"Exit codes: \[[^\]]*\] ([\d,]+)", output)
        assert statuses, context
        assert statuses[1].split(",")[bad_rank] == str(row.rank_status), context
    if row.record:
        with open(tmp_path / "errors" / f"rank{bad_rank}.json") as file:
            record = json.load(file)
        assert (record["rank"], record["size"], record["type"]) == (bad_rank, n, row.record)
        assert record["traceback"] and record["host"] and record["time"] <= ended

    if row.status == 0:
        return
    fail_times = [float(t) for t in re.findall(r"@fail (\d+\.\d{6})", output)]
    assert fail_times, context
    time_to_exit = ended - min(fail_times)
    timings[f"{name}, n={n}, rank {bad}, {launcher}"] = time_to_exit
    assert time_to_exit < EXIT_LIMIT, f"took {time_to_exit:.2f} s to end: {context}"


def test_clean_run_succeeds_with_both_launchers(tmp_path):
    """The control: nothing fails, every rank finishes, status 0, no error record."""
    script = os.path.join(SCENARIOS, "exits.py")
    for runner in ([], ["-m", "parnrn"]):
        args = mpiexec_python(3, *runner, script, "none", "0")
        status, output, _ = launch(args, tmp_path, {})
        assert status == 0, output
        assert all(f"rank {r} finished" in output for r in range(3)), output
        assert "parnrn:" not in output, output
    assert not (tmp_path / "errors").exists()


@pytest.mark.parametrize("n", [2, 3])
def test_output_survives_a_walltime_sigterm(n, tmp_path):
    """The batch system's SIGTERM to mpiexec at a walltime limit, while one rank sleeps and
    the others wait for it: every line any rank printed before reaches the output (stdout
    to a pipe is block-buffered unless parnrn makes it line-buffered)."""
    markers = tmp_path / "markers"
    markers.mkdir()
    script = os.path.join(SCENARIOS, "exits.py")
    env = {**os.environ, "PYTHONUNBUFFERED": "", "PARNRN_TEST_MARKERS": str(markers)}
    proc = subprocess.Popen(
        mpiexec_python(n, script, "output_then_walltime", "last"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + HANG_LIMIT
        while len(os.listdir(markers)) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(os.listdir(markers)) == n, "the ranks never printed their lines"
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=HANG_LIMIT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode != 0, output
    for r in range(n):
        for line in range(5):
            assert f"rank {r} line {line}\n" in output, output
