"""Search-space values as the strings a cluster tuner passes to its trials.

Katib and Trainer's OptimizationJob both hand a trial each value as text, which trainpipe's
training spec reads back as YAML. A number is written as the shortest text that reads back as
itself; a categorical choice is checked to read back unchanged and to hold nothing that would
break the JSON document it is substituted into (quotes, backslashes, control characters) or
start another substitution (``${``, ``$(``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import yaml

from trainpipe.config import parse_override
from trainpipe.errors import ConfigError, TuningError


def float_text(value: float) -> str:
    """Shortest text that reads back as ``value`` (Go's ParseFloat and YAML both accept it)."""
    return repr(float(value))


def choice_texts(key: str, choices: Sequence[Any], *, carrier: str) -> list[str]:
    """Every choice of ``tune.search_space.<key>`` as the string ``carrier`` (e.g. ``"a Katib"``)
    passes, each checked to read back unchanged, all distinct.

    Raises:
        TuningError: a choice does not survive the trip, or two become the same string.
    """
    texts = [_choice_text(key, choice, carrier=carrier) for choice in choices]
    if len(set(texts)) != len(texts):
        raise TuningError(
            f"tune.search_space.{key}: choices {list(choices)!r} are not distinct as "
            f"{carrier} strings {texts!r}"
        )
    return texts


def _choice_text(key: str, choice: Any, *, carrier: str) -> str:
    if isinstance(choice, str):
        text = choice
    elif isinstance(choice, bool) or choice is None or isinstance(choice, (int, float)):
        text = json.dumps(choice)
    else:
        text = yaml.safe_dump(choice, default_flow_style=True, width=1 << 30).strip()
    unsafe = (
        not text
        or any(ch in text for ch in '"\\')
        or any(ord(ch) < 32 for ch in text)
        or "${" in text
        or "$(" in text
    )
    same = False
    if not unsafe:
        try:
            parsed = parse_override(f"{key}={text}")[1]
        except ConfigError:
            parsed = None
        else:
            same = json.dumps(parsed, sort_keys=True) == json.dumps(choice, sort_keys=True)
    if unsafe or not same:
        raise TuningError(
            f"tune.search_space.{key}: choice {choice!r} does not survive the trip through "
            f"{carrier} string: it must read back as the same YAML value and hold no quotes, "
            "backslashes or control characters (quote-free text such as adamw, 0.5, true or "
            "[64, 32])"
        )
    return text
