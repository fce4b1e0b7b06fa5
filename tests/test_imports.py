"""Every rulelens module imports on its own, and no two modules import each other.

An import circle works only while the modules happen to be imported in one order (or while one
side imports lazily, inside a function), so it is refused here even when it is lazy.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap

import pytest

from tests.project_copy import PROJECT

SOURCE = PROJECT / "src"
# Import circles tolerated for now (none: keep it empty; lazy function-level imports count too).
KNOWN_CIRCLES: list[set[str]] = []


def modules() -> dict[str, object]:
    """Dotted name -> file of every rulelens module (a package by its ``__init__.py``)."""
    found = {}
    for path in sorted((SOURCE / "rulelens").rglob("*.py")):
        parts = list(path.relative_to(SOURCE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the rulelens modules it imports anywhere in its file (functions included)."""
    names = modules()

    def owner(name: str) -> str | None:
        while name and name not in names:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in names.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                edges |= {owner(alias.name) for alias in node.names if alias.name.startswith("rulelens")}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                if base.startswith("rulelens"):
                    edges |= {f"{base}.{a.name}" if f"{base}.{a.name}" in names else owner(base) for a in node.names}
        graph[name] = edges - {name, None}
    return graph


def circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(group)

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_a_lazy_circle():
    graph = {"a": {"b"}, "b": {"a"}, "c": {"a"}}
    assert circles(graph) == [{"a", "b"}]


def test_no_module_imports_another_that_imports_it_back():
    found = [group for group in circles(import_graph()) if not any(group <= known for known in KNOWN_CIRCLES)]
    assert not found, f"import circles: {[sorted(group) for group in found]}"


@pytest.mark.slow
def test_every_module_imports_in_a_fresh_interpreter():
    """Each module imported first, with no other rulelens module loaded before it."""
    script = textwrap.dedent(f"""
        import importlib, sys, traceback
        failed = []
        for name in {sorted(modules())!r}:
            for loaded in [m for m in sys.modules if m == "rulelens" or m.startswith("rulelens.")]:
                del sys.modules[loaded]
            try:
                importlib.import_module(name)
            except Exception:
                failed.append(name + ": " + traceback.format_exc(limit=1).strip().splitlines()[-1])
        print("\\n".join(failed))
        sys.exit(1 if failed else 0)
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
