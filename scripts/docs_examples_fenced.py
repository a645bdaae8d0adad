"""A Griffe extension for the API reference (mkdocs.yml): parnrn's docstrings end their
text with ``Example::`` and an indented block, as reStructuredText does. Markdown shows the
``::`` as written and the block as plain text; this turns each such block into a fenced
Python block, highlighted, and the ``::`` into ``:``."""

from __future__ import annotations

import re
import textwrap
from typing import Any

import griffe

# "text::", a blank line, then the indented lines (and blank lines among them).
_LITERAL_BLOCK = re.compile(r"::\n\n((?:[ \t]+\S.*(?:\n|$)|\n)+)")


def fenced(text: str) -> str:
    """``text`` with its ``::`` literal blocks as fenced Python blocks."""

    def fence(match: re.Match) -> str:
        code = textwrap.dedent(match.group(1)).strip("\n")
        return f":\n\n```python\n{code}\n```\n\n"

    return _LITERAL_BLOCK.sub(fence, text)


class LiteralBlocksFenced(griffe.Extension):
    """Rewrites every docstring as it is loaded (see the module docstring)."""

    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = fenced(obj.docstring.value)
