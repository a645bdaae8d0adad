"""Every Python example in docs/ runs as printed: each ```python block is a script of its
own, run in a fresh folder under a timeout, with one process and on every rank count its
page names in an ``mpiexec -n N`` command (up to 4: larger counts are a cluster's). A
block included from docs/examples (``--8<-- "name.py"``) runs as that file.

A block opts out with a comment, giving the reason, on the line just before its fence
(the built page does not show it)::

    <!-- docs-test: skip: a fragment: build_cell is the reader's -->

A block that imports a package not installed here (bluepyopt, deap, netpyne, ...) is
skipped, naming it.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import sys
from dataclasses import dataclass

import pytest
from support.launch import run_bounded, run_mpi

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCS = os.path.join(ROOT, "docs")
EXAMPLES = os.path.join(DOCS, "examples")
TIMEOUT = 300
MAX_RANKS = 4
# Pages whose blocks cannot carry markers yet, and why.
PAGES_SKIPPED: dict[str, str] = {}
FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.S | re.M)
MARKER = re.compile(r"<!-- docs-test: skip: (.+?) -->\s*$")
SNIPPET = re.compile(r'--8<-- "([\w.]+)"\s*$')
RANKS = re.compile(r"mpiexec -n (\d+)")


@dataclass
class Block:
    page: str
    line: int
    code: str
    script: str  # the file name it runs as
    skip: str | None  # why it does not run, or None


def blocks(page: str) -> list[Block]:
    """The Python blocks of ``page``, in order."""
    with open(os.path.join(DOCS, page)) as file:
        text = file.read()
    found = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARKER.search(before)
        code, script = match.group(1), f"{page[:-3]}_{line}.py"
        snippet = SNIPPET.match(code.strip())
        if snippet:
            script = snippet.group(1)
            with open(os.path.join(EXAMPLES, script)) as file:
                code = file.read()
        skip = marker.group(1) if marker else PAGES_SKIPPED.get(page) or missing_imports(code)
        found.append(Block(page, line, code, script, skip))
    return found


def missing_imports(code: str) -> str | None:
    """Which packages ``code`` imports that are not installed here, as a skip reason."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None  # it fails when run, and says so
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names}  # fmt: skip
    names |= {node.module for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom) and node.module and not node.level}  # fmt: skip
    missing = sorted(n for n in names if importlib.util.find_spec(n.split(".")[0]) is None)
    return f"needs {', '.join(missing)}, not installed" if missing else None


def rank_counts(page: str) -> list[int]:
    """1, and every rank count up to MAX_RANKS that ``page`` runs ``mpiexec -n`` with."""
    with open(os.path.join(DOCS, page)) as file:
        named = {int(n) for n in RANKS.findall(file.read())}
    return sorted({1} | {n for n in named if n <= MAX_RANKS})


def cases():
    for page in sorted(name for name in os.listdir(DOCS) if name.endswith(".md")):
        for block in blocks(page):
            for n in rank_counts(page):
                yield pytest.param(block, n, id=f"{page}:{block.line}-n{n}")


@pytest.mark.parametrize("block, n", list(cases()))
def test_docs_example_runs(block, n, tmp_path):
    if block.skip:
        pytest.skip(block.skip)
    script = tmp_path / block.script
    script.write_text(block.code)
    if n == 1:
        done = run_bounded([sys.executable, str(script)], TIMEOUT, cwd=str(tmp_path))
    else:
        done = run_mpi(n, [str(script)], TIMEOUT, cwd=str(tmp_path))
    assert done.returncode == 0, f"{block.page}:{block.line} on {n} rank(s):\n{done.output}"


def test_markers_are_written_as_the_test_reads_them():
    """A marker the test does not recognise would let a block run that means to opt out,
    or skip one silently: every docs-test comment must be a skip with a reason, right
    before a fence."""
    for page in os.listdir(DOCS):
        if not page.endswith(".md"):
            continue
        with open(os.path.join(DOCS, page)) as file:
            lines = file.read().splitlines()
        for number, line in enumerate(lines[:-1], 1):
            if "docs-test" in line:
                assert MARKER.search(line), f"{page}:{number}: {line}"
                assert lines[number].startswith("```python"), f"{page}:{number}: no block after"
