"""Checkpoint and restore across processes and rank counts: saved on 2 ranks at 50 ms,
restored on 1, 2 and 3, the run to 100 ms gives the spikes of an uninterrupted run (the
ring, and brunel with its Random123 noise), also through a chain of restores; a model that
does not match is a named error on every rank; the walltime signal stops the run with a
checkpoint and status 75, and the same command then finishes the run. Every launch is
bounded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from support.launch import MPIEXEC, run_bounded, run_mpi

TIMEOUT = 120
SCENARIO = os.path.join(os.path.dirname(__file__), "scenarios", "checkpoint_run.py")


def launch(ranks: int, *args: str):
    argv = [SCENARIO, *args]
    done = (
        run_bounded([sys.executable, *argv], TIMEOUT)
        if ranks == 1
        else run_mpi(ranks, argv, TIMEOUT)
    )
    return done


def ran(ranks: int, *args: str):
    done = launch(ranks, *args)
    assert done.returncode == 0, done.output
    return done


def same_spikes(path_a, path_b) -> None:
    a, b = np.load(path_a), np.load(path_b)
    assert len(a["times"]) > 50  # the model spiked
    np.testing.assert_array_equal(a["gids"], b["gids"])
    np.testing.assert_allclose(a["times"], b["times"], rtol=0, atol=1e-9)


@pytest.mark.parametrize("model", ["ring", "brunel"])
def test_saved_on_2_restored_on_1_2_and_3_gives_the_uninterrupted_spikes(model, tmp_path):
    full = tmp_path / "full.npz"
    ran(1, model, "--out", str(full))
    checkpoint = tmp_path / "at50"
    ran(2, model, "--save", str(checkpoint), "--save-at", "50", "--out", str(tmp_path / "s.npz"))
    same_spikes(full, tmp_path / "s.npz")  # checkpointing changes nothing
    assert sorted(os.listdir(checkpoint)) == ["in", "manifest.json", "spikes"]
    assert not [name for name in os.listdir(tmp_path) if ".partial-" in name]
    for ranks in (1, 2, 3):
        out = tmp_path / f"restored{ranks}.npz"
        done = ran(ranks, model, "--restore", str(checkpoint), "--out", str(out))
        assert "restored t=50.0" in done.stdout
        same_spikes(full, out)


def test_a_chain_of_restores_on_other_rank_counts(tmp_path):
    full = tmp_path / "full.npz"
    ran(1, "ring", "--out", str(full))
    ran(2, "ring", "--save", str(tmp_path / "at50"), "--save-at", "50")
    ran(3, "ring", "--restore", str(tmp_path / "at50"), "--save", str(tmp_path / "at75"),
        "--save-at", "75")  # fmt: skip
    ran(1, "ring", "--restore", str(tmp_path / "at75"), "--out", str(tmp_path / "end.npz"))
    same_spikes(full, tmp_path / "end.npz")


def test_a_model_that_does_not_match_is_named_on_every_rank(tmp_path):
    ran(2, "ring", "--save", str(tmp_path / "at50"), "--save-at", "50")
    done = launch(2, "ring", "--ncell", "38", "--restore", str(tmp_path / "at50"))
    assert done.returncode == 1, done.output
    for rank in (0, 1):
        assert f"[rank {rank}/2] restore {tmp_path / 'at50'}: the model built is not" in done.output
    assert "2 gid(s) of the checkpoint are in no rank's model: 38, 39" in done.output


@pytest.mark.parametrize("ranks", [1, 2])
def test_the_walltime_signal_checkpoints_ends_with_75_and_the_rerun_finishes(ranks, tmp_path):
    full = tmp_path / "full.npz"
    long = ["ring", "--tstop", "20000"]
    ran(1, *long, "--out", str(full))
    markers = tmp_path / "markers"
    markers.mkdir()
    checkpoint = tmp_path / "ckpt"
    args = [
        *long, "--restore", str(checkpoint), "--missing-ok", "--walltime", str(checkpoint),
        "--every", "5000", "--markers", str(markers), "--out", str(tmp_path / "end.npz"),
    ]  # fmt: skip
    launcher = [sys.executable] if ranks == 1 else [MPIEXEC, "-n", str(ranks), sys.executable]
    proc = subprocess.Popen(
        [*launcher, SCENARIO, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + TIMEOUT
        while len(os.listdir(markers)) < ranks and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)  # into the run
        for marker in os.listdir(markers):  # as Slurm's --signal does: every task
            os.kill(int((markers / marker).read_text()), signal.SIGUSR1)
        output, _ = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 75, output
    assert f"[rank 0/{ranks}] parnrn: SIGUSR1 received: the run stopped at t = " in output
    assert f"wrote the checkpoint {checkpoint}" in output
    assert "@spikes" not in output and os.path.isdir(checkpoint)
    done = ran(ranks, *args)  # the same command continues from the checkpoint
    assert "restored t=None" not in done.stdout
    same_spikes(full, tmp_path / "end.npz")
