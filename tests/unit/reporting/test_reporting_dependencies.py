"""The shared report package stands alone, and the data and tuning reports draw with it alone."""

from __future__ import annotations

import ast
import importlib.util
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import trainpipe.reporting

pytestmark = pytest.mark.unit


def _imports(module: str) -> set[str]:
    """Every module that ``module``'s source imports, at module level or inside functions."""
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None
    found: set[str] = set()
    for node in ast.walk(ast.parse(Path(spec.origin).read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{module} uses a relative import"
            found.add(node.module)
    return found


REPORTING = [
    "trainpipe.reporting",
    *(f"trainpipe.reporting.{m.name}" for m in pkgutil.iter_modules(trainpipe.reporting.__path__)),
]


@pytest.mark.parametrize("module", ["trainpipe.data.report", "trainpipe.tune.report"])
def test_data_and_tuning_reports_take_their_charts_from_the_shared_package(module: str) -> None:
    imported = _imports(module)
    assert "trainpipe.reporting.charts" in imported
    assert not {m for m in imported if m.startswith("trainpipe.evaluate")}


@pytest.mark.parametrize("module", REPORTING)
def test_reporting_modules_import_only_errors_from_trainpipe(module: str) -> None:
    ours = {m for m in _imports(module) if m.split(".")[0] == "trainpipe"}
    assert ours <= {"trainpipe.errors"} | {m for m in REPORTING}


def test_importing_reporting_loads_no_other_stage_and_no_third_party_library() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, sys, trainpipe.reporting; print(json.dumps(sorted(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    modules = set(json.loads(done.stdout))
    ours = {m for m in modules if m.split(".")[0] == "trainpipe"}
    assert {m for m in ours if not m.startswith("trainpipe.reporting")} == {
        "trainpipe",
        "trainpipe.errors",
    }
    assert not {m for m in modules if m.split(".")[0] in ("numpy", "pandas", "torch", "sklearn")}
