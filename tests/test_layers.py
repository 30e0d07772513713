"""The house keeps its floors: views → services → models, never back up (issue #9).

Services and models are plain functions and tables: they must not reach for the request, the
blueprints or the app factory. A module that does fails here, by name, before it ties the
packages into an import circle again.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOWER_FLOORS = [
    *sorted((ROOT / "comptoir" / "services").rglob("*.py")),
    *sorted((ROOT / "models").rglob("*.py")),
]


def _imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) for every import in the file, function-level ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found += [(node.module, alias.name) for alias in node.names]
    return found


@pytest.mark.parametrize("path", LOWER_FLOORS, ids=lambda p: str(p.relative_to(ROOT)))
def test_services_and_models_never_import_the_web_layer(path):
    problems = []
    for module, name in _imports(path):
        if module.split(".")[0] in ("storefront", "admin") or module == "comptoir.factory":
            problems.append(f"imports {module}")
        if module == "flask" and name == "request":
            problems.append("imports flask.request")
        if module == "click":
            problems.append("imports click (CLI wrappers live in comptoir/cli.py)")
    assert problems == []


def test_the_rule_would_catch_a_service_that_reaches_for_the_request(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from flask import request\n    from storefront import cart\n")
    assert ("flask", "request") in _imports(bad) and ("storefront", "cart") in _imports(bad)
