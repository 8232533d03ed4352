"""No import loop among the app's modules: the module graph of app.py and chalicelib/ has no cycle.

Every import counts, at module level and inside functions: an import inside a function is there to
keep a module out of a cold start, never to dodge a loop. Imports under ``if TYPE_CHECKING:`` do not run
and are left out. What the service registry loads by name (blueprints, OpenAPI parts, refresh sources)
counts as imported by the module that asks for it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the app: ``app`` and the modules of ``chalicelib``, by dotted name."""
    found = {"app": root / "app.py"}
    for path in sorted((root / "chalicelib").rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that can run, at any depth (function bodies included)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            yield from (n for child in node.orelse for n in _import_nodes(ast.Module(body=[child], type_ignores=[])))
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _import_nodes(node)


def _imported(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The app's modules that ``module`` imports (``from package import module`` names the module), with
    the packages Python runs on the way."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
            continue
        source = node.module or ""
        if node.level:
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            source = ".".join(base + ([source] if source else []))
        for alias in node.names:
            if f"{source}.{alias.name}" in known:
                found.add(f"{source}.{alias.name}")
            elif source in known:
                found.add(source)
    # Importing a.b.c runs the packages a and a.b first; the importer's own packages are already running.
    own = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
    for target in list(found):
        parts = target.split(".")
        found.update(p for i in range(1, len(parts)) if (p := ".".join(parts[:i])) in known and p not in own)
    found.discard(module)
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the app's modules it imports."""
    known = _modules(root)
    return {module: _imported(module, path, known) for module, path in known.items()}


def _declared_modules(service: Any, field: str) -> list[str]:
    value = getattr(service, field)
    names = [value] if isinstance(value, str) else list(value or ())
    return [service.module(name.partition(":")[0]) for name in names]


#: The service registry's calls that import what the declarations name, by the declaration's field.
REGISTRY_LOADS = {"load_blueprint": "blueprint", "openapi_part": "openapi", "refresh_sources": "refresh_sources"}


def with_registry_loads(graph: dict[str, set[str]], root: Path = ROOT) -> dict[str, set[str]]:
    """``graph`` plus the imports made through ``chalicelib.services``: a module calling ``openapi_part``
    imports every declared OpenAPI part, and so on (``importlib`` with names that an ``ast`` walk cannot see)."""
    from chalicelib import services

    loaded = {
        call: {m for service in services.declared() for m in _declared_modules(service, field)}
        for call, field in REGISTRY_LOADS.items()
    }
    result = {module: set(targets) for module, targets in graph.items()}
    for module, path in _modules(root).items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                result[module] |= loaded.get(called, set()) - {module}
    return result


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


def _path(graph: dict[str, set[str]], group: list[str]) -> list[str]:
    """One loop through ``group``, to say where it is: a -> b -> ... -> a."""
    members = set(group)
    start = group[0]
    trail, seen = [start], {start}
    while True:
        nexts = sorted(graph[trail[-1]] & members)
        back = [n for n in nexts if n == start]
        if back and len(trail) > 1:
            return [*trail, start]
        fresh = [n for n in nexts if n not in seen]
        if not fresh:
            return [*trail, *(nexts[:1])]
        trail.append(fresh[0])
        seen.add(fresh[0])


def test_no_module_of_the_app_imports_itself_through_others() -> None:
    graph = with_registry_loads(import_graph())
    loops = [" -> ".join(_path(graph, group)) for group in cycles(graph)]
    assert loops == [], "import loops:\n" + "\n".join(loops)


def test_the_walk_sees_imports_inside_functions_and_finds_a_loop(tmp_path: Path) -> None:
    (tmp_path / "chalicelib" / "shop").mkdir(parents=True)
    (tmp_path / "app.py").write_text("from chalicelib.shop import orders\n")
    (tmp_path / "chalicelib" / "__init__.py").write_text("")
    (tmp_path / "chalicelib" / "shop" / "__init__.py").write_text("")
    (tmp_path / "chalicelib" / "shop" / "orders.py").write_text("def total():\n    from . import prices\n")
    (tmp_path / "chalicelib" / "shop" / "prices.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import app\n"
        "def rate():\n    from chalicelib.shop.orders import total\n"
    )
    graph = import_graph(tmp_path)
    assert graph["app"] == {"chalicelib", "chalicelib.shop", "chalicelib.shop.orders"}  # packages run first
    assert graph["chalicelib.shop.prices"] == {"chalicelib.shop.orders"}  # not app: TYPE_CHECKING only
    assert cycles(graph) == [["chalicelib.shop.orders", "chalicelib.shop.prices"]]


def test_what_the_registry_loads_counts_as_imported_by_the_caller() -> None:
    graph = with_registry_loads(import_graph())
    assert "chalicelib.publishing.routes" in graph["app"]  # app.py registers every declared blueprint
    assert "chalicelib.broker.openapi" in graph["chalicelib.openapi"]  # the assembler reads every part
    assert "chalicelib.broker.refresh_store" in graph["chalicelib.jobs.refresh_sweep"]
