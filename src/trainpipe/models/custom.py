"""``model.kind: custom``: the user's factory builds the module, trainpipe checks what it built.

The factory is called as ``factory(inputs, **model.params)``. Its parameters are matched against
``model.params`` before it runs, so a misspelt param names the factory's real ones; whatever it
raises is reported with the line of the user's code that raised; what it returns must be an
``nn.Module`` whose outputs have the shape the task needs (:func:`check_outputs`).
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from trainpipe.config import ModelConfig
from trainpipe.errors import UserCodeError
from trainpipe.models.inputs import ModelInputs
from trainpipe.usercode.references import last_frame, load_reference

__all__ = ["build_custom_model", "check_outputs"]


def build_custom_model(config: ModelConfig, inputs: ModelInputs, *, code: str = "") -> nn.Module:
    """Call ``config.factory(inputs, **config.params)`` and return the module it built.

    Raises:
        UserCodeError: the factory does not import, does not take these params, raises, or
            returns something other than an ``nn.Module``.
    """
    ref = config.factory
    factory = load_reference(ref, setting="model.factory", code=code)
    if not callable(factory):
        raise UserCodeError(
            f"model.factory {ref!r} is a {type(factory).__name__}, not a function; name the "
            "function that builds the model"
        )
    _check_params(factory, ref, config.params)
    try:
        module = factory(inputs, **config.params)
    except Exception as exc:
        raise UserCodeError(
            f"model.factory {ref!r} raised {type(exc).__name__}: {exc} at {last_frame(exc)}"
        ) from exc
    if not isinstance(module, nn.Module):
        raise UserCodeError(
            f"model.factory {ref!r} returned a {type(module).__name__}, not a torch.nn.Module; "
            "return the model (an nn.Module), not its class or its weights"
        )
    return module


def _check_params(factory: Any, ref: str, params: dict[str, Any]) -> None:
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return  # a builtin or C callable: let the call itself decide
    try:
        signature.bind(None, **params)
    except TypeError as exc:
        takes = [name for name in list(signature.parameters)[1:]]
        raise UserCodeError(
            f"model.params {params!r} do not fit model.factory {ref!r}: {exc}; it takes the "
            f"input description and then {', '.join(takes) or 'no parameters'}"
        ) from exc


def check_outputs(module: nn.Module, inputs: ModelInputs, batch: torch.Tensor, *, ref: str) -> None:
    """Run ``batch`` through the module in eval mode: the outputs must be finite-shaped
    ``[batch, n_outputs]``.

    Raises:
        UserCodeError: the forward pass raised (with the user's line) or returned another shape.
    """
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            out = module(batch)
    except Exception as exc:
        raise UserCodeError(
            f"the model from model.factory {ref!r} failed on a batch of {list(batch.shape)} "
            f"float features: {type(exc).__name__}: {exc} at {last_frame(exc)}"
        ) from exc
    finally:
        module.train(was_training)
    want = [len(batch), inputs.n_outputs]
    what = (
        f"one logit per class ({inputs.n_outputs})"
        if inputs.task == "classification"
        else "one value per row"
    )
    if not isinstance(out, torch.Tensor) or list(out.shape) != want:
        got = list(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise UserCodeError(
            f"the model from model.factory {ref!r} returned {got} for a batch of "
            f"{list(batch.shape)}; {inputs.task} needs {want}: {what}"
        )
