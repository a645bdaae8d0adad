"""p.parallel.run on several ranks: bad arguments raise the same ValueError on every rank,
before NEURON sees them. Run under mpiexec -n 2 and -n 3."""

from __future__ import annotations

import pytest

from parnrn import p
from parnrn.examples import ring

pytestmark = pytest.mark.mpi(min_size=2)


@pytest.fixture
def cells(pc):
    built = ring.build(9, 2)
    yield built
    del built


def test_bad_tstop_raises_on_every_rank_and_the_run_goes_on(pc, cells):
    tag = rf"^\[rank {pc.rank}/{pc.size}\] run: "
    with pytest.raises(ValueError, match=tag + r"tstop must be .* not '100' \(a str\)"):
        pc.run("100")
    with pytest.raises(ValueError, match=tag + r"tstop must be .* not nan; now t = 0 ms"):
        pc.run(float("nan"))
    pc.run(30)
    with pytest.raises(ValueError, match=tag + r"tstop = 20 ms is before the current time, t = 30"):
        pc.run(20)
    pc.run(40)
    pc.run(40)  # t is 40 up to rounding: nothing to do, on every rank
    assert p.t == pytest.approx(40)
