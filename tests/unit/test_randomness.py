"""Random streams keyed by (seed, gid, stream) on one rank: the keying scheme, the three
helpers, item_rng, and the run's check for NetStims on NEURON's default stream. The same
on several ranks is tests/launch/test_randomness_launched.py and tests/mpi."""

from __future__ import annotations

import numpy as np
import pytest

import parnrn
from parnrn import ParallelError, configure, log, p
from parnrn.context.randomness import default_noise_message, numpy_generator, stream_ids
from parnrn.examples import noisy
from parnrn.settings import settings


@pytest.fixture
def seed():
    """The job's seed, restored after the test."""
    before = settings.seed
    yield before
    configure(seed=before)


@pytest.fixture
def fresh_warnings(monkeypatch):
    """No parnrn warning given yet in this process (warn_once forgets)."""
    monkeypatch.setattr(log, "_warned", set())


def noisy_spikes(streams: str, **run_kw):
    """The spikes of the 48-cell noisy example, built with ``streams``, run 100 ms."""
    p.parallel.gid_clear()
    model = noisy.build(48, streams)
    p.parallel.run(100, **run_kw)
    spikes = p.parallel.gather_spikes()
    p.parallel.gid_clear()
    del model
    return spikes


def test_stream_ids_follow_the_documented_scheme():
    assert stream_ids(7, 1, seed=3) == (2**31 + 3, 7, 1)
    assert stream_ids(7, 1, seed=3, item=True) == (2**31 + 2**30 + 3, 7, 1)
    top = stream_ids(2**32 - 1, 2**32 - 1, seed=2**30 - 1)
    assert top == (2**32 - 1 - 2**30, 2**32 - 1, 2**32 - 1)  # all within 32 bits
    assert stream_ids(7, seed=None) == (2**31 + settings.seed, 7, 0)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: p.parallel.numpy_rng(-1), "gid must be in 0 .. 2\\*\\*32 - 1 .*not -1"),
        (lambda: p.parallel.random_stream(2**32), "gid must be in 0 .. 2\\*\\*32 - 1"),
        (lambda: p.parallel.numpy_rng(1.5), "gid must be an integer, not 1.5"),
        (lambda: p.parallel.numpy_rng(True), "gid must be an integer, not True"),
        (lambda: p.parallel.numpy_rng(1, stream=-2), "stream must be in 0 .. 2\\*\\*32 - 1"),
        (lambda: p.parallel.numpy_rng(1, seed=2**30), "seed=1073741824: a seed must be in"),
        (lambda: parnrn.item_rng(2**30, 0), "seed=1073741824: a seed must be in"),
        (lambda: parnrn.item_rng(1, -1), "item index must be in 0 .. 2\\*\\*32 - 1"),
    ],
)
def test_bad_keys_are_refused_naming_the_rank_and_the_cause(call, message):
    with pytest.raises(ValueError, match=r"^\[rank 0/1\] .*" + message):
        call()


def test_numpy_rng_is_philox_keyed_by_seed_gid_and_stream(seed):
    rng = p.parallel.numpy_rng(7, 1)
    assert isinstance(rng.bit_generator, np.random.Philox)
    first = rng.random(4)
    assert np.array_equal(first, p.parallel.numpy_rng(7, 1, seed=seed).random(4))
    others = [
        p.parallel.numpy_rng(8, 1),
        p.parallel.numpy_rng(7, 2),
        p.parallel.numpy_rng(7, 1, seed=seed + 1),
    ]
    assert all(not np.array_equal(first, other.random(4)) for other in others)
    configure(seed=seed + 1)  # the job's seed is read when the stream is made
    again = p.parallel.numpy_rng(7, 1).random(4)
    assert np.array_equal(again, p.parallel.numpy_rng(7, 1, seed=seed + 1).random(4))


def test_item_rng_shares_the_scheme_apart_from_the_gids():
    draws = parnrn.item_rng(5, 3).random(4)
    assert np.array_equal(draws, numpy_generator(stream_ids(3, 0, 5, item=True)).random(4))
    assert np.array_equal(draws, parnrn.item_rng(5, 3).random(4))
    assert not np.array_equal(draws, parnrn.item_rng(5, 4).random(4))
    assert not np.array_equal(draws, p.parallel.numpy_rng(3, 0, seed=5).random(4))


def test_random_stream_is_random123_on_the_ids():
    mine = p.parallel.random_stream(7, 2, seed=3)
    theirs = p.Random()
    theirs.Random123(*stream_ids(7, 2, seed=3))
    mine.uniform(0, 1)
    theirs.uniform(0, 1)
    draws = [mine.repick() for _ in range(5)]
    assert draws == [theirs.repick() for _ in range(5)]
    other = p.parallel.random_stream(8, 2, seed=3)
    other.uniform(0, 1)
    assert draws != [other.repick() for _ in range(5)]


def test_noise_keys_the_netstim_and_refuses_what_has_no_noise():
    stim = p.NetStim()
    assert p.parallel.noise(stim, 7, 2, seed=3) is stim
    assert tuple(stim.ranvar.get_ids()) == stream_ids(7, 2, seed=3)
    with pytest.raises(TypeError, match=r"^\[rank 0/1\] noise\(\) .* IntFire1\[\d+\] has none"):
        p.parallel.noise(p.IntFire1(), 7)


def test_the_default_stream_warns_once_with_the_count_and_the_fix(pc, capsys, fresh_warnings):
    noisy_spikes("default")
    err = capsys.readouterr().err
    assert "48 NetStim(s) with noise > 0 draw from NEURON's default random stream" in err
    assert "(rank 0: 48)" in err and "Fix: p.parallel.noise(netstim, gid)" in err
    assert err.count("WARNING") == 1
    noisy_spikes("default")
    assert "default random stream" not in capsys.readouterr().err  # once per process


@pytest.mark.parametrize("streams", ["helpers", "random_stream", "per_rank"])
def test_keyed_streams_do_not_warn(pc, capsys, fresh_warnings, streams):
    noisy_spikes(streams)
    assert "WARNING" not in capsys.readouterr().err


def test_a_regular_netstim_on_the_default_stream_does_not_warn(pc, capsys, fresh_warnings):
    stim = p.NetStim()
    stim.number, stim.noise = 3, 0
    p.parallel.run(10)
    assert "default random stream" not in capsys.readouterr().err


def test_strict_makes_the_default_stream_an_error(pc):
    model = noisy.build(12, "default")
    with pytest.raises(ParallelError, match=r"^\[rank 0/1\] 12 NetStim\(s\) with noise > 0 .*"):
        p.parallel.run(10, strict=True)
    configure(strict=True)
    try:
        with pytest.raises(ParallelError, match="default random stream"):
            p.parallel.run(10)
    finally:
        configure(strict=False)
    del model


def test_the_seed_is_logged_at_the_start_of_a_run(pc, capsys, seed):
    configure(seed=1234)
    p.parallel.run(1)
    assert "INFO: random seed 1234 (configure(seed=...) or PARNRN_SEED)" in capsys.readouterr().err
    pc.gid_clear()
    p.parallel.run(1, quiet=True)
    assert "random seed" not in capsys.readouterr().err


def test_the_seed_changes_the_spikes_and_only_the_seed_does(pc, seed):
    configure(seed=1)
    first = noisy_spikes("helpers")
    assert len(first) > 100
    assert noisy_spikes("helpers") == first
    configure(seed=2)
    assert noisy_spikes("helpers") != first


def test_the_default_stream_message_lists_eight_ranks_and_sums_the_others():
    message = default_noise_message([3] * 8 + [2, 1])
    assert message.startswith("27 NetStim(s) with noise > 0")
    listed = ", ".join(f"rank {r}: 3" for r in range(8))
    assert f"({listed}, and 3 on the other 2 ranks)" in message
