"""Reads ``tests/contract/documented_api.md`` (the original specification's README, verbatim):
its endpoint tables, its curl requests and its ``.env`` block."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CONTRACT", "Route", "Curl", "routes", "curls", "env_block", "bash_blocks"]

CONTRACT = Path(__file__).with_name("documented_api.md")

_TABLE_HEAD = re.compile(r"^### (?P<title>.+?) \(`(?P<prefix>/api/v1/[^`]*)`\)\s*$")
_ROW = re.compile(r"^\|\s*`(?P<path>[^`]+)`\s*\|\s*(?P<method>[A-Z]+)\s*\|\s*(?P<what>[^|]*)\|")
_BASH = re.compile(r"```bash\n(.*?)```", re.S)


@dataclass(frozen=True)
class Route:
    """One row of an endpoint table: ``path`` is the documented one (prefix + endpoint)."""

    section: str
    method: str
    path: str
    description: str

    @property
    def openapi_path(self) -> str:
        """The path as /openapi.json names it (``/api/v1/analysis/`` + ``/`` is the
        collection ``/api/v1/analysis``)."""
        return self.path.rstrip("/") if self.path.endswith("/") else self.path


@dataclass(frozen=True)
class Curl:
    """One documented curl request."""

    method: str
    url: str
    headers: dict[str, str]
    body: dict[str, Any] | None

    @property
    def path_and_query(self) -> str:
        return re.sub(r"^https?://[^/]+", "", self.url)


def _text(path: Path = CONTRACT) -> str:
    return path.read_text(encoding="utf-8")


def routes(text: str | None = None) -> list[Route]:
    """Every row of every endpoint table, in order."""
    out: list[Route] = []
    section: tuple[str, str] | None = None
    for line in (text if text is not None else _text()).splitlines():
        head = _TABLE_HEAD.match(line)
        if head:
            section = (head["title"], head["prefix"])
            continue
        row = _ROW.match(line)
        if row and section is not None:
            title, prefix = section
            endpoint = row["path"]
            path = prefix.rstrip("/") + (endpoint if endpoint != "/" else "/")
            out.append(Route(title, row["method"], path, row["what"].strip()))
    return out


def bash_blocks(text: str | None = None) -> list[str]:
    return _BASH.findall(text if text is not None else _text())


def curls(text: str | None = None) -> list[Curl]:
    """Every curl command of the bash blocks (a block's words split at each ``curl``)."""
    out: list[Curl] = []
    for block in bash_blocks(text):
        words = shlex.split(re.sub(r"\\\n", " ", block), comments=True)
        starts = [i for i, w in enumerate(words) if w == "curl"]
        for start, end in zip(starts, [*starts[1:], len(words)], strict=False):
            tokens = words[start:end]
            method, url, body, headers = "GET", "", None, {}
            i = 1
            while i < len(tokens):
                tok = tokens[i]
                if tok == "-X":
                    method, i = tokens[i + 1], i + 1
                elif tok == "-H":
                    name, _, value = tokens[i + 1].partition(":")
                    headers[name.strip()] = value.strip()
                    i += 1
                elif tok == "-d":
                    body, i = json.loads(tokens[i + 1]), i + 1
                    method = "POST" if method == "GET" else method
                elif tok.startswith("http"):
                    url = tok
                i += 1
            out.append(Curl(method, url, headers, body))
    return out


def env_block(text: str | None = None) -> str:
    """The ``.env`` block of "Environment Variables"."""
    body = text if text is not None else _text()
    start = body.index("### Environment Variables")
    return str(_BASH.search(body, start).group(1))  # type: ignore[union-attr]
