"""Text classification end to end: a text column becomes token ids with a vocabulary fitted on the
training split, the RoPE transformer learns from them with seeded text augmentation, and the
registered model (ONNX export included) encodes new text the same way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from trainpipe.config import RunConfig
from trainpipe.data.dataset import read_dataset
from trainpipe.data.ingest import ingest
from trainpipe.data.split import split_dataset
from trainpipe.errors import ConfigError, DataError
from trainpipe.registry.registry import ModelRegistry
from trainpipe.train.artifacts import load_model
from trainpipe.train.distributed import DistContext
from trainpipe.train.loop import run_training
from trainpipe.train.spec import TrainSpec

pytestmark = [pytest.mark.integration, pytest.mark.slow]

POSITIVE = ["good", "great", "happy", "fine", "nice", "glad"]
NEGATIVE = ["bad", "awful", "sad", "poor", "angry", "wrong"]
FILLER = ["the", "day", "was", "a", "movie", "food", "service", "it", "felt", "really", "so"]


def reviews(rows: int, seed: int) -> pd.DataFrame:
    """Short texts whose label is the sentiment of the one opinion word hidden among fillers."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(rows):
        label = str(rng.choice(["pos", "neg"]))
        words = list(rng.choice(FILLER, size=int(rng.integers(4, 10))))
        opinion = rng.choice(POSITIVE if label == "pos" else NEGATIVE)
        words.insert(int(rng.integers(0, len(words) + 1)), str(opinion))
        texts.append(" ".join(words).capitalize() + ".")
        labels.append(label)
    return pd.DataFrame({"review": texts, "sentiment": labels})


def text_config(source: Path, **train: Any) -> RunConfig:
    return RunConfig.from_dict(
        {
            "seed": 5,
            "data": {
                "source": str(source),
                "label": "sentiment",
                "text": "review",
                "max_tokens": 12,
                "vocab_size": 40,
                "drop_duplicates": False,
            },
            "model": {"kind": "transformer", "d_model": 32, "heads": 2, "layers": 1},
            "train": {
                "epochs": 6,
                "batch_size": 32,
                "learning_rate": 0.003,
                "nproc_per_node": 1,
                "backend": "inprocess",
                "num_threads": 1,
                "augment": ["synonyms", "token_swap", "token_dropout"],
                **train,
            },
        }
    )


def test_text_column_trains_a_transformer_and_registers(tmp_path: Path) -> None:
    source = tmp_path / "reviews.csv"
    reviews(600, seed=0).to_csv(source, index=False)
    config = text_config(source)
    result = ingest(config, str(tmp_path / "dataset"))
    assert result.schema.text == ["review"]
    assert result.stats["text"]["review"]["max_words"] == 10
    assert "review" not in result.stats["features"]
    schema = json.loads((tmp_path / "dataset" / "data_schema.json").read_text())
    assert schema["columns"]["review"]["kind"] == "text"
    report = (tmp_path / "dataset" / "statistics.html").read_text()
    table = report.split('id="text-columns"', 1)[1].split("</table>", 1)[0]
    row = table.split("<tbody><tr>", 1)[1].split("</tr>", 1)[0]
    cells = row.replace("</td>", "").split("<td>")[1:]
    assert cells[0] == "review"
    assert 7.0 < float(cells[1]) < 8.0  # 4 to 9 fillers and the opinion word: 5 to 10 words
    assert cells[2:] == ["10", "0", str(len(POSITIVE + NEGATIVE + FILLER))]
    parts = {name: str(tmp_path / name) for name in ("train", "validation", "test")}
    split_dataset(config, str(tmp_path / "dataset"), *parts.values())

    spec = TrainSpec(
        config=config,
        train_data=parts["train"],
        validation_data=parts["validation"],
        output=str(tmp_path / "model"),
    )
    run_training(spec, DistContext(), log=lambda line: None)
    model = load_model(str(tmp_path / "model"))
    assert model.preprocess.text == "review"
    assert model.preprocess.vocabulary[:2] == ["<pad>", "<unk>"]
    train_frame, _ = read_dataset(parts["train"])
    train_words = {w for t in train_frame["review"] for w in t.lower().strip(".").split()}
    assert set(model.preprocess.vocabulary[2:]) <= train_words  # fitted on the training split

    test_frame, _ = read_dataset(parts["test"])
    predicted = model.predict(test_frame)
    truth = test_frame["sentiment"].map({c: i for i, c in enumerate(model.classes)}).to_numpy()
    accuracy = float(np.mean(predicted == truth))
    assert accuracy >= 0.9, accuracy  # chance is 0.5; measured 1.0

    unseen = pd.DataFrame({"review": ["A zebra felt great", "so bad", ""]})
    assert [model.classes[i] for i in model.predict(unseen)[:2]] == ["pos", "neg"]

    registry = ModelRegistry.open(str(tmp_path / "registry"))
    version = registry.register("reviews", str(tmp_path / "model"), lineage={})
    assert registry.verify(version.ref) == []
    (card,) = (tmp_path / "registry").rglob("MODEL_CARD.md")
    text = card.read_text()
    assert "rotary position embeddings (RoPE)" in text
    assert "text column `review` as 12 token ids per row" in text


def test_text_settings_are_checked(tmp_path: Path) -> None:
    source = tmp_path / "reviews.csv"
    frame = reviews(40, seed=1)
    frame.insert(0, "stars", 3)
    frame.to_csv(source, index=False)
    with pytest.raises(DataError, match=r"no other feature.*\['stars'\]"):
        ingest(text_config(source), str(tmp_path / "out"))
    with pytest.raises(ConfigError, match=r"model\.kind must be transformer"):
        RunConfig.from_dict({"data": {"source": str(source), "text": "review"}})
    with pytest.raises(ConfigError, match=r"train\.augment\[0\].*data\.text"):
        RunConfig.from_dict({"data": {"source": str(source)}, "train": {"augment": ["synonyms"]}})
