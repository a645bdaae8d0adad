"""Helpers shared by the tests, importable as ``support`` (``pythonpath = ["tests"]`` in
pyproject.toml): ``support.launch`` runs Python or mpiexec in a bounded subprocess,
``support.ring`` builds the ring with and without parnrn."""
