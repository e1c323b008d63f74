"""The package's shape: no import cycles, and what reads a finished run never imports the search."""

from __future__ import annotations

import ast
from pathlib import Path

import tradeoff

SRC = Path(tradeoff.__file__).parent


def _module_name(path: Path) -> str:
    parts = ("tradeoff", *path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Every tradeoff module ``path`` imports, lazily or not (``if TYPE_CHECKING:`` aside)."""
    tree = ast.parse(path.read_text())
    skipped = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for node in ast.walk(block)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("tradeoff")}
        elif (
            isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tradeoff")
        ):
            for alias in node.names:  # `from tradeoff.searcher import trial` imports a module
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
    return found & modules


def _graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in SRC.rglob("*.py")}
    return {name: _imports(path, set(paths)) - {name} for name, path in paths.items()}


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    # A package importing its own submodules (re-exports) is not a cycle of parts.
    real = [c for c in cycles if not all(m.startswith(c[0] + ".") for m in c[1:-1])]
    assert real == []


def test_what_reads_a_finished_run_never_imports_the_search():
    graph = _graph()
    after = (
        "records",
        "selection",
        "frontier",
        "evaluate",
        "price",
        "report",
        "bundle",
        "exporter",
        "serve",
    )
    for module, imported in graph.items():
        if module.startswith(tuple(f"tradeoff.{part}" for part in after)):
            assert not {m for m in imported if m.startswith("tradeoff.searcher")}, module


def test_a_run_opened_for_reading_never_trains():
    # (It looks up a family's traits in the registry; nothing that fits a model.)
    training = ("tradeoff.retrain", "tradeoff.train", "tradeoff.evaluate", "tradeoff.searcher")
    assert not {m for m in _graph()["tradeoff.frontier"] if m.startswith(training)}


def test_the_api_functions_survive_importing_the_parts_that_define_them():
    """No class swap on the package: its parts are named apart from its functions."""
    import sys
    import types

    import tradeoff.exporter
    import tradeoff.searcher as searcher

    assert type(sys.modules["tradeoff"]) is types.ModuleType
    assert callable(tradeoff.search) and callable(tradeoff.export)
    assert tradeoff.search.__module__ == "tradeoff._api"
    assert tradeoff.export.__module__ == "tradeoff.exporter"
    assert searcher.run_search


def test_the_rules_sit_just_below_the_requirements():
    """Every part after the requirements shares tradeoff.rules, so it may import only them."""
    assert _graph()["tradeoff.rules"] <= {"tradeoff.requirements", "tradeoff.errors"}
