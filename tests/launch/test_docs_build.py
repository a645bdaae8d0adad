"""The documentation builds with warnings as errors (mkdocs in a subprocess)."""

import importlib.util
import os
import sys

import pytest
from support.launch import run_bounded

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_docs_build_without_warnings(tmp_path):
    for module in ("mkdocs", "mkdocstrings_handlers", "pymdownx"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed: pip install 'parnrn[docs]'")
    config = os.path.join(ROOT, "mkdocs.yml")
    argv = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", config, "-d", str(tmp_path)]
    result = run_bounded(argv, timeout=300)
    assert result.returncode == 0, result.output
    assert (tmp_path / "migrating-from-neuron" / "index.html").exists()
    api = (tmp_path / "api" / "index.html").read_text()
    # Docstrings' reStructuredText examples ("Example::" and an indented block) show as
    # highlighted Python, not as written; no attribute shows its bare value.
    assert "Example::" not in api and "staticmethod(" not in api
    assert '<span class="n">ParallelCon</span><span class="p">(</span>' in api
