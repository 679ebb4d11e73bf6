"""The worked example, end to end as a user runs it: ``examples/digits_resnet`` (their package,
shipped with ``code:``) through ``trainpipe run`` with 2 processes, tuned over one of its own
params, registered, then loaded in a fresh process that has only the registry and predicts.

The package reaches every step, both torchrun ranks and the tuning workers from the archive
alone (``PYTHONPATH`` is cleared); the archive sits beside the registry and its digest is in
``model.json``, the lineage and the model card."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "digits_resnet"


def test_the_example_trains_tunes_registers_and_predicts_from_the_registry(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TRAINPIPE_CODE_CACHE"] = str(tmp_path / "cache-run")
    registry = tmp_path / "registry"
    run = subprocess.run(
        [sys.executable, "-m", "trainpipe.cli", "run", "--config", str(EXAMPLE / "config.yaml"),
         "--set", f"registry.uri={registry}", "--set", "tune.max_trials=2",
         "--set", "tune.epochs=1", "--run-dir", str(tmp_path / "run")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "succeeded" and summary["model"]["version"] == 1, summary
    trials = json.loads(Path(summary["artifacts"]["trials"]).read_text())
    assert {t["params"]["model.params.width"] for t in trials["trials"]} <= {16, 32}
    assert trials["n_complete"] + trials["n_pruned"] == 2
    assert summary["blessed"], summary["gate"]
    version = registry / "models" / "digits-resnet" / "versions" / "000001"
    lineage = json.loads((version / "lineage.json").read_text())
    described = json.loads((version / "model.json").read_text())
    code = described["code"]
    digest = code["digest"]
    assert digest.startswith("sha256:") and lineage["user_code"] == code
    assert Path(code["uri"]).parent == registry / "code"  # beside the registry, outliving the run
    assert f"digest `{digest}`" in (version / "MODEL_CARD.md").read_text()
    assert lineage["config"]["train"]["entrypoint"] == "digits_resnet.loop:train"
    assert lineage["config"]["train"]["nproc_per_node"] == 2
    # the tuned value of the package's own param is what the registered model was built with
    best_width = trials["best_params"]["model.params.width"]
    assert lineage["tuning"]["best_params"]["model.params.width"] == best_width
    assert described["model"]["params"]["width"] == best_width

    env["TRAINPIPE_CODE_CACHE"] = str(tmp_path / "cache-fresh")
    script = (
        "import numpy as np, pandas as pd\n"
        "from sklearn.datasets import load_digits\n"
        "import trainpipe.registry\n"
        f"model = trainpipe.registry.load('digits-resnet', 'champion', store={str(registry)!r})\n"
        "digits = load_digits()\n"
        "rows = pd.DataFrame(digits.data, columns=model.preprocess.features)\n"
        "scores = model.score(rows)\n"
        "labels = np.asarray(model.classes)[scores.predictions]\n"
        "print(np.mean(labels == digits.target.astype(str)))\n"
        "print(type(model.module).__module__)\n"
    )
    loaded = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    accuracy, module = loaded.stdout.split()
    assert module == "digits_resnet.model" and float(accuracy) >= 0.9
    assert (tmp_path / "cache-fresh" / digest.replace(":", "-") / "site").is_dir()  # installed
