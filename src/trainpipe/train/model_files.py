"""The files of a model location, and the clean-up of a half-written one (no torch needed).

Layout of a model location::

    model.safetensors   weights only (no pickle)
    labels.json         class index -> class name (classification)
    metrics.json        per-epoch history and final values
    model.json          architecture, features, preprocessing, the training data's hash;
                        written last, marks completion

A location with some of these files but no ``model.json`` holds a half-written model; a failed
training removes them (:func:`discard_partial_model`) so that no reader mistakes them for one.
The registry copies these files without loading them, so it imports this module and not
:mod:`trainpipe.train.artifacts`, which needs torch.
"""

from __future__ import annotations

from trainpipe.storage.factory import open_store

__all__ = [
    "LABELS_KEY",
    "METRICS_KEY",
    "MODEL_FILES",
    "MODEL_KEY",
    "WEIGHTS_KEY",
    "discard_partial_model",
]

WEIGHTS_KEY = "model.safetensors"
MODEL_KEY = "model.json"
LABELS_KEY = "labels.json"
METRICS_KEY = "metrics.json"
MODEL_FILES = (WEIGHTS_KEY, LABELS_KEY, METRICS_KEY, MODEL_KEY)


def discard_partial_model(location: str) -> list[str]:
    """Remove the model files at ``location`` when ``model.json`` (the completion marker) is
    missing; returns the keys removed (none when the model is complete or absent)."""
    store = open_store(location)
    if store.exists(MODEL_KEY):
        return []
    partial = [key for key in MODEL_FILES if store.exists(key)]
    for key in partial:
        store.delete(key)
    return partial
