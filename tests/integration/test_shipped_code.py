"""A ``code:`` run without an image: the user's package reaches every rank from the archive.

``trainpipe train`` packs ``tests/user_code`` (not on any path) once, two torchrun ranks fetch
and verify it by digest, and the model registers with the digest in its lineage and card; a
fresh process that has only the registry (and an empty code cache) loads it, fetching the same
archive, and predicts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def trainpipe(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trainpipe.cli", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_a_custom_model_trains_registers_and_loads_from_the_archive(tmp_path: Path) -> None:
    config = tmp_path / "digits.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "shipped",
                "data": {"source": "builtin:digits", "label": "target"},
                "code": str(REPO / "tests" / "user_code"),
                "model": {"kind": "custom", "factory": "digits_net.cnn:build",
                          "image_shape": [1, 8, 8], "params": {"channels": [8], "hidden": [32]}},
                "train": {"epochs": 2, "nproc_per_node": 2, "learning_rate": 0.01},
                "registry": {"uri": str(tmp_path / "registry"), "model_name": "shipped"},
            }
        )
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TRAINPIPE_CODE_CACHE"] = str(tmp_path / "cache-train")
    trained = trainpipe("train", "--config", str(config), "--output", str(tmp_path / "model"),
                        env=env, cwd=tmp_path)  # fmt: skip
    assert trained.returncode == 0, trained.stdout[-3000:] + trained.stderr[-3000:]
    described = json.loads((tmp_path / "model" / "model.json").read_text())
    code = described["code"]
    assert code["digest"].startswith("sha256:") and Path(code["uri"]).is_file()
    assert Path(code["uri"]).parent == tmp_path / "registry" / "code"
    assert "model.factory digits_net.cnn:build built a DigitsCNN" in trained.stdout

    registered = trainpipe("registry", "register", "--name", "shipped", "--model-dir",
                           str(tmp_path / "model"), "--config", str(config), "--json",
                           env=env, cwd=tmp_path)  # fmt: skip
    assert registered.returncode == 0, registered.stdout + registered.stderr
    version = tmp_path / "registry" / "models" / "shipped" / "versions" / "000001"
    assert json.loads((version / "lineage.json").read_text())["user_code"] == code
    assert f"digest `{code['digest']}`" in (version / "MODEL_CARD.md").read_text()

    env["TRAINPIPE_CODE_CACHE"] = str(tmp_path / "cache-fresh")
    script = (
        "import numpy as np, sys\n"
        "from sklearn.datasets import load_digits\n"
        "from trainpipe.registry.registry import load\n"
        "import pandas as pd\n"
        f"model = load('shipped', 1, store={str(tmp_path / 'registry')!r})\n"
        "digits = load_digits()\n"
        "rows = pd.DataFrame(digits.data[:200], columns=model.preprocess.features)\n"
        "labels = [model.classes[i] for i in model.predict_tensor(\n"
        "    model.preprocess.transform_features(rows)).argmax(dim=1)]\n"
        "print(np.mean(np.array(labels) == digits.target[:200].astype(str)))\n"
        "print(type(model.module).__module__)\n"
    )
    loaded = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    accuracy, module = loaded.stdout.split()
    assert module == "digits_net.cnn" and float(accuracy) > 0.3  # chance is 0.1
    assert (tmp_path / "cache-fresh" / code["digest"].replace(":", "-") / "source").is_dir()
