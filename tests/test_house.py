"""The house rules of the package, checked on its source: small modules and functions, short module
docstrings, no import circle, and a core that never imports Airflow (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

from transition.locations import PACKAGE_DIR, PLUGINS_DIR, REPO_ROOT

MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80
MAX_DOCSTRING_LINES = 12  # what the module holds; how it works goes to docs/architecture.md
PURE_CORE = ("workbook", "plan", "store")  # layers that run without Airflow


def modules() -> dict[str, tuple[Path, ast.Module]]:
    found = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = (path, ast.parse(path.read_text(encoding="utf-8")))
    return found


def imported(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    """The package's modules ``name`` imports, deferred imports (inside functions) too; ``from x
    import y`` counts ``x.y`` when it is a module."""
    nodes = list(ast.walk(tree))
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:  # relative
                base = ".".join(name.split(".")[: -node.level] + [node.module])
            out.add(base)
            out |= {f"{base}.{alias.name}" for alias in node.names}
    return {m for m in out if m in known and m != name}


def test_no_module_over_450_lines():
    long = {
        name: lines
        for name, (path, _tree) in modules().items()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not long, long


def test_no_function_over_80_lines():
    long = [
        f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines"
        for name, (_path, tree) in modules().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, long


def test_no_module_docstring_over_12_lines():
    """A module's docstring says what it holds; the essay goes to docs/architecture.md."""
    long = {
        str(path.relative_to(PLUGINS_DIR)): lines
        for path in sorted(PLUGINS_DIR.rglob("*.py"))
        if (doc := ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))))
        and (lines := len(doc.splitlines())) > MAX_DOCSTRING_LINES
    }
    assert not long, f"module docstrings over {MAX_DOCSTRING_LINES} lines: {long}"


def test_no_import_circle_between_modules():
    found = modules()
    known = set(found)
    graph = {name: imported(name, tree, known) for name, (_p, tree) in found.items()}
    # A package's __init__ importing its own modules is how a package is built, not a circle.
    graph = {
        name: {m for m in targets if not m.startswith(f"{name}.")}
        for name, targets in graph.items()
    }
    circles = []
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                circles.append(path[path.index(target) :] + [target])
            elif target not in state:
                visit(target, [*path, target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not circles, circles


def test_the_core_never_imports_airflow():
    offenders = [
        f"{name}: {node.lineno}"
        for name, (_path, tree) in modules().items()
        if name.split(".")[1:2] and name.split(".")[1] in PURE_CORE
        for node in ast.walk(tree)
        if (
            isinstance(node, ast.Import)
            and any(alias.name.split(".")[0] == "airflow" for alias in node.names)
        )
        or (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "airflow")
    ]
    assert not offenders, offenders


def test_the_package_imports_no_development_tool():
    """make run installs requirements.txt alone: the package needs none of requirements-dev.txt's."""
    tools = {"pytest", "playwright", "hypothesis", "schemathesis", "mkdocs", "ruff", "mypy"}
    dev = (REPO_ROOT / "requirements-dev.txt").read_text(encoding="utf-8")
    assert all(f"{tool}==" in dev for tool in tools - {"mkdocs"}), "requirements-dev.txt changed"
    offenders = [
        f"{name}: {node.lineno}"
        for name, (_path, tree) in modules().items()
        for node in ast.walk(tree)
        if (isinstance(node, ast.Import) and {a.name.split(".")[0] for a in node.names} & tools)
        or (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in tools)
    ]
    assert not offenders, offenders
