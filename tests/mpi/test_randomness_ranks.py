"""Random streams inside mpiexec -n 2, 3 and 8: a noisy network built with each helper
gives the spikes it gives on one rank; a seed that differs between ranks, and NetStims on
NEURON's default stream under strict, are errors on every rank; the default stream's
warning comes from rank 0 alone."""

from __future__ import annotations

import pytest

from parnrn import ParallelError, configure, log, p
from parnrn.examples import noisy
from parnrn.settings import settings

pytestmark = pytest.mark.mpi(min_size=2)


def noisy_digest(streams: str) -> tuple[int, str] | None:
    """(spike count, digest) of the noisy example built with ``streams`` on the current
    (sub)world, on its rank 0; None on its other ranks."""
    p.parallel.gid_clear()
    model = noisy.build(48, streams)
    p.parallel.run(200, quiet=True)
    spikes = p.parallel.gather_spikes()
    p.parallel.gid_clear()
    del model
    return None if spikes is None else (len(spikes), spikes.digest())


@pytest.mark.parametrize("streams", ["helpers", "random_stream"])
def test_the_helpers_give_the_spikes_of_one_rank(streams):
    everywhere = noisy_digest(streams)
    alone = p.parallel.map(noisy_digest, [streams])  # a task runs on a subworld of 1 rank
    if p.parallel.rank == 0:
        assert everywhere[0] > 300
        assert everywhere == alone[0]
    else:
        assert everywhere is None and alone is None


def test_a_seed_that_differs_between_ranks_is_an_error_on_every_rank():
    before = settings.seed
    configure(seed=p.parallel.rank)
    try:
        with pytest.raises(ParallelError) as raised:
            p.parallel.run(1)
    finally:
        configure(seed=before)
        p.parallel.gid_clear()
    message = str(raised.value)
    assert message.startswith(f"[rank {p.parallel.rank}/{p.parallel.size}] random seed")
    assert "its random seed is seed=1 Random123_globalindex=0, rank 0's seed=0" in message
    assert message.endswith("or PARNRN_SEED in the environment of every rank")


def test_the_default_stream_under_strict_is_an_error_on_every_rank():
    p.parallel.gid_clear()
    model = noisy.build(48, "default")
    with pytest.raises(ParallelError) as raised:
        p.parallel.run(1, strict=True)
    p.parallel.gid_clear()
    del model
    size = p.parallel.size
    per_rank = ", ".join(f"rank {r}: {len(range(r, 48, size))}" for r in range(size))
    assert str(raised.value).startswith(
        f"[rank {p.parallel.rank}/{size}] 48 NetStim(s) with noise > 0 draw from NEURON's "
        f"default random stream, whose ids come from the rank and the order of creation"
    )
    assert f"({per_rank}). Fix: p.parallel.noise(netstim, gid)" in str(raised.value)


def test_the_default_stream_warns_on_rank_0_alone(capsys, monkeypatch):
    monkeypatch.setattr(log, "_warned", set())
    noisy_digest("default")
    warned = "default random stream" in capsys.readouterr().err
    assert p.parallel.allgather(warned) == [True] + [False] * (p.parallel.size - 1)
