"""No import loop among the app's modules: the module graph of app.py and chalicelib/ has no cycle.

Every import counts, at module level and inside functions: an import inside a function is there to
keep a module out of a cold start, never to dodge a loop. Imports under ``if TYPE_CHECKING:`` do not run
and are left out.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

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
    graph = import_graph()
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
