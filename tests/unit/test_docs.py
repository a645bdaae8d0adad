"""The lines highlighted in the migration guides are exactly the lines that differ between
the before and after scripts. The docs build itself is tests/launch/test_docs_build.py."""

import difflib
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCS = os.path.join(ROOT, "docs")
EXAMPLES = os.path.join(DOCS, "examples")

# Each listed script and the script its highlighted lines are relative to.
COUNTERPART = {
    "ring_neuron.py": "ring_parnrn.py",
    "ring_parnrn.py": "ring_neuron.py",
    "ring_patch.py": "ring_patch_parnrn.py",
    "ring_patch_parnrn.py": "ring_patch.py",
    "ring_patch_objects.py": "ring_patch.py",
}
LISTING = re.compile(r'```python hl_lines="([\d ]+)"\n--8<-- "([\w.]+)"\n```')


def changed_lines(script: str, counterpart: str) -> set[int]:
    """Numbers of the non-blank lines of ``script``, after its docstring, that are not
    in ``counterpart`` (NEURON's ``h.`` and parnrn's ``p.`` count as the same)."""

    def body(name: str) -> tuple[list[str], int]:
        with open(os.path.join(EXAMPLES, name)) as file:
            lines = file.read().splitlines()
        start = next(i for i, line in enumerate(lines) if i and line.endswith('"""')) + 1
        return [re.sub(r"\bh\.", "p.", line.strip()) for line in lines[start:]], start

    mine, start = body(script)
    theirs, _ = body(counterpart)
    matcher = difflib.SequenceMatcher(None, mine, theirs, autojunk=False)
    same = {
        i for block in matcher.get_matching_blocks() for i in range(block.a, block.a + block.size)
    }
    return {i + start + 1 for i, line in enumerate(mine) if line and i not in same}


@pytest.mark.parametrize("page", ["migrating-from-neuron.md", "migrating-from-patch.md"])
def test_highlighted_lines_are_the_changed_lines(page):
    with open(os.path.join(DOCS, page)) as file:
        listings = LISTING.findall(file.read())
    assert len(listings) >= 2, f"{page} should show a before and an after script"
    for numbers, script in listings:
        marked = {int(n) for n in numbers.split()}
        assert marked == changed_lines(script, COUNTERPART[script]), script


def test_every_exception_is_importable_from_parnrn_and_in_the_errors_table():
    import parnrn
    from parnrn import errors

    with open(os.path.join(DOCS, "errors.md")) as file:
        table = file.read()
    exceptions = [
        name
        for name, value in vars(errors).items()
        if isinstance(value, type)
        and issubclass(value, BaseException)
        and value.__module__ == errors.__name__
    ]
    assert "RankLostError" in exceptions and "TaskError" in exceptions
    for name in exceptions:
        assert getattr(parnrn, name, None) is getattr(errors, name), name
        assert name in parnrn.__all__ and name in errors.__all__, name
        assert f"| `{name}` |" in table, f"{name} is not in the table of docs/errors.md"
