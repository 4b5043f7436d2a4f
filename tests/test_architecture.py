"""The apps import one way, bottom to top; casportal imports none of them; views list tenant rows through scoping.

Read from the source with `ast`, so a violation is named by file:line and the import as written.
"""

import ast
import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from pathlib import Path
from types import ModuleType

from django.apps import apps as django_apps

from organizations.models import Organization

ROOT = Path(__file__).resolve().parents[1]
# Bottom to top: an app may import the apps before it, never one after it.
LAYERS = (
    "casportal",
    "microsoft",
    "audit",
    "accounts",
    "organizations",
    "connection",
    "directory",
    "coverage",
    "grant",
    "support",
)
SIMULATOR = "m365sim"
SCHEMA_SHIM = "provisioning"
APPS = (*LAYERS, SIMULATOR, SCHEMA_SHIM)
# Modules above every app, which may import any of them.
TOP_MODULES = frozenset({"admin", "views", "urls", "forms"})
TOP_PACKAGES = frozenset({"templatetags", "management"})
ROOT_URLCONF = "casportal/urls.py"
SHIM_MAY_IMPORT = frozenset({"connection.models", "directory.models", "grant.models"})
SETTINGS = "casportal/settings.py"


@dataclass(frozen=True)
class Import:
    path: str
    line: int
    statement: str
    targets: tuple[str, ...]  # the modules imported, by dotted name
    nested: bool  # not a statement of the module's own body
    in_ready: bool
    optional_sentry: bool  # Sentry's SDK, imported only when SENTRY_DSN is set

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.statement}"


@dataclass(frozen=True)
class Module:
    name: str
    path: str
    app: str
    tree: ast.Module
    source: str

    @property
    def top_layer(self) -> bool:
        parts = self.name.split(".")[1:]
        return bool(parts) and (parts[0] in TOP_PACKAGES or any(part in TOP_MODULES for part in parts))


@cache
def modules() -> tuple[Module, ...]:
    found = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if "migrations" in relative.parts:
                continue
            parts = list(relative.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            source = path.read_text()
            found.append(Module(".".join(parts), str(relative), app, ast.parse(source, str(relative)), source))
    return tuple(found)


@cache
def module_names() -> frozenset[str]:
    return frozenset(module.name for module in modules())


def app_of(name: str) -> str | None:
    first = name.split(".", maxsplit=1)[0]
    return first if first in APPS else None


def _is_app_config_ready(function: ast.FunctionDef | ast.AsyncFunctionDef, owner: ast.ClassDef | None) -> bool:
    if function.name != "ready" or owner is None:
        return False
    return any(ast.unparse(base).split(".")[-1] == "AppConfig" for base in owner.bases)


class _ImportFinder(ast.NodeVisitor):
    def __init__(self, module: Module) -> None:
        self.module = module
        self.imports: list[Import] = []
        self._functions: list[bool] = []  # for each enclosing function: is it an AppConfig's ready()?
        self._classes: list[ast.ClassDef | None] = [None]

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._classes.append(node)
        self.generic_visit(node)
        self._classes.pop()

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self._functions.append(_is_app_config_ready(node, self._classes[-1]))
        self._classes.append(None)  # a class's methods, not a function's nested ones, are its own
        self.generic_visit(node)
        self._classes.pop()
        self._functions.pop()

    visit_FunctionDef = _visit_function
    visit_AsyncFunctionDef = _visit_function

    def visit_Import(self, node: ast.Import) -> None:
        self._record(node, tuple(alias.name for alias in node.names))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            package = self.module.name.split(".")
            if not self.module.path.endswith("__init__.py"):
                package = package[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join([*package, *([node.module] if node.module else [])])
        names = module_names()
        targets = (f"{base}.{alias.name}" if f"{base}.{alias.name}" in names else base for alias in node.names)
        self._record(node, tuple(dict.fromkeys(targets)))

    def _record(self, node: ast.Import | ast.ImportFrom, targets: tuple[str, ...]) -> None:
        self.imports.append(
            Import(
                path=self.module.path,
                line=node.lineno,
                statement=ast.get_source_segment(self.module.source, node) or ast.unparse(node),
                targets=targets,
                nested=node not in self.module.tree.body,
                in_ready=bool(self._functions) and self._functions[-1],
                optional_sentry=self.module.path == SETTINGS and all(t.startswith("sentry_sdk") for t in targets),
            )
        )


@cache
def imports_of(module: Module) -> tuple[Import, ...]:
    finder = _ImportFinder(module)
    finder.visit(module.tree)
    return tuple(finder.imports)


def app_imports() -> Iterator[tuple[Module, Import, str, str]]:
    """(module, import, imported module, imported app) for each import of another app."""
    for module in modules():
        for imported in imports_of(module):
            for target in imported.targets:
                app = app_of(target)
                if app is not None and app != module.app:
                    yield module, imported, target, app


def layering_violation(module: Module, target: str, app: str) -> str | None:
    if module.app == SIMULATOR:
        return None if app == "casportal" else "the simulator imports casportal only"
    if module.top_layer:
        return None
    if module.app == SCHEMA_SHIM:
        return None if target in SHIM_MAY_IMPORT else "the schema shim imports only the models it names"
    if app not in LAYERS:
        return f"{app} is no layer: only the top modules (admin, views, urls, forms, ...) may import it"
    if LAYERS.index(app) > LAYERS.index(module.app):
        return f"{module.app} is below {app}"
    return None


def test_the_apps_import_no_circle():
    """Between the apps' modules below the top layer, which sits above every app."""
    edges: dict[str, dict[str, Import]] = {}
    for module, imported, _, app in app_imports():
        if not module.top_layer:
            edges.setdefault(module.app, {}).setdefault(app, imported)

    def reaches(start: str, goal: str, seen: set[str]) -> list[str] | None:
        for app in edges.get(start, {}):
            if app == goal:
                return [start, goal]
            if app not in seen:
                seen.add(app)
                path = reaches(app, goal, seen)
                if path:
                    return [start, *path]
        return None

    circles = {}
    for app in APPS:
        path = reaches(app, app, set())
        if path and frozenset(path) not in circles:
            circles[frozenset(path)] = "\n".join([" -> ".join(path), *(f"  {edges[a][b]}" for a, b in pairwise(path))])
    assert not circles, "Import circles among the apps:\n" + "\n".join(circles.values())


def test_casportal_imports_no_domain_app_but_in_the_root_urlconf():
    violations = {
        f"{imported}  (imports {app})": None
        for module, imported, _, app in app_imports()
        if module.app == "casportal" and module.path != ROOT_URLCONF
    }
    assert not violations, "casportal imports a domain app:\n" + "\n".join(violations)


def test_the_apps_import_bottom_to_top():
    violations: dict[str, None] = {}  # an import of several modules of one app is named once
    for module, imported, target, app in app_imports():
        why = layering_violation(module, target, app)
        if why:
            violations[f"{imported}  ({why})"] = None
    assert not violations, "Imports against the layers " + " < ".join(LAYERS) + ":\n" + "\n".join(violations)


def test_imports_are_at_module_level_but_in_an_app_configs_ready():
    violations = [
        str(imported)
        for module in modules()
        for imported in imports_of(module)
        if imported.nested and not (imported.in_ready or imported.optional_sentry)
    ]
    assert not violations, "Imports inside functions or blocks:\n" + "\n".join(violations)


def tenant_owned_models() -> set[type]:
    return {
        model
        for model in django_apps.get_models()
        for field in model._meta.get_fields()
        if field.name == "organization"
        and field.concrete
        and (field.many_to_one or field.one_to_one)
        and field.related_model is Organization
    }


def _import_module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def module_level_names(module: Module) -> dict[str, object]:
    """What each module-level import binds, by name."""
    bound: dict[str, object] = {}
    for node in module.tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bound[alias.asname] = _import_module(alias.name)
                else:
                    bound[alias.name.split(".")[0]] = _import_module(alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            source = _import_module(node.module)
            for alias in node.names:
                value = getattr(source, alias.name, None)
                bound[alias.asname or alias.name] = value or _import_module(f"{node.module}.{alias.name}")
    return bound


def _resolve(node: ast.expr, bound: dict[str, object]) -> object:
    if isinstance(node, ast.Name):
        return bound.get(node.id)
    if isinstance(node, ast.Attribute):
        return getattr(_resolve(node.value, bound), node.attr, None)
    return None


def _bound_to_outer_query(call: ast.AST | None) -> bool:
    return isinstance(call, ast.Call) and any(
        keyword.arg == "organization"
        and isinstance(keyword.value, ast.Call)
        and ast.unparse(keyword.value.func).split(".")[-1] == "OuterRef"
        for keyword in call.keywords
    )


def test_views_reach_tenant_rows_through_scoping():
    """A correlated subquery bound to the outer query's organization (organization=OuterRef(...)) is scoped by
    that query."""
    tenant_owned = tenant_owned_models()
    assert tenant_owned, "no tenant-owned model found: the test would pass whatever the views do"
    violations = []
    for module in modules():
        if not (module.name.endswith(".views") or ".views." in module.name):
            continue
        bound = module_level_names(module)
        parents = {child: parent for parent in ast.walk(module.tree) for child in ast.iter_child_nodes(parent)}
        for node in ast.walk(module.tree):
            if not (isinstance(node, ast.Attribute) and node.attr == "objects"):
                continue
            model = _resolve(node.value, bound)
            if model not in tenant_owned:
                continue
            method = parents.get(node)
            if isinstance(method, ast.Attribute) and _bound_to_outer_query(parents.get(method)):
                continue
            line = module.source.splitlines()[node.lineno - 1].strip()
            violations.append((module.path, node.lineno, line))
    assert not violations, (
        "Views query tenant-owned models directly; use organizations.scoping.scoped() or scoped_get_or_404():\n"
        + "\n".join(f"{path}:{line}: {code}" for path, line, code in sorted(violations))
    )
