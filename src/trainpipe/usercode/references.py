"""Import an object the config names as ``package.module:attribute``.

Every way it can fail says which setting named it, which module it looked for, where it looked
(the ``code:`` folder and ``sys.path``), and the last frame of the user's own traceback, so a
typo in a config or a bug in the user's module is fixed without reading trainpipe's code.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from pathlib import Path
from typing import Any

from trainpipe.config.model import REFERENCE_FORM
from trainpipe.errors import UserCodeError

__all__ = ["last_frame", "load_reference"]


def last_frame(exc: BaseException) -> str:
    """``file.py:12 in build: raise ValueError(...)``: where the user's code raised."""
    frames = traceback.extract_tb(exc.__traceback__)
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{exc.filename}:{exc.lineno}: {(exc.text or '').strip()}"
    if not frames:
        return f"{type(exc).__name__}: {exc}"
    frame = frames[-1]
    return f"{frame.filename}:{frame.lineno} in {frame.name}: {(frame.line or '').strip()}"


def _searched(code: str) -> str:
    paths = [p for p in sys.path if p and Path(p).is_dir()]
    where = f"the code folder {code} and " if code else "no code: folder, only "
    shown = ", ".join(paths[:6]) + (f" and {len(paths) - 6} more" if len(paths) > 6 else "")
    return f"{where}sys.path ({shown})"


def load_reference(ref: str, *, setting: str, code: str = "") -> Any:
    """The object ``ref`` (``package.module:attribute``, dots allowed after the colon) names.

    ``setting`` (``model.factory``) and ``code`` (the ``code:`` folder or archive it was put on
    the path from) only shape the messages.

    Raises:
        UserCodeError: the reference is malformed, its module is missing or fails to import
            (with the failing line), or the module has no such attribute (with what it has).
    """
    if not REFERENCE_FORM.match(ref):
        raise UserCodeError(
            f"{setting} {ref!r} is not a reference: write 'package.module:attribute', e.g. "
            "'mynet.model:build'"
        )
    module_name, _, attribute = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise UserCodeError(
                f"{setting} {ref!r}: no module named {exc.name!r}; searched "
                f"{_searched(code)}. Put the module in the code: folder, or install it in the "
                "image"
            ) from exc
        raise UserCodeError(
            f"{setting} {ref!r}: importing {module_name!r} failed, it imports the missing "
            f"module {exc.name!r} ({last_frame(exc)}); add it to the code's dependencies"
        ) from exc
    except SyntaxError as exc:
        raise UserCodeError(
            f"{setting} {ref!r}: {module_name!r} has a syntax error at {last_frame(exc)}"
        ) from exc
    except Exception as exc:
        raise UserCodeError(
            f"{setting} {ref!r}: importing {module_name!r} raised {type(exc).__name__}: {exc} "
            f"at {last_frame(exc)}"
        ) from exc
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            public = sorted(n for n in vars(module) if not n.startswith("_"))
            raise UserCodeError(
                f"{setting} {ref!r}: module {module_name!r} ({getattr(module, '__file__', '?')}) "
                f"has no attribute {attribute!r}; it defines {', '.join(public) or 'nothing'}"
            )
        target = getattr(target, part)
    return target
