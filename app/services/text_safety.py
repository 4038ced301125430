"""Escaping of user-provided text (episode names, labels, paths, messages) for the reports
people read: Markdown, plain text and CSV. HTML reports use :func:`html.escape`.

* :func:`one_line` — control characters, CR/LF and Unicode line/paragraph separators and
  bidi overrides become spaces, so a value can never start a line of its own.
* :func:`md_text` — one line, then every Markdown special is escaped (``&``, ``<``, ``>`` as
  entities, the others with a backslash): no raw HTML, heading, list, link, image, emphasis,
  attribute list or table-breaking ``|`` survives, and the text still reads the same once
  rendered.
* :func:`csv_cell` — a spreadsheet would run a cell starting with ``= + - @`` TAB or CR as a
  formula: such a cell gets a leading ``'``.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["csv_cell", "md_text", "one_line"]

#: C0/C1 controls, DEL, Unicode line and paragraph separators, bidi embeddings and overrides
_BREAKS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_MD_SPECIAL = re.compile(r"([\\`*_\[\](){}#+\-!|~])")
_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_LINE_START = re.compile(r"^(\s*\d+(?=\.(?:\s|$))|\s*(?==))")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def one_line(value: Any) -> str:
    """``value`` as text on one line: every control character or line break is a space."""
    return _BREAKS.sub(" ", "" if value is None else str(value))


def md_text(value: Any) -> str:
    """``value`` as literal Markdown text on one line, safe in a paragraph, heading or table
    cell."""
    text = _MD_SPECIAL.sub(r"\\\1", one_line(value))
    text = "".join(_MD_ENTITIES.get(c, c) for c in text)
    text = _LINE_START.sub(r"\1\\", text)  # "1. x" would start a list, "===" a heading
    # bare URLs some renderers turn into links
    return re.sub(r"://", r"\\://", re.sub(r"(?i)\b(www)\.", r"\1\\.", text))


def csv_cell(value: str) -> str:
    """``value`` for a spreadsheet cell: a leading ``'`` when it would start a formula."""
    return "'" + value if value.startswith(_FORMULA_START) else value
