"""The program's imports: no circles, floors that only import downwards, no private names borrowed.

Every import statement of a module counts, wherever it stands: at the top, inside a function, or
under ``if TYPE_CHECKING:`` (a circle a type checker needs is still a circle a reader must follow).
The modules are those of the installed package ``langportal`` (the design's top-level folders,
reached through the links in ``langportal/``) and ``server.py``.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The floors, top to bottom: a module may import from its own floor and the floors below it.
FLOORS = ("langportal", "langportal.handlers", "langportal.portaldb")


def program_modules() -> dict[str, Path]:
    """Module name -> file, for every module of the program."""
    found = {"server": ROOT / "server.py"}
    for folder, _, files in os.walk(ROOT / "langportal", followlinks=True):
        for name in files:
            if name.endswith(".py"):
                path = Path(folder) / name
                parts = list(path.relative_to(ROOT).with_suffix("").parts)
                if parts[-1] == "__init__":
                    parts.pop()
                found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> dict[str, set[str]]:
    """The program's modules that ``name`` imports, each with the names it takes from them."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: dict[str, set[str]] = {}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    found.setdefault(alias.name, set())
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if submodule in modules:  # from package import module
                    found.setdefault(submodule, set())
                elif source in modules:
                    found.setdefault(source, set()).add(alias.name)
    found.pop(name, None)
    return found


def import_graph() -> dict[str, dict[str, set[str]]]:
    modules = program_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def circles(graph: dict[str, dict[str, set[str]]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm), each as one
    path around it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return groups


def floor_of(module: str) -> int:
    """0 for the program (server.py, langportal/*.py), 1 for handlers, 2 for portaldb."""
    return max(
        (i for i, floor in enumerate(FLOORS) if module == floor or module.startswith(floor + ".")), default=0
    )


def test_the_graph_sees_every_floor_and_the_imports_between_them() -> None:
    graph = import_graph()
    assert {"server", "langportal.program", "langportal.handlers.base", "langportal.portaldb.pool"} <= set(
        graph
    )
    assert "langportal.portaldb" in graph["langportal.handlers.base"]
    assert "langportal.handlers.base" in graph["langportal.handlers.routes"]


def test_no_import_circles() -> None:
    found = circles(import_graph())
    assert not found, "modules that import each other, directly or around a circle: " + "; ".join(
        " <-> ".join(group) for group in found
    )


def test_the_circle_finder_finds_a_circle() -> None:
    graph: dict[str, dict[str, set[str]]] = {"a": {"b": set()}, "b": {"c": set()}, "c": {"a": set()}, "d": {}}
    assert circles(graph) == [["a", "b", "c"]]


def test_imports_point_down_the_floors_only() -> None:
    upward = [
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        for target in targets
        if floor_of(target) < floor_of(module)
    ]
    assert not upward, "a lower floor imports a higher one: " + "; ".join(sorted(upward))


def private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_attributes_used(path: Path, modules: dict[str, Path]) -> list[str]:
    """``module._name`` in ``path``, where ``module`` is a name bound to one of the program's
    modules (``from . import portaldb``, ``import langportal.portaldb as db``...)."""
    tree = ast.parse(path.read_text(), str(path))
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if alias.name.rpartition(".")[2] in {m.rpartition(".")[2] for m in modules}:
                    bound.add(alias.asname or alias.name.partition(".")[0])
    return [
        f"{node.value.id}.{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in bound
        and private(node.attr)
    ]


def test_no_module_borrows_another_modules_private_names() -> None:
    modules = program_modules()
    borrowed = [
        f"{module} imports {name} from {target}"
        for module, targets in import_graph().items()
        for target, names in targets.items()
        for name in names
        if private(name)
    ] + [
        f"{module} uses {attribute}"
        for module, path in modules.items()
        for attribute in private_attributes_used(path, modules)
    ]
    assert not borrowed, "; ".join(sorted(borrowed))
