"""The apps import each other in one direction only (README, "Architecture").

Every import counts, at module level or inside a function: a late import is still a
dependency. ``arguslm`` is two things: the project's wiring (settings, URL maps, ASGI), which
sits on top, and the core library (gateway, errors, audit, keys, page helpers) at the bottom.
"""

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = {
    "arguslm.settings",
    "arguslm.urls",
    "arguslm.api_urls",
    "arguslm.routing",
    "arguslm.asgi",
}
# Each layer may import the layers listed for it, and nothing else of the project.
MAY_IMPORT = {
    "core": set(),
    "providers": {"core"},
    "monitoring": {"core", "providers"},
    "benchmarks": {"core", "providers", "monitoring"},
    # alerts sits above benchmarks: benchmark_regression rules read saved benchmarks' runs.
    "alerts": {"core", "providers", "monitoring", "benchmarks"},
    "dashboard": {"core", "providers", "monitoring", "benchmarks", "alerts"},
    "project": {"core", "providers", "monitoring", "benchmarks", "alerts", "dashboard"},
    "perf": {"core", "providers", "monitoring", "benchmarks", "alerts", "dashboard", "project"},
}
APPS = {"arguslm", "providers", "monitoring", "benchmarks", "alerts", "dashboard", "perf"}


def layer(module: str) -> str:
    app = module.split(".")[0]
    if app != "arguslm":
        return app
    return "project" if any(module == p or module.startswith(p + ".") for p in PROJECT) else "core"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    return imported(path.read_text(), package=package)


def imported(source: str, *, package: str) -> set[str]:
    """Every project module the source imports (absolute or relative, at any depth)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
    return {name for name in found if name.split(".")[0] in APPS}


def source_files():
    for app in sorted(APPS):
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def test_imports_follow_the_layers():
    wrong = []
    for path in source_files():
        here = layer(module_name(path))
        for target in sorted(imports(path)):
            there = layer(target)
            if there != here and there not in MAY_IMPORT[here]:
                wrong.append(f"{module_name(path)} ({here}) imports {target} ({there})")
    assert wrong == []


def test_the_check_sees_late_and_relative_imports():
    """The check itself can fail: a function-level import of a higher layer is caught."""
    source = "import os\n\ndef f():\n    from dashboard import queries\n    from . import models\n"
    assert imported(source, package="providers") == {"dashboard", "providers"}
    assert layer("arguslm.llm.measure") == "core" and layer("arguslm.api_urls") == "project"
    assert "dashboard" not in MAY_IMPORT["providers"]


def test_no_product_code_imports_the_performance_harness():
    users = [
        module_name(path)
        for path in source_files()
        if layer(module_name(path)) != "perf" and any(i.startswith("perf") for i in imports(path))
    ]
    assert users == []


@pytest.mark.django_db
def test_every_module_imports():
    """A moved module leaves no stale import behind (the layer test reads names, not modules)."""
    broken = []
    for path in source_files():
        name = module_name(path)
        try:
            importlib.import_module(name)
        except Exception as exc:
            broken.append(f"{name}: {type(exc).__name__}: {exc}")
    assert broken == []
