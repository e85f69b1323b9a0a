"""The host package's shape, kept: no module over 400 lines and no import cycle among module-level
imports (an import inside a function is how an optional part is loaded only when used)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

HOST = ROOT / "host"
MAX_LINES = 400


def modules() -> dict[str, Path]:
    found = {}
    for path in HOST.rglob("*.py"):
        name = ".".join(path.relative_to(HOST).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    out: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out |= {node.module} & known.keys()
            out |= {f"{node.module}.{alias.name}" for alias in node.names} & known.keys()
        elif isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names} & known.keys()
    return out


def test_no_host_module_is_over_400_lines() -> None:
    long = {
        name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_no_import_cycle() -> None:
    known = modules()
    # A package's `from package import submodule` names itself: that is no cycle.
    graph = {name: imports(path, known) - {name} for name, path in known.items()}
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            raise AssertionError("import cycle: " + " -> ".join([*trail[trail.index(name) :], name]))
        if name in done:
            return
        for other in sorted(graph[name]):
            visit(other, [*trail, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
