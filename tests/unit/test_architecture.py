"""The layers of docs/architecture.md, read from the code: every import goes down (or across, without a cycle)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
# Highest first, as in docs/architecture.md's table; a module's layer is found by its first name under cab_check.
LAYERS = [
    ("front ends", {"cli", "completion", "__main__", "gui"}),
    ("engine", {"run", "record", "launch", "handshake", "doctor", "isolation", "task_check"}),
    ("sandbox and proxy", {"sandbox", "proxy", "reference_model"}),
    ("store and presentation", {"store", "workspace", "recording", "report", "asgi_server"}),
    ("pure", {"scoring", "token_parsers", "wire", "catalog", "archive", "reference_tools"}),
    ("record types", {"models", "axes", "errors", "keys", "settings", "tracing", "__init__"}),
]
RANK = {name: rank for rank, (_, names) in enumerate(LAYERS) for name in names}
# The one home of each outside library that must not spread.
HOMES = {"PySide6": "gui", "shiboken6": "gui", "docker": "sandbox"}


def modules() -> dict[str, Path]:
    """Every module of the installed package by its dotted name (gui/ is cab_check.gui)."""
    found = {}
    for package, root in (("cab_check", REPO / "cab_check"), ("cab_check.gui", REPO / "gui")):
        for path in root.rglob("*.py"):
            parts = [p for p in path.relative_to(root).with_suffix("").parts if p != "__init__"]
            found[".".join([package, *parts])] = path
    return found


MODULES = modules()


def part(module: str) -> str:
    """The first name under cab_check: the unit a layer is made of."""
    names = module.split(".")
    return names[1] if len(names) > 1 else "__init__"


def imports(path: Path) -> Iterator[str]:
    """Every absolute module name `path` imports, at any depth (function-level imports count too)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def cab_imports(path: Path) -> set[str]:
    return {name for name in imports(path) if name in MODULES}


def test_every_part_of_the_package_has_a_layer():
    assert {part(m) for m in MODULES} <= set(RANK), "add the new module to LAYERS and to docs/architecture.md"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down_the_layers(module):
    rank = RANK[part(module)]
    upward = sorted(m for m in cab_imports(MODULES[module]) if RANK[part(m)] < rank)
    assert upward == [], f"{module} ({LAYERS[rank][0]}) imports a higher layer: {upward}"


def test_no_cycle_between_the_parts_of_the_package():
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        graph.setdefault(part(module), set()).update(part(m) for m in cab_imports(path) if part(m) != part(module))
    try:
        list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


@pytest.mark.parametrize("library", sorted(HOMES))
def test_qt_and_the_docker_sdk_stay_in_their_homes(library):
    strays = sorted(
        module
        for module, path in MODULES.items()
        if part(module) != HOMES[library] and any(name.split(".")[0] == library for name in imports(path))
    )
    assert strays == [], f"{library} is imported outside cab_check.{HOMES[library]}: {strays}"


def test_the_doc_names_every_layer():
    doc = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    for _, names in LAYERS:
        for name in names - {"__init__", "__main__"}:
            assert f"`{name}`" in doc, f"docs/architecture.md does not place `{name}`"
