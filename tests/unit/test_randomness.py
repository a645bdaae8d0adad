"""Random streams keyed by (seed, gid, stream) on one rank: the keying scheme, the three
helpers and item_rng."""

from __future__ import annotations

import numpy as np
import pytest

import parnrn
from parnrn import configure, p
from parnrn.context.randomness import numpy_generator, stream_ids
from parnrn.settings import settings


@pytest.fixture
def seed():
    """The job's seed, restored after the test."""
    before = settings.seed
    yield before
    configure(seed=before)


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
