"""Helpers shared by the tests, importable as ``support`` (``pythonpath = ["tests"]`` in
pyproject.toml): ``support.launch`` runs Python or mpiexec in a bounded subprocess,
``support.ring`` builds the ring with and without parnrn, ``support.counting`` counts the MPI
calls and bytes through a communicator (also used by scripts/bench/scale.py)."""
