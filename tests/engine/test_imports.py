"""The engine has no import circle: each module imports alone in a fresh interpreter, and the
graph of its imports (those inside functions too) has no cycle."""

from __future__ import annotations

import ast
import importlib.util
import pkgutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import app.engine

ROOT = Path(__file__).resolve().parents[2]
ENGINE = Path(app.engine.__file__).parent
MODULES = sorted(["app.engine", *(m.name for m in pkgutil.walk_packages(
    [str(ENGINE)], prefix="app.engine."))])


def _graph() -> dict[str, set[str]]:
    """module → the engine modules it imports, at the top or inside a function. A package's
    own ``__init__`` (which every import of a submodule runs first) is no edge, nor is the
    package of ``from package import submodule``."""
    graph: dict[str, set[str]] = {}
    for name in MODULES:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
        out: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                subs = [f"{node.module}.{a.name}" for a in node.names]
                found = [s for s in subs if s in MODULES]
                out.update(found)
                if len(found) < len(subs):
                    out.add(node.module)
            elif isinstance(node, ast.Import):
                out.update(a.name for a in node.names)
        graph[name] = {m for m in out if m in MODULES and m != name
                       and not name.startswith(f"{m}.")}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph``, or None."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(v: str) -> list[str] | None:
        state[v] = 1
        path.append(v)
        for w in sorted(graph[v]):
            if state.get(w) == 1:
                return [*path[path.index(w):], w]
            if w not in state and (found := visit(w)) is not None:
                return found
        state[v] = 2
        path.pop()
        return None

    for v in sorted(graph):
        if v not in state and (found := visit(v)) is not None:
            return found
    return None


def test_the_engine_import_graph_has_no_cycle() -> None:
    graph = _graph()
    assert "app.engine.ai.registry" in graph and "app.engine.types" in graph
    assert _cycle(graph) is None, " → ".join(_cycle(graph) or [])


def test_a_cycle_is_found() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


@pytest.mark.parametrize("chunk", range(4))
def test_each_module_imports_alone(chunk: int) -> None:
    """Every engine module imports first in a fresh interpreter (a circle at import time fails
    with a partly initialised module)."""
    mine = MODULES[chunk::4]

    def run(name: str) -> tuple[str, int, str]:
        p = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
        return name, p.returncode, p.stderr[-2000:]

    with ThreadPoolExecutor(4) as pool:
        failed = [r for r in pool.map(run, mine) if r[1] != 0]
    assert not failed, failed
