"""The tests mirror the package: each module of stseg has its unit-test module, and tests share code through
tests/helpers.py only."""

from __future__ import annotations

import ast

from helpers import REPO

#: package modules whose test module is named otherwise (a package's __init__ holds the registry)
NAMED_OTHERWISE = {"stseg/models/__init__.py": "tests/unit/models/test_registry.py"}
#: nothing to test: an empty package marker and the ``python -m stseg`` entry point
NO_TESTS = {"stseg/__init__.py", "stseg/__main__.py"}


def test_every_package_module_has_its_unit_test_module():
    missing = []
    for module in sorted((REPO / "stseg").rglob("*.py")):
        relative = module.relative_to(REPO).as_posix()
        if relative in NO_TESTS:
            continue
        folder = module.parent.relative_to(REPO / "stseg")
        expected = NAMED_OTHERWISE.get(relative, f"tests/unit/{folder.as_posix() + '/' if str(folder) != '.' else ''}test_{module.stem}.py")
        if not (REPO / expected).is_file():
            missing.append(f"{relative} -> {expected}")
    assert missing == []


def test_test_modules_import_shared_code_from_helpers_only():
    offenders = []
    for path in sorted((REPO / "tests").rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and (node.module.startswith("test_") or node.module == "conftest"):
                offenders.append(f"{path.relative_to(REPO)}: from {node.module}")
    assert offenders == []
