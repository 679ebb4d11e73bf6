"""ONNX export of a trained model, and a parity check of the export against PyTorch.

The exported graph is the bare network: it maps preprocessed features (input ``features``,
float32, shape ``[batch, n_features]`` with a dynamic batch axis) to the raw model outputs
(output ``outputs``: class logits, or the scaled target for regression). The preprocessing that
turns a raw row into those features (clipping, standardization, one-hot encoding, or token ids),
the label, the columns and the class names travel with it as model metadata (``trainpipe.*``
keys, layout in :mod:`trainpipe.registry.onnx_metadata`), so a serving runtime can apply the
same transform without trainpipe.

The parity check compares onnxruntime with PyTorch element-wise with a mixed tolerance,
``|onnx - torch| <= atol + rtol * |torch|`` (as ``numpy.allclose``), so that outputs of any
magnitude are held to the same float32 precision (see :data:`PARITY_RTOL`).

The export uses PyTorch's TorchScript-based exporter (``dynamo=False``): it needs only ``onnx``
(and ``onnxruntime`` for the parity check), runs offline in well under a second for the model zoo,
and gives the same bytes for the same weights. Debug information that would make the bytes depend
on where the code lives (doc strings, source locations) is stripped.

``onnx`` and ``onnxruntime`` are imported only when a function needs them.
"""

from __future__ import annotations

import math
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

from trainpipe.errors import RegistryError
from trainpipe.registry.onnx_metadata import onnx_metadata
from trainpipe.train.artifacts import LoadedModel

__all__ = [
    "INPUT_NAME",
    "OPSET_VERSION",
    "OUTPUT_NAME",
    "PARITY_ATOL",
    "PARITY_RTOL",
    "check_parity",
    "export_onnx",
]

INPUT_NAME = "features"
OUTPUT_NAME = "outputs"
BATCH_AXIS = "batch"
#: ONNX opset of the export; 17 is supported by every onnxruntime since 1.14.
OPSET_VERSION = 17
#: Absolute part of the parity tolerance: what outputs near zero may differ by.
PARITY_ATOL = 1e-4
#: Relative part of the parity tolerance. float32 keeps 24 significant bits, so one rounding step
#: is 6e-8 to 1.2e-7 of a value, and two runtimes that sum a layer's products in another order
#: differ by a few steps per layer. 1e-5 (numpy.allclose's default) allows about 80 steps at the
#: output's magnitude: above that reordering noise for the model zoo's depths, and small enough
#: that a changed weight or operator still fails (at outputs near 2e4 it allows 0.2, where one
#: float32 step is 0.002).
PARITY_RTOL = 1e-5
_INSTALL_HINT = "install it with `pip install onnx onnxruntime`"


def _import_onnx() -> ModuleType:
    try:
        import onnx
    except ImportError as exc:
        raise RegistryError(
            f"ONNX export needs the 'onnx' package, which is missing: {_INSTALL_HINT}"
        ) from exc
    return onnx


def _import_onnxruntime() -> ModuleType:
    try:
        import onnxruntime
    except ImportError as exc:
        raise RegistryError(
            f"the ONNX parity check needs the 'onnxruntime' package, which is missing: "
            f"{_INSTALL_HINT}"
        ) from exc
    return onnxruntime


def _describe(model: LoadedModel) -> str:
    """A short name for ``model`` in messages, e.g. ``mlp classification model (label 'y')``."""
    kind = str((model.description.get("model") or {}).get("kind", "unknown"))
    return f"{kind} {model.task} model (label {model.label!r})"


def _n_features(model: LoadedModel) -> int:
    n = model.description.get("n_features", model.preprocess.width)
    if not isinstance(n, int) or n <= 0:
        raise RegistryError(
            f"cannot export the {_describe(model)} to ONNX: model.json gives n_features={n!r}; "
            "re-save the model with trainpipe train"
        )
    return n


def _canonicalize(onnx: ModuleType, proto: Any, model: LoadedModel, n_features: int) -> None:
    """Strip location-dependent debug data and attach the trainpipe metadata, in place."""
    proto.doc_string = ""
    proto.graph.doc_string = ""
    for node in proto.graph.node:
        node.doc_string = ""
        del node.metadata_props[:]
    for value in (*proto.graph.input, *proto.graph.output, *proto.graph.value_info):
        value.doc_string = ""
        del value.metadata_props[:]
    del proto.metadata_props[:]
    metadata = onnx_metadata(
        task=model.task,
        label=model.label,
        preprocess=model.preprocess,
        input_name=INPUT_NAME,
        output_name=OUTPUT_NAME,
        batch_axis=BATCH_AXIS,
        width=n_features,
    )
    onnx.helper.set_model_props(proto, metadata)


def _check_signature(proto: Any, model: LoadedModel, n_features: int) -> None:
    """The exported graph has one ``features`` input and one ``outputs`` output, as promised."""
    inputs = [value.name for value in proto.graph.input]
    outputs = [value.name for value in proto.graph.output]
    if inputs != [INPUT_NAME] or outputs != [OUTPUT_NAME]:
        raise RegistryError(
            f"ONNX export of the {_describe(model)} has inputs {inputs} and outputs {outputs}, "
            f"expected [{INPUT_NAME!r}] and [{OUTPUT_NAME!r}]; the architecture is not exportable"
        )
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    shape = [d.dim_param or d.dim_value for d in dims]
    if shape != [BATCH_AXIS, n_features]:
        raise RegistryError(
            f"ONNX export of the {_describe(model)} has input shape {shape}, expected "
            f"[{BATCH_AXIS!r}, {n_features}]; the architecture is not exportable"
        )


def export_onnx(model: LoadedModel) -> bytes:
    """Export ``model`` as ONNX bytes: preprocessed ``features`` ``[batch, n]`` -> raw ``outputs``.

    The input is float32 with a dynamic batch axis; the outputs are what
    :meth:`LoadedModel.predict_tensor` returns (logits, or the scaled target for regression). The
    export runs in eval mode (dropout off) and the same weights give the same bytes. The
    preprocessing, columns and classes are stored as ``trainpipe.*`` model metadata
    (:mod:`trainpipe.registry.onnx_metadata`).

    Raises:
        RegistryError: ``onnx`` is not installed, or the model cannot be exported.
    """
    onnx = _import_onnx()
    n_features = _n_features(model)
    module = model.module
    was_training = module.training
    module.eval()
    example = torch.zeros(2, n_features, dtype=torch.float32)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="trainpipe-onnx-") as tmp,
            warnings.catch_warnings(),
        ):
            # The TorchScript exporter announces its own deprecation on every call.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            path = Path(tmp) / "model.onnx"
            torch.onnx.export(
                module,
                (example,),
                path,
                dynamo=False,
                export_params=True,
                opset_version=OPSET_VERSION,
                do_constant_folding=True,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: BATCH_AXIS}, OUTPUT_NAME: {0: BATCH_AXIS}},
            )
            exported = path.read_bytes()
    except Exception as exc:
        raise RegistryError(
            f"cannot export the {_describe(model)} to ONNX (opset {OPSET_VERSION}): {exc}"
        ) from exc
    finally:
        module.train(was_training)

    proto = onnx.load_from_string(exported)
    _check_signature(proto, model, n_features)
    _canonicalize(onnx, proto, model, n_features)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:
        raise RegistryError(
            f"ONNX export of the {_describe(model)} is not a valid ONNX model: {exc}"
        ) from exc
    data: bytes = proto.SerializeToString(deterministic=True)
    return data


@dataclass(frozen=True)
class _Comparison:
    """Where ONNX and PyTorch outputs differ most, against the mixed tolerance."""

    max_abs: float
    failures: int
    worst: tuple[int, ...]
    """Index of the element furthest outside (or closest to the edge of) the tolerance."""
    expected: float
    actual: float
    abs_diff: float
    rel_diff: float
    allowed: float


def _compare(expected: np.ndarray, actual: np.ndarray, *, atol: float, rtol: float) -> _Comparison:
    """Element-wise ``|actual - expected| <= atol + rtol * |expected|``; equal values (NaN with
    NaN, inf with the same inf) differ by 0, a NaN or inf against anything else by inf."""
    expected = expected.astype(np.float64)
    actual = actual.astype(np.float64)
    same = (expected == actual) | (np.isnan(expected) & np.isnan(actual))
    with np.errstate(invalid="ignore"):
        diff = np.where(same, 0.0, np.abs(expected - actual))
    diff = np.where(np.isnan(diff), np.inf, diff)
    if diff.size == 0:
        return _Comparison(0.0, 0, (), 0.0, 0.0, 0.0, 0.0, atol)
    magnitude = np.where(np.isfinite(expected), np.abs(expected), 0.0)
    allowed = atol + rtol * magnitude
    with np.errstate(divide="ignore", invalid="ignore"):
        excess = np.where(diff == 0, 0.0, diff / allowed)  # > 1: outside the tolerance
        relative = np.where(diff == 0, 0.0, diff / magnitude)
    worst = np.unravel_index(int(np.argmax(excess)), excess.shape)
    return _Comparison(
        max_abs=float(diff.max()),
        failures=int(np.count_nonzero(excess > 1)),
        worst=tuple(int(i) for i in worst),
        expected=float(expected[worst]),
        actual=float(actual[worst]),
        abs_diff=float(diff[worst]),
        rel_diff=float(relative[worst]),
        allowed=float(allowed[worst]),
    )


def _index(index: tuple[int, ...]) -> str:
    return ", ".join(str(i) for i in index) or "0"


def _check_tolerance(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
        raise RegistryError(f"check_parity: {name} must be a finite number >= 0, got {value!r}")


def check_parity(
    model: LoadedModel,
    onnx_bytes: bytes,
    samples: torch.Tensor,
    *,
    atol: float = PARITY_ATOL,
    rtol: float = PARITY_RTOL,
) -> float:
    """Run the ONNX export on ``samples`` with onnxruntime and compare with PyTorch.

    ``samples`` are preprocessed features ``[n, n_features]``; the reference is
    ``model.predict_tensor(samples)``. Every output element must satisfy
    ``|onnx - torch| <= atol + rtol * |torch|``. Returns the largest absolute difference.

    Raises:
        RegistryError: onnxruntime is missing or cannot load the bytes, the samples have the
            wrong shape, the outputs have different shapes, or an element is outside the
            tolerance (a NaN where PyTorch has a number counts as an infinite difference); the
            message names the worst element's absolute and relative difference.
    """
    _check_tolerance("atol", atol)
    _check_tolerance("rtol", rtol)
    n_features = _n_features(model)
    if samples.ndim != 2 or samples.shape[1] != n_features or samples.shape[0] == 0:
        raise RegistryError(
            f"check_parity: samples must have shape [n >= 1, {n_features}] for the "
            f"{_describe(model)}, got {list(samples.shape)}"
        )
    ort = _import_onnxruntime()
    inputs = samples.detach().to(device="cpu", dtype=torch.float32).contiguous()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(
            onnx_bytes, sess_options=options, providers=["CPUExecutionProvider"]
        )
        (actual,) = session.run([OUTPUT_NAME], {INPUT_NAME: inputs.numpy()})
    except Exception as exc:
        raise RegistryError(
            f"onnxruntime cannot run the ONNX export of the {_describe(model)}: {exc}; "
            "re-export it with export_onnx"
        ) from exc
    expected = model.predict_tensor(inputs).detach().cpu().numpy()
    actual = np.asarray(actual)
    if actual.shape != expected.shape:
        raise RegistryError(
            f"ONNX export of the {_describe(model)} returns outputs of shape "
            f"{list(actual.shape)} but PyTorch returns {list(expected.shape)}; re-export it "
            "with export_onnx"
        )
    found = _compare(expected, actual, atol=atol, rtol=rtol)
    if found.failures:
        worst = (
            f"sample {found.worst[0]}, output {_index(found.worst[1:])}: torch "
            f"{found.expected:.9g}, onnx {found.actual:.9g}, abs difference {found.abs_diff:.3g}, "
            f"relative difference {found.rel_diff:.3g} (allowed {found.allowed:.3g})"
        )
        raise RegistryError(
            f"ONNX export of the {_describe(model)} does not match PyTorch: {found.failures} of "
            f"{expected.size} outputs over {inputs.shape[0]} samples exceed the tolerance "
            f"|onnx - torch| <= atol + rtol * |torch| (atol={atol:g}, rtol={rtol:g}); worst at "
            f"{worst}; re-export it with export_onnx, or check the onnxruntime version"
        )
    return found.max_abs
