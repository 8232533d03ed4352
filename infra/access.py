"""What each Lambda function may touch, read from its code: the source of its role's policy.

A function's code is its handler (in ``app.py``, or in the blueprint module of the service that
declares it, such as ``chalicelib.publishing.routes.build_worker``) and every ``chalicelib`` module that
the handler can import: imports anywhere in a module (those inside functions too) and string constants naming a
``chalicelib`` module (how ``importlib``-based registries load theirs), and, for code that names
``services.refresh_sources``, the refresh sources the services declare (``chalicelib/*/declaration.py``).
From those modules:

- **tables**: the PynamoDB model classes they name (``from chalicelib.x.models import A``, ``models.A``);
- **key**: a ``client("kms")`` call (``chalicelib.crypto``'s envelope encryption);
- **bucket**: a ``client("s3")`` call (publishing outputs);
- **workers**: ``invoke_async`` named, with every string constant that is the name of an
  ``@app.lambda_function``;
- **websocket**: ``management_client`` named (API Gateway's management API);
- **secrets**: the functions of ``chalicelib.secret_keys`` they name (the operator keys, the hash key).

The API handler serves every route, so it gets what every module needs. For the others this is an
upper bound at module granularity (a module that names a model is taken to use it), never a guess:
nothing is listed by hand, and a new import widens exactly the function that makes it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent

# chalicelib.secret_keys functions -> the secret they read (infra/template/keys.py creates one per kind).
SECRET_READERS = {"operator_keys": "operator", "publishable_key": "operator", "hash_key": "hash"}


@dataclass(frozen=True)
class Access:
    """What one function's code can reach."""

    models: frozenset[tuple[str, str]]  # (module, class name) of the PynamoDB models it names
    key: bool
    bucket: bool
    workers: frozenset[str]  # names of @app.lambda_function functions it may invoke
    websocket: bool
    secrets: frozenset[str]  # "operator", "hash"
    modules: frozenset[str]  # the chalicelib modules its handler reaches (for diagnostics and tests)


@dataclass(frozen=True)
class _Module:
    imports: frozenset[str]
    names: frozenset[tuple[str, str]]  # (module, name) imported from, or read as an attribute of, a module
    clients: frozenset[str]
    literals: frozenset[str]


def module_path(module: str, project_dir: Path = PROJECT_DIR) -> Path | None:
    """The source file of a project module, or None when it is not one."""
    base = project_dir.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


class _Collector(ast.NodeVisitor):
    """Imports, names read from project modules, client("...") calls and string constants of one module."""

    def __init__(self, package: str, project_dir: Path) -> None:
        self.package, self.project_dir = package, project_dir
        self.imports: set[str] = set()
        self.names: set[tuple[str, str]] = set()
        self.aliases: dict[str, str] = {}  # local name -> project module
        self.clients: set[str] = set()
        self.literals: set[str] = set()

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if module_path(alias.name, self.project_dir):
                self.imports.add(alias.name)
                if alias.asname:
                    self.aliases[alias.asname] = alias.name

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        source = node.module or ""
        if node.level:
            parts = self.package.split(".")
            source = ".".join(parts[: len(parts) - node.level + 1] + ([source] if source else []))
        if not module_path(source, self.project_dir):
            return
        self.imports.add(source)
        for alias in node.names:
            submodule = f"{source}.{alias.name}"
            if module_path(submodule, self.project_dir):
                self.imports.add(submodule)
                self.aliases[alias.asname or alias.name] = submodule
            else:
                self.names.add((source, alias.name))

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            self.literals.add(node.value)
            if node.value.startswith("chalicelib.") and module_path(node.value, self.project_dir):
                self.imports.add(node.value)

    def visit_Call(self, node: ast.Call) -> None:
        function = node.func
        called = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
        first = node.args[0] if node.args else None
        if called == "client" and isinstance(first, ast.Constant) and isinstance(first.value, str):
            self.clients.add(first.value)
        self.generic_visit(node)

    def attributes(self, tree: ast.AST) -> None:
        """``module.name`` reads on the project modules this module imported."""
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in self.aliases:
                self.names.add((self.aliases[node.value.id], node.attr))


@cache
def _analyse(module: str, project_dir: Path = PROJECT_DIR) -> _Module:
    path = module_path(module, project_dir)
    if path is None:
        return _Module(frozenset(), frozenset(), frozenset(), frozenset())
    tree = ast.parse(path.read_text(), str(path))
    collector = _Collector(module if path.name == "__init__.py" else module.rpartition(".")[0], project_dir)
    collector.visit(tree)
    collector.attributes(tree)
    return _Module(
        frozenset(collector.imports),
        frozenset(collector.names),
        frozenset(collector.clients),
        frozenset(collector.literals),
    )


def reachable(roots: list[str], project_dir: Path = PROJECT_DIR) -> set[str]:
    """Every project module that ``roots`` can import, directly or not."""
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        module = pending.pop()
        if module in seen or not module_path(module, project_dir):
            continue
        seen.add(module)
        pending.extend(_analyse(module, project_dir).imports)
    return seen


def all_modules(project_dir: Path = PROJECT_DIR) -> list[str]:
    """Every module of ``chalicelib``."""
    found = []
    for path in sorted((project_dir / "chalicelib").rglob("*.py")):
        parts = path.relative_to(project_dir).with_suffix("").parts
        found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def handler_roots(handler: str, project_dir: Path = PROJECT_DIR) -> list[str]:
    """The modules a handler function imports (``module.name``); every module for the API handler (``app.app``)."""
    module, _, name = handler.rpartition(".")
    path = module_path(module, project_dir)
    if path is None:
        raise LookupError(f"handler {handler}: no module {module}")
    tree = ast.parse(path.read_text(), str(path))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            imports = [n for n in ast.walk(node) if isinstance(n, ast.ImportFrom) and n.module]
            roots = {f"{n.module}.{a.name}" for n in imports for a in n.names} | {str(n.module) for n in imports}
            return sorted(r for r in roots if module_path(r, project_dir))
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return [module, *all_modules(project_dir)]  # the Chalice app itself: every route
    raise LookupError(f"handler {handler}: {module}.py defines no {name}")


_REFRESH_SOURCES = ("chalicelib.services", "refresh_sources")


def declared_refresh_sources(project_dir: Path = PROJECT_DIR) -> list[str]:
    """The modules named by ``refresh_sources=`` in the services' declarations (chalicelib.services loads them)."""
    found = []
    for path in sorted((project_dir / "chalicelib").glob("*/declaration.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.keyword) and node.arg == "refresh_sources":
                names = [c.value for c in ast.walk(node.value) if isinstance(c, ast.Constant)]
                found += [f"chalicelib.{path.parent.name}.{name}" for name in names if isinstance(name, str)]
    return found


def access(handler: str, workers: set[str], project_dir: Path = PROJECT_DIR) -> Access:
    """What the code behind ``handler`` can reach; ``workers`` are the app's ``@app.lambda_function`` names."""
    modules = reachable(handler_roots(handler, project_dir), project_dir)
    if any(_REFRESH_SOURCES in _analyse(m, project_dir).names for m in modules):
        modules |= reachable(declared_refresh_sources(project_dir), project_dir)
    analysed = [_analyse(m, project_dir) for m in modules]
    names = {n for a in analysed for n in a.names}
    clients = {c for a in analysed for c in a.clients}
    literals = {s for a in analysed for s in a.literals}
    invoked = frozenset(literals & workers) if ("chalicelib.jobs.invoke", "invoke_async") in names else frozenset()
    return Access(
        models=frozenset((m, n) for m, n in names if m.endswith(".models")),
        key="kms" in clients,
        bucket="s3" in clients,
        workers=invoked,
        websocket=("chalicelib.aws", "management_client") in names,
        secrets=frozenset(SECRET_READERS[n] for m, n in names if m == "chalicelib.secret_keys" and n in SECRET_READERS),
        modules=frozenset(modules),
    )
