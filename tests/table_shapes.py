"""Tables shaped like real exports, made by the tests (no downloads): survey answers that repeat
with different labels, a panel of people seen in several waves, and an export with an id, a date,
free text and strings that mix numbers and words."""

from __future__ import annotations

import numpy as np
import pandas as pd


def survey_table(n: int = 1500, seed: int = 0) -> pd.DataFrame:
    """Few discrete features (label ``y``): identical answers repeat, often with other labels."""
    rng = np.random.default_rng(seed)
    a, b, c = rng.integers(0, 4, n), rng.integers(0, 3, n), rng.integers(1, 6, n)
    p = 1 / (1 + np.exp(-(a - 1.5 + (b == 2) - 0.3 * c + 0.9)))
    return pd.DataFrame({"a": a, "b": b, "c": c, "y": np.where(rng.random(n) < p, "yes", "no")})


def panel_table(people: int = 150, waves: int = 4, seed: int = 0) -> pd.DataFrame:
    """People (``person_id``) seen in several ``wave``s with features close to their own earlier
    ones (label ``employed``): rows of one person must not span splits."""
    rng = np.random.default_rng(seed)
    person = np.repeat(np.arange(1000, 1000 + people), waves)
    level = rng.normal(0, 1, people)[person - 1000]
    x1 = level + rng.normal(0, 0.3, len(person))
    x2 = rng.normal(0, 1, len(person))
    employed = (x1 + 0.5 * x2 + rng.normal(0, 0.5, len(person)) > 0).astype(int)
    return pd.DataFrame(
        {
            "person_id": person,
            "wave": np.tile(np.arange(waves), people),
            "x1": x1.round(3),
            "x2": x2.round(3),
            "employed": employed,
        }
    )


def export_table(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """An export as teams have them (label ``label``): a row number, an id, a date and time, free
    text, numbers with a word among them, a category, strings mixing numbers and words."""
    rng = np.random.default_rng(seed)
    words = ["late", "fast", "kind", "rude", "cheap", "clean", "loud", "again"]
    income = rng.normal(50, 10, n).round(1).astype(object)
    income[:5] = "refused"
    plan = rng.choice(["basic", "pro"], n)
    age = rng.integers(18, 80, n)
    score = (plan == "pro") * 1.5 + (age - 50) / 15 + rng.normal(0, 0.7, n)
    return pd.DataFrame(
        {
            "Unnamed: 0": np.arange(n),
            "RespondentID": [f"R{i:04d}" for i in rng.permutation(n)],
            "visit": pd.Series(pd.date_range("2025-01-01", periods=n, freq="37h")).dt.strftime(
                "%Y-%m-%d %H:%M"
            ),
            "comment": [" ".join(rng.choice(words, 6)) for _ in range(n)],
            "income": income,
            "plan": plan,
            "devices": rng.choice(["1", "2", "3+", "none"], n),
            "age": age,
            "label": np.where(score > 0, "b", "a"),
        }
    )
