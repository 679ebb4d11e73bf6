"""Column roles: which columns of a raw table are features, and how each is read.

Ingest plans every column before it converts any: ``data.drop`` leaves columns out,
``data.features`` chooses them, ``data.roles`` (and ``data.categorical``/``data.text``) sets
roles, and every other column's role is inferred from its name and values:

- booleans and numbers are ``numeric``, except integer columns named like an identifier
  (``id``, ``user_id``, ``RespondentID``) or holding a row number (0, 1, 2, ...), which are ``id``;
- datetimes, and strings that nearly all parse as dates, are ``date`` (split into numeric parts);
- strings that are nearly all numbers are ``numeric``, the few other values read as missing;
- strings named like an identifier, or distinct in every row, are ``id``;
- long strings (several words on average) are ``text``;
- other strings with few distinct values are ``categorical``; with too many they are unused.

An ``id`` column is no feature; one that repeats (a panel's person) keeps its rows in one split
unless ``split.group_by`` names another column. Each decision, with its reason, is kept in the
plan and listed in the statistics, so nothing is decided silently.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from trainpipe.config import DataConfig, RunConfig
from trainpipe.errors import DataError

__all__ = [
    "CATEGORY_LIMIT",
    "ColumnDecision",
    "ColumnPlan",
    "apply_plan",
    "order_keys",
    "plain_numbers",
    "plan_columns",
    "prepare_rows",
]

Role = Literal["numeric", "categorical", "date", "text", "id", "unused"]

CATEGORY_LIMIT = 100
"""Most distinct values an inferred categorical column may have (one input per value)."""
NUMERIC_SHARE = 0.9
"""Share of a string column's values that must be numbers for it to be read as numeric."""
DATE_SHARE = 0.95
"""Share of a string column's values that must parse as dates for it to be read as dates."""
MAX_MISSING_TOKENS = 5
"""Most distinct non-numeric strings a numeric column may hold (read as missing)."""
MARKED_NUMERIC_SHARE = 0.5
"""From this share of numbers, a string column with too many distinct values for a category,
whose other values are a few repeated tokens, is numbers with missing-value markers: unused,
with a message saying how to declare them."""
TEXT_WORDS = 4.0
"""Mean words per value from which a string column is free text."""
DATE_PARTS = ("year", "month", "day", "day_of_week")
_NUMERIC_DATE = r"^(\d{1,2})[/.-](\d{1,2})[/.-]\d{2,4}\b"
"""A date written as numbers with the year last (``03/04/2022``, ``3.4.22``): its first two
numbers are the day and the month in one order or the other."""
_ORDERS = {True: "day/month/year", False: "month/day/year"}
_CURRENCY = r"\s*[$€£¥₹]\s*"
_POINT_DECIMAL_GROUPED = r"[-+]?\d{1,3}(,\d{3})+(\.\d+)?"
"""1,234 or 1,234.50: thousands commas (a decimal point after them)."""
_COMMA_DECIMAL = r"[-+]?\d{1,3}(\.\d{3})*(,\d+)?|[-+]?\d+,\d+"
"""1.234,50, 725,08, 1.234 or 12: a decimal comma, thousands points (either optional)."""
_COMMA_DECIMAL_ONLY = r"[-+]?\d{1,3}(\.\d{3})+,\d+|[-+]?\d+,(\d{1,2}|\d{4,})"
"""Values only a decimal comma reads: thousands points before one (1.234,50), or a comma not
followed by three digits (725,08), which cannot be a thousands comma."""
_POINT_DECIMAL_ONLY = r"[-+]?\d*\.(\d{1,2}|\d{4,})"
"""Values only a decimal point reads (0.5, 3.14159): no thousands point has 1, 2 or 4+ digits
after it."""
_NUMBER_FORMATS = {
    "currency": "a currency symbol",
    "percent": "a percent sign (45% reads as 45)",
    "thousands": "thousands separators",
    "decimal_comma": "a decimal comma (1.234,50 reads as 1234.5)",
    "parentheses": "parentheses for negatives",
}

_ID_NAME = re.compile(r"(^|[_\s.-])(id|uuid|guid)$", re.IGNORECASE)
_CAMEL_ID = re.compile(r"[a-z0-9](Id|ID)$")
_DATE_LOOK = re.compile(
    r"\d{1,4}[-/.:]\d{1,2}|\d{4}-\d{2}|[A-Za-z]{3,9}\s+\d{1,2},?\s+\d{4}"
    r"|\d{1,2}[-/ ][A-Za-z]{3,9}[-/ ,]+\d{2,4}"  # 19-Sep-03, 5 March 2021
)


@dataclass(frozen=True)
class ColumnDecision:
    """The role of one column, who decided it, and why."""

    column: str
    role: Role
    source: Literal["config", "inferred"]
    reason: str
    feature: bool
    """Whether the model reads it (through ``derived`` columns for a date)."""
    derived: tuple[str, ...] = ()
    """The feature columns made from it (a date's parts), when they differ from the column."""
    missing_tokens: dict[str, int] = field(default_factory=dict)
    """Strings of a numeric or date column that did not parse, read as missing, with counts."""
    number_format: tuple[str, ...] = ()
    """What a numeric column's text wraps its numbers in and is read without (``currency``,
    ``percent``, ``thousands``, ``parentheses``: see :func:`plain_numbers`)."""
    trimmed: int = 0
    """Values of a categorical column read without surrounding blanks (``'Pro '`` as ``Pro``)."""
    day_first: bool | None = None
    """A date column's numeric dates (``03/04/2022``) put the day first (True), the month
    (False); None: it has none."""
    date_order: str = ""
    """How the values decided it, for people (``day/month/year: '24/10/2022' has a day above
    12``); empty where ``data.day_first`` did."""

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``stats.json``."""
        data = asdict(self)
        data["derived"] = list(self.derived)
        data["number_format"] = list(self.number_format)
        return data

    @property
    def outputs(self) -> tuple[str, ...]:
        """The feature columns this column becomes (none when it is no feature)."""
        if not self.feature:
            return ()
        return self.derived or (self.column,)


@dataclass(frozen=True)
class ColumnPlan:
    """Every column's decision, in the table's column order, and the split's group column."""

    decisions: tuple[ColumnDecision, ...]
    group: str = ""
    """The column whose rows stay in one split ("" for none)."""
    group_source: str = ""
    """Why ``group`` was chosen: ``split.group_by``, or the repeating id column it is."""
    dropped: tuple[str, ...] = ()
    """Columns ``data.drop`` left out."""
    order: str = ""
    """The ``split.order_by`` column ("" for none): kept as its times, in seconds (a date
    column's moments since the Unix epoch, UTC) or as the numbers it holds."""

    @classmethod
    def numeric(cls, columns: Sequence[str], reason: str) -> ColumnPlan:
        """A plan reading every one of ``columns`` as a numeric feature, for ``reason``."""
        return cls(
            decisions=tuple(
                ColumnDecision(
                    column=c, role="numeric", source="inferred", reason=reason, feature=True
                )
                for c in columns
            )
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnPlan:
        """Inverse of :meth:`to_dict` (a dataset schema's ``column_roles``)."""
        decisions = []
        for d in data.get("columns", []):
            fields = {**d, "derived": tuple(d.get("derived") or ())}
            fields["number_format"] = tuple(d.get("number_format") or ())
            fields["missing_tokens"] = dict(d.get("missing_tokens") or {})
            decisions.append(ColumnDecision(**fields))
        return cls(
            decisions=tuple(decisions),
            group=str(data.get("group", "")),
            group_source=str(data.get("group_source", "")),
            dropped=tuple(data.get("dropped") or ()),
            order=str(data.get("order", "")),
        )

    @property
    def features(self) -> list[str]:
        """Feature columns after conversion, in order (a date's parts in place of the date)."""
        return [name for d in self.decisions for name in d.outputs]

    def with_role(self, role: Role) -> list[str]:
        """Feature columns of one role (a date's parts count as numeric)."""
        if role == "numeric":
            return [n for d in self.decisions if d.role in ("numeric", "date") for n in d.outputs]
        return [n for d in self.decisions if d.role == role for n in d.outputs]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``stats.json``: each decision, the group, dropped and time columns."""
        return {
            "columns": [d.to_dict() for d in self.decisions],
            "group": self.group,
            "group_source": self.group_source,
            "dropped": list(self.dropped),
            "order": self.order,
        }


def plan_columns(raw: pd.DataFrame, config: RunConfig, *, display: str) -> ColumnPlan:
    """Decide the role of every column of ``raw`` but the label (see the module docstring).

    Raises:
        DataError: ``data.features``, ``data.drop``, ``data.roles``, ``data.categorical``,
            ``data.text`` or ``split.group_by`` names a column the table lacks.
    """
    data = config.data
    columns = [str(c) for c in raw.columns]
    _require(columns, data.drop, "data.drop", display)
    _require(columns, data.features, "data.features", display)
    _require(columns, list(data.roles), "data.roles", display)
    _require(columns, data.categorical, "data.categorical", display)
    _require(columns, [data.text] if data.text else [], "data.text", display)
    group_by, order_by = config.split.group_by, config.split.order_by
    _require(columns, [group_by] if group_by else [], "split.group_by", display)
    _require(columns, [order_by] if order_by else [], "split.order_by", display)
    chosen = set(data.features)
    dropped = set(data.drop)
    decisions = []
    for column in columns:
        if column == data.label or column in dropped:
            continue
        if chosen and column not in chosen and column not in (group_by, order_by):
            continue
        try:
            decision = _decide(raw[column], column, data)
        except DataError as exc:
            raise DataError(f"{display}: {exc}") from exc
        if column in chosen and decision.role == "text" and not decision.feature:
            raise DataError(
                f"{display}: data.features lists {column!r}, which holds free text "
                f"({decision.reason}); set data.text to it (the only feature then, with "
                f"model.kind transformer), or data.roles.{column}: categorical"
            )
        if column in chosen and not decision.feature:
            decision = _as_feature(decision)
        if column == group_by and column not in chosen and decision.feature and chosen:
            decision = _not_feature(decision, "split.group_by, not in data.features")
        if column == order_by and column not in chosen and decision.feature and chosen:
            decision = _not_feature(decision, "split.order_by, not in data.features")
        decisions.append(decision)
    _check_derived_names(decisions, columns, display)
    # a time split places rows by their time alone: no column groups them
    group, why = ("", "") if order_by else _group(raw, decisions, group_by)
    if group and group == group_by and not chosen:
        decisions = [
            _not_feature(d, "the split.group_by column") if d.column == group else d
            for d in decisions
        ]
    return ColumnPlan(
        decisions=tuple(decisions),
        group=group,
        group_source=why,
        dropped=tuple(c for c in columns if c in dropped),
        order=order_by,
    )


def apply_plan(raw: pd.DataFrame, plan: ColumnPlan, label: str, *, display: str) -> pd.DataFrame:
    """The table the plan describes, in the table's column order: the label, the features
    converted to their roles (numbers as float64, categories and text as strings), the group
    column when it is no feature, and the time column as its times (:func:`order_keys`) unless
    it is a numeric feature, which holds them already.

    Raises:
        DataError: the time column is a categorical or text feature, or holds a value that
            is neither a number nor a date.
    """
    decisions = {d.column: d for d in plan.decisions}
    out: dict[str, pd.Series] = {}
    for column in raw.columns:
        if column == label:
            out[label] = raw[label]
        decision = decisions.get(column)
        if decision is None:
            continue
        series = raw[column]
        if decision.column == plan.group and not decision.feature:
            out[decision.column] = series
        if decision.column == plan.order:
            if decision.feature and decision.role in ("categorical", "text"):
                raise DataError(
                    f"{display}: split.order_by column {column!r} is a {decision.role} feature "
                    f"({decision.reason}); a time split orders rows by numbers or dates: set "
                    f"data.roles.{column} to date or numeric, or choose another column"
                )
            if decision.outputs != (column,):  # a numeric feature holds its times already
                out[column] = order_keys(
                    series, column, display=display, day_first=decision.day_first
                )
        if not decision.feature:
            continue
        if decision.role == "numeric":
            out[decision.column] = _numbers(series, decision, display)
        elif decision.role == "date":
            out.update(_date_parts(series, decision.column, decision.day_first))
        elif decision.role == "text":
            out[decision.column] = series.map(lambda v: "" if _missing(v) else str(v))
        else:
            out[decision.column] = _categories(series)
    return pd.DataFrame(out, index=raw.index)


def order_keys(
    series: pd.Series, column: str, *, display: str, day_first: bool | None = None
) -> pd.Series:
    """The times of the ``split.order_by`` column as float64: numbers as they are, dates (or
    datetimes) as seconds since the Unix epoch in UTC, numeric dates read day first as
    ``day_first`` says (None: as the values show); a missing or empty value is NaN.

    Raises:
        DataError: a value is neither a number nor a date (naming it and its data row).
    """
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return series.astype("float64")
    if pd.api.types.is_datetime64_any_dtype(series):
        return _seconds(series)
    texts = _stripped(series).replace("", np.nan)
    present = texts.notna()
    numbers = pd.to_numeric(texts, errors="coerce")
    if bool(numbers[present].notna().all()):
        return numbers.astype("float64")
    if day_first is None:
        try:
            day_first = _day_order(texts.dropna(), column)[0]
        except DataError as exc:
            raise DataError(f"{display}: {exc}") from exc
    moments = _parse_dates(texts, day_first)
    bad = present & moments.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"{display}: split.order_by column {column!r} holds {series.iloc[row]!r} at data "
            f"row {row + 1}, neither a number nor a date ({int(bad.sum())} such values); a time "
            "split orders rows by numbers or by dates: fix those values or choose another column"
        )
    return _seconds(moments)


def _seconds(moments: pd.Series) -> pd.Series:
    """Datetimes as float64 seconds since the Unix epoch (UTC; naive ones read as UTC)."""
    stamps = pd.to_datetime(moments, errors="coerce", utc=True)
    return (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds().astype("float64")


def prepare_rows(frame: pd.DataFrame, plan: Mapping[str, Any]) -> pd.DataFrame:
    """Raw rows (as they come to a loaded model) converted the way ingest converted the training
    data, by the plan's dict (:meth:`ColumnPlan.to_dict`): a date column becomes its parts, and
    the words ingest read as missing in a numeric column (``refused``) become missing values,
    for the model's missing-value policy to fill or refuse. Rows that already hold the converted
    columns (a split written by trainpipe) pass unchanged; anything else is left for the model's
    checks to name."""
    out = frame
    for d in plan.get("columns", []):
        if not d.get("feature"):
            continue
        column, derived = str(d["column"]), [str(n) for n in d.get("derived") or []]
        converted = all(name in frame.columns for name in derived)
        if d["role"] == "date" and column in frame.columns and not converted:
            out = out.assign(**_date_parts(frame[column], column, d.get("day_first")))
        if column not in frame.columns or pd.api.types.is_numeric_dtype(frame[column]):
            continue
        tokens = d.get("missing_tokens") or {}
        if d["role"] == "numeric" and (tokens or d.get("number_format")):
            stripped = _stripped(frame[column])
            known = d.get("number_format") or ()
            texts = plain_numbers(stripped, known)[0] if known else stripped
            out = out.assign(**{column: texts.mask(stripped.isin(list(tokens)))})
        elif d["role"] == "categorical":
            out = out.assign(**{column: _categories(frame[column])})
    return out


def plain_numbers(
    texts: pd.Series, known: Sequence[str] = (), *, decimal_comma: bool = True
) -> tuple[pd.Series, tuple[str, ...]]:
    """Number texts without what exports write around their numbers, and which of these
    occurred: parentheses around a negative amount (``parentheses``: ``(12.50)`` is -12.50), a
    currency symbol (``$``, ``€``, ``£``, ``¥``, ``₹``: ``currency``), a trailing ``%``
    (``percent``: ``45%`` reads as 45), and thousands commas before a decimal point
    (``thousands``: ``1,234.50``) or, in a column where some value can only be read so
    (``1.234,50``, ``725,08``) and none only the other way (``0.5``), thousands points and a
    decimal comma (``decimal_comma``). Other texts pass unchanged; ``texts`` holds stripped
    strings. ``known``: the formats ingest found in the column's training values, which decide
    how new values read (``1.234`` is 1234 in a ``decimal_comma`` column whatever the new rows
    hold); ``decimal_comma=False`` (``data.csv.decimal: '.'``) never reads a comma as one."""
    text = texts.astype("string")
    found = []
    negative = text.str.fullmatch(r"\(([^()]*)\)").fillna(False).astype(bool)
    if negative.any():
        found.append("parentheses")
        text = text.where(~negative, "-" + text.str.slice(1, -1).str.strip())
    currency = text.str.contains(_CURRENCY, regex=True).fillna(False).astype(bool)
    if currency.any():
        found.append("currency")
        text = text.str.replace(_CURRENCY, "", regex=True).str.replace(
            r"^([-+])\s+", r"\1", regex=True
        )
    percent = text.str.endswith("%").fillna(False).astype(bool)
    if percent.any():
        found.append("percent")
        text = text.where(~percent, text.str.slice(0, -1).str.strip())
    if known:
        european = "decimal_comma" in known
    else:
        european = (
            decimal_comma
            and bool(_matches(text, _COMMA_DECIMAL_ONLY).any())
            and not bool(_matches(text, _POINT_DECIMAL_GROUPED).any())
            and not bool(_matches(text, _POINT_DECIMAL_ONLY).any())
        )
    if european:
        found.append("decimal_comma")
        written = _matches(text, _COMMA_DECIMAL)
        plain = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
        text = text.where(~written, plain)
    else:
        grouped = _matches(text, _POINT_DECIMAL_GROUPED)
        if grouped.any():
            found.append("thousands")
            text = text.where(~grouped, text.str.replace(",", "", regex=False))
    if not found:
        return texts, ()
    return text.astype(object).where(texts.notna()), tuple(found)


def _matches(text: pd.Series, pattern: str) -> pd.Series:
    """Whether each of ``text`` (a string Series) matches ``pattern`` whole (missing: no)."""
    return text.str.fullmatch(pattern).fillna(False).astype(bool)


def _categories(series: pd.Series) -> pd.Series:
    """A categorical column's values as strings without surrounding blanks (missing stays)."""
    return series.map(lambda v: v if _missing(v) else str(v).strip())


def _missing(value: Any) -> bool:
    """Whether one cell is missing (a list or a mapping in a cell is a value, not missing)."""
    return bool(pd.api.types.is_scalar(value) and pd.isna(value))


def _stripped(series: pd.Series) -> pd.Series:
    """``series`` with surrounding blanks removed from its strings (other values as they are)."""
    return series.map(lambda v: v.strip() if isinstance(v, str) else v)


def _named_like_id(column: str) -> bool:
    """``id``, ``user_id``, ``user-id``, ``RespondentID``, ``userId``, ``uuid``, ``guid``."""
    return bool(_ID_NAME.search(column) or _CAMEL_ID.search(column))


def _require(columns: Sequence[str], names: Sequence[str], key: str, display: str) -> None:
    unknown = [n for n in names if n not in columns]
    if unknown:
        shown = ", ".join(columns[:20]) + (" ..." if len(columns) > 20 else "")
        raise DataError(
            f"{display}: {key} names {unknown}, which the data lacks; columns are: {shown}"
        )


def _decide(series: pd.Series, column: str, data: DataConfig) -> ColumnDecision:
    role = data.roles.get(column)
    if role is None and column in data.categorical:
        role = "categorical"
    if role is None and column == data.text:
        role = "text"
    if role is not None:
        return _configured(series, column, role, data)
    return _infer(series, column, data)


def _configured(series: pd.Series, column: str, role: str, data: DataConfig) -> ColumnDecision:
    comma = data.csv.decimal != "."
    key = f"data.roles.{column}" if column in data.roles else (
        "data.text" if role == "text" else "data.categorical"
    )  # fmt: skip
    if role == "numeric":
        return _numeric_decision(
            series, column, "config", f"set by {key}", strict=True, decimal_comma=comma
        )
    if role == "date":
        return _date_decision(series, column, "config", f"set by {key}", data.day_first)
    if role == "text" and column != data.text:
        return ColumnDecision(
            column=column, role="text", source="config", feature=False,
            reason=f"set by {key}; free text is read only as data.text (with model.kind "
            "transformer), so it is unused",
        )  # fmt: skip
    feature = role in ("categorical", "text")
    decision = ColumnDecision(
        column=column, role=role, source="config", reason=f"set by {key}",  # type: ignore[arg-type]
        feature=feature,
    )  # fmt: skip
    return _trimmed(decision, series) if role == "categorical" else decision


def _trimmed(decision: ColumnDecision, series: pd.Series) -> ColumnDecision:
    """A categorical decision counting the values read without surrounding blanks."""
    texts = series.dropna().astype(str)
    padded = texts[texts != texts.str.strip()]
    if padded.empty:
        return decision
    reason = (
        f"{decision.reason}; {len(padded)} values read without their surrounding blanks "
        f"(e.g. {padded.iloc[0]!r} as {padded.iloc[0].strip()!r})"
    )
    return replace(decision, reason=reason, trimmed=len(padded))


def _infer(series: pd.Series, column: str, data: DataConfig) -> ColumnDecision:
    comma = data.csv.decimal != "."  # data.csv.decimal: '.' reads no comma as a decimal mark
    present = series.dropna()
    if series.dtype == object and len(nested := present[present.map(_is_container)]):
        return _inferred(
            column,
            "unused",
            f"lists or objects in its cells (e.g. {_shown(nested.iloc[0])}), which no role "
            f"reads; spread them into columns of their own before ingest, or set data.drop",
            feature=False,
        )
    if pd.api.types.is_bool_dtype(series):
        return _inferred(column, "numeric", "true/false values, read as 1/0")
    if pd.api.types.is_datetime64_any_dtype(series):
        return _date_decision(series, column, "inferred", "datetime values", data.day_first)
    if pd.api.types.is_numeric_dtype(series):
        return _infer_number(present, column)
    texts = present.astype(str).str.strip()
    texts = texts[texts != ""]
    if texts.empty:
        return _inferred(column, "numeric", "no values")
    numbers = pd.to_numeric(texts, errors="coerce")
    share = float(numbers.notna().mean())
    tokens = texts[numbers.isna()].nunique()
    if share == 1.0:
        return _numeric_decision(
            series, column, "inferred", "numbers stored as text", decimal_comma=comma
        )
    if share >= NUMERIC_SHARE and tokens <= MAX_MISSING_TOKENS:
        return _numeric_decision(
            series, column, "inferred", f"{share:.0%} of its values are numbers",
            decimal_comma=comma,
        )  # fmt: skip
    plain, written = plain_numbers(texts, decimal_comma=comma)
    if written:
        amounts = pd.to_numeric(plain, errors="coerce")
        if amounts.notna().mean() >= NUMERIC_SHARE and plain[amounts.isna()].nunique() <= (
            MAX_MISSING_TOKENS
        ):
            return _numeric_decision(series, column, "inferred", "numbers", decimal_comma=comma)
    if _named_like_id(column):
        return _inferred(column, "id", "named like an identifier")
    if _date_share(texts) >= DATE_SHARE:
        return _date_decision(series, column, "inferred", "values parse as dates", data.day_first)
    distinct = texts.nunique()
    words = float(texts.str.split().str.len().mean())
    if words >= TEXT_WORDS:
        return ColumnDecision(
            column=column, role="text", source="inferred", feature=False,
            reason=f"free text ({words:.1f} words per value on average); it is read only as "
            "data.text with model.kind transformer, so it is unused",
        )  # fmt: skip
    if distinct == len(texts) and len(texts) >= 20:
        return _inferred(column, "id", f"a distinct value in each of its {len(texts)} rows")
    if distinct <= CATEGORY_LIMIT:
        return _trimmed(_inferred(column, "categorical", f"{distinct} distinct values"), series)
    if share >= MARKED_NUMERIC_SHARE and tokens <= MAX_MISSING_TOKENS:
        counts = texts[numbers.isna()].value_counts()
        shown = ", ".join(f"{k!r} ({v})" for k, v in counts.items())
        listed = ", ".join(str(k) for k in counts.index)
        return _inferred(
            column,
            "unused",
            f"{share:.0%} of its values are numbers, fewer than the {NUMERIC_SHARE:.0%} that "
            f"make a numeric column, and the rest are {shown}: if those mark missing values, "
            f"list them in data.csv.missing_values: [{listed}] (the column is then numeric, "
            f"its missing values handled by data.missing); else set data.roles.{column}: "
            "categorical",
            feature=False,
        )
    return _inferred(
        column,
        "unused",
        f"{distinct} distinct short strings, more than the {CATEGORY_LIMIT} an inferred "
        f"category may have; set data.roles.{column}: categorical to one-hot encode it",
        feature=False,
    )


def _is_container(value: Any) -> bool:
    """Whether a cell holds a list or an object (as JSON exports nest them)."""
    return isinstance(value, (list, tuple, dict, np.ndarray))


def _shown(value: Any) -> str:
    """A cell's value for a message, cut to 60 characters."""
    text = repr(value.tolist() if isinstance(value, np.ndarray) else value)
    return text if len(text) <= 60 else text[:57] + "..."


def _infer_number(present: pd.Series, column: str) -> ColumnDecision:
    values = present.to_numpy(dtype="float64")
    whole = bool(len(values)) and bool(np.all(np.floor(values) == values))
    if whole and (_named_like_id(column)):
        return _inferred(column, "id", "integers in a column named like an identifier")
    if whole and len(values) >= 10 and np.all(np.diff(values) == 1):
        return _inferred(column, "id", f"a row number ({values[0]:g}, {values[1]:g}, ...)")
    return _inferred(column, "numeric", "numbers")


def _inferred(
    column: str, role: Role, reason: str, *, feature: bool | None = None
) -> ColumnDecision:
    return ColumnDecision(
        column=column,
        role=role,
        source="inferred",
        reason=reason,
        feature=role in ("numeric", "categorical") if feature is None else feature,
    )


def _numeric_decision(
    series: pd.Series, column: str, source: Literal["config", "inferred"], reason: str,
    *, strict: bool = False, decimal_comma: bool = True,
) -> ColumnDecision:  # fmt: skip
    tokens: dict[str, int] = {}
    written: tuple[str, ...] = ()
    if not pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        present = series.dropna()
        texts = present.astype(str).str.strip()
        plain, written = plain_numbers(texts, decimal_comma=decimal_comma)
        if written:
            example = texts[plain != texts].iloc[0]
            kinds = [_NUMBER_FORMATS[kind] for kind in written]
            shown = " and ".join([", ".join(kinds[:-1]), kinds[-1]] if len(kinds) > 1 else kinds)
            reason += f" written with {shown}, read without them (e.g. {example!r})"
        bad = texts[pd.to_numeric(plain, errors="coerce").isna() & (texts != "")]
        tokens = {str(k): int(v) for k, v in bad.value_counts().items()}
        if tokens and not strict:
            shown = ", ".join(f"{k!r} ({v})" for k, v in list(tokens.items())[:5])
            reason += f"; the others read as missing: {shown}"
    return ColumnDecision(
        column=column, role="numeric", source=source, reason=reason, feature=True,
        missing_tokens=tokens, number_format=written,
    )  # fmt: skip


def _date_decision(
    series: pd.Series,
    column: str,
    source: Literal["config", "inferred"],
    reason: str,
    day_first: bool | None,
) -> ColumnDecision:
    tokens: dict[str, int] = {}
    order = ""
    if not pd.api.types.is_datetime64_any_dtype(series):
        texts = series.dropna().astype(str).str.strip()
        if day_first is None:
            day_first, order = _day_order(texts, column)
            reason += f", {order}" if order else ""
        else:
            reason += f", {_ORDERS[day_first]} (data.day_first)"
        bad = texts[_parse_dates(texts, day_first).isna() & (texts != "")]
        tokens = {str(k): int(v) for k, v in bad.value_counts().items()}
        if tokens:
            reason += f"; {sum(tokens.values())} values that do not parse read as missing"
    return ColumnDecision(
        column=column, role="date", source=source, reason=reason + ", as numeric parts",
        feature=True, derived=tuple(f"{column}_{part}" for part in DATE_PARTS),
        missing_tokens=tokens, day_first=day_first, date_order=order,
    )  # fmt: skip


def _day_order(texts: pd.Series, column: str) -> tuple[bool | None, str]:
    """Whether the numeric dates among ``texts`` (``03/04/2022``) put the day first, as their
    values say, and how that was decided: by a value whose first number (a day) or second
    number (then the day) is above 12; month first where none is. ``(None, "")`` when no
    value is a numeric date.

    Raises:
        DataError: values of both orders in the column.
    """
    fields = texts.str.extract(_NUMERIC_DATE).dropna()
    if fields.empty:
        return None, ""
    first, second = fields[0].astype(int), fields[1].astype(int)
    days_first = texts.loc[fields.index[(first > 12).to_numpy()]]
    months_first = texts.loc[fields.index[(second > 12).to_numpy()]]
    if len(days_first) and len(months_first):
        raise DataError(
            f"date column {column!r} holds day/month/year dates ({days_first.iloc[0]!r}) and "
            f"month/day/year ones ({months_first.iloc[0]!r}); write them one way, or set "
            "data.day_first to the way most are written (the others then read as missing)"
        )
    if len(days_first):
        return True, f"{_ORDERS[True]}: {days_first.iloc[0]!r} has a day above 12"
    if len(months_first):
        return False, f"{_ORDERS[False]}: {months_first.iloc[0]!r} has a day above 12"
    return False, (
        f"{_ORDERS[False]}, as no value says which comes first (none has a number above 12 in "
        "the first two places); set data.day_first: true if the day comes first"
    )


def _as_feature(decision: ColumnDecision) -> ColumnDecision:
    """A column data.features names is a feature: an id or unused string becomes categorical."""
    role: Role = "categorical" if decision.role in ("id", "unused") else decision.role
    if role == "text":
        return decision
    reason = f"listed in data.features (inferred: {decision.role}, {decision.reason})"
    return ColumnDecision(column=decision.column, role=role, source="config", reason=reason,
                          feature=True)  # fmt: skip


def _not_feature(decision: ColumnDecision, why: str) -> ColumnDecision:
    return ColumnDecision(
        column=decision.column, role="id", source="config", reason=why, feature=False
    )


def _group(raw: pd.DataFrame, decisions: list[ColumnDecision], group_by: str) -> tuple[str, str]:
    if group_by:
        return group_by, "split.group_by"
    for d in decisions:
        if d.role == "id" and not d.feature:
            values = raw[d.column].dropna()
            if values.duplicated().any():
                repeats = int(values.duplicated().sum())
                return d.column, (
                    f"the id column {d.column!r} repeats ({repeats} rows share an earlier "
                    "row's id), so rows of one id stay in one split; set split.group_by to "
                    "choose another column"
                )
    return "", ""


def _check_derived_names(
    decisions: list[ColumnDecision], columns: Sequence[str], display: str
) -> None:
    taken = set(columns)
    for d in decisions:
        clash = [name for name in d.derived if name in taken]
        if clash:
            raise DataError(
                f"{display}: the date column {d.column!r} would become {list(d.derived)}, but "
                f"the data already has {clash}; rename them or set data.roles.{d.column}"
            )


def _numbers(series: pd.Series, decision: ColumnDecision, display: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return series.astype("float64")
    texts = _stripped(series)
    known = decision.number_format
    plain = plain_numbers(texts, known)[0] if known else texts
    converted = pd.to_numeric(plain.replace("", np.nan), errors="coerce")
    bad = converted.isna() & texts.notna() & (texts != "")
    if bad.any() and decision.source == "config" and decision.missing_tokens:
        row = int(np.flatnonzero(bad.to_numpy())[0])
        tokens = decision.missing_tokens
        marker = ""
        if len(tokens) <= MAX_MISSING_TOKENS and sum(tokens.values()) > 1:
            listed = ", ".join(tokens)
            marker = (
                f"; if they mark missing values, list them in data.csv.missing_values: [{listed}]"
            )
        raise DataError(
            f"{display}: column {decision.column!r} ({decision.reason}) has a non-numeric value "
            f"{series.iloc[row]!r} at data row {row + 1} ({sum(tokens.values())} such cells: "
            f"{', '.join(f'{k!r}' for k in list(tokens)[:5])}){marker}; else fix the values or "
            f"set data.roles.{decision.column} to categorical"
        )
    return converted.astype("float64")


def _parse_dates(texts: pd.Series, day_first: bool | None = None) -> pd.Series:
    """Dates of ``texts`` (NaT where none parses); numeric ones (``03/04/2022``) read day first
    as ``day_first`` says, year-first ones always as year, month, day."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if day_first is None:
            return pd.to_datetime(texts, errors="coerce", format="mixed")
        numeric = texts.str.match(_NUMERIC_DATE).fillna(False).astype(bool)
        moments = pd.to_datetime(texts.where(~numeric), errors="coerce", format="mixed")
        if numeric.any():
            moments[numeric] = pd.to_datetime(
                texts[numeric], errors="coerce", format="mixed", dayfirst=day_first
            )
        return moments


def _date_share(texts: pd.Series) -> float:
    sample = texts.iloc[:2000]
    if not sample.str.contains(_DATE_LOOK).mean() >= DATE_SHARE:
        return 0.0
    return float(_parse_dates(sample).notna().mean())


def _date_parts(
    series: pd.Series, column: str, day_first: bool | None = None
) -> dict[str, pd.Series]:
    if pd.api.types.is_datetime64_any_dtype(series):
        moments = series
    else:
        texts = _stripped(series)
        moments = _parse_dates(texts, day_first)
    moments = pd.to_datetime(moments, errors="coerce", utc=True)
    return {f"{column}_{part}": getattr(moments.dt, part).astype("float64") for part in DATE_PARTS}
