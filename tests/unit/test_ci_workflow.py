"""The GitOps workflow in .github/workflows/ci.yaml: checks on pull requests, compile and submit
on main, secrets only through ``secrets.`` expressions handed to the submit step's environment."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.unit

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "ci.yaml"
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}")


def _workflow() -> dict[str, Any]:
    document = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 reads the bare key `on` as True.
    document["on"] = document.pop(True, document.get("on"))
    return document


def _runs(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_triggers_on_pull_requests_and_pushes_to_main() -> None:
    triggers = _workflow()["on"]
    assert "pull_request" in triggers
    assert triggers["push"]["branches"] == ["main"]
    assert _workflow()["permissions"] == {"contents": "read"}


def test_pull_requests_lint_test_and_check_the_compiled_pipeline() -> None:
    job = _workflow()["jobs"]["test"]
    assert "if" not in job  # runs on every trigger
    uses = [step.get("uses", "") for step in job["steps"]]
    assert any(u.startswith("actions/checkout@") for u in uses)
    setup = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python@"))
    assert setup["with"]["python-version"] == "3.11"
    runs = _runs(job)
    assert "make lint typecheck" in runs
    assert "pytest" in runs
    assert "make compile" in runs and "git diff --exit-code pipelines/compiled" in runs
    assert "secrets." not in yaml.safe_dump(job)


def test_main_compiles_and_submits_with_the_repository_secrets() -> None:
    job = _workflow()["jobs"]["submit"]
    assert "github.event_name == 'push'" in job["if"] and "refs/heads/main" in job["if"]
    assert job["needs"] == "test"
    runs = _runs(job)
    assert "make compile" in runs
    assert 'trainpipe submit --host "$KFP_HOST"' in runs
    submit = next(step for step in job["steps"] if "trainpipe submit" in step.get("run", ""))
    assert submit["env"] == {
        "KFP_HOST": "${{ secrets.KFP_HOST }}",
        "KFP_TOKEN": "${{ secrets.KFP_TOKEN }}",
    }
    assert "--token" not in submit["run"]  # the token stays in the environment, never argv


def test_secrets_appear_only_as_step_environment_expressions() -> None:
    text = WORKFLOW.read_text()
    for match in EXPRESSION.finditer(text):
        expression = match.group(1).strip()
        if "secrets" in expression:
            assert re.fullmatch(r"secrets\.[A-Z_]+", expression), expression
            line = text[: match.start()].rsplit("\n", 1)[-1]
            assert re.fullmatch(r"\s+[A-Z_]+: ", line), f"secret used outside env: {line}"
    for job in _workflow()["jobs"].values():
        for step in job["steps"]:
            assert "secrets." not in step.get("run", ""), step
            assert "secrets." not in str(step.get("with", "")), step
    # Nothing that looks like a credential is written into the workflow itself.
    assert not re.search(r"(token|password|secret)\s*[:=]\s*['\"]?\w{8,}", text, re.I)
