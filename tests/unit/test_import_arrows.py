"""The arrows between layers: models/ never imports dashboard/, ingest/, alerts/ or planner/, and no
module of models/ or dashboard/ imports itself back through another (an ast scan, lazy imports included)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UPPER = ("dashboard", "ingest", "alerts", "planner")
# Known exceptions, each to be fixed rather than added to (none now).
KNOWN_UPWARD: set[str] = set()
KNOWN_CYCLES: set[tuple[str, str]] = set()


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def _graph(packages: tuple[str, ...]) -> dict[str, set[str]]:
    files = [p for pkg in packages for p in (ROOT / pkg).rglob("*.py")]
    modules = {_module(p): p for p in files}
    return {m: {i for i in _imports(p) if i in modules and i != m} for m, p in modules.items()}


def test_models_import_nothing_above_them() -> None:
    wrong = sorted(f"{_module(p)} imports {i}" for p in (ROOT / "models").rglob("*.py")
                   for i in _imports(p) if i.split(".")[0] in UPPER)
    assert [w for w in wrong if w not in KNOWN_UPWARD] == []


def test_no_import_cycles_in_models_and_dashboard() -> None:
    graph = _graph(("models", "dashboard"))
    # A package's __init__ re-exporting its own modules is not an arrow back.
    graph = {m: {i for i in deps if not m.startswith(i + ".")} for m, deps in graph.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert [c for c in cycles if tuple(sorted(set(c))) not in KNOWN_CYCLES] == []
