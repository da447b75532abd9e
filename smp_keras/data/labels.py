"""Label validation: class ids, regression values and SQuAD answers.

Data files spell labels in many ways (ids, integral floats, digit strings,
label names in any case); these helpers accept all of them and report every
offending value at once, so a bad file is fixed in one go.
"""

from __future__ import annotations

import collections
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from smp_keras.data.tasks import TaskSpec, get_task

__all__ = ["check_answers", "label_ids"]

_MAX_SHOWN = 10
_DIGITS = re.compile(r"-?[0-9]+")


def label_ids(values: Sequence[Any], task: str | TaskSpec) -> np.ndarray:
    """Validate labels and convert them to the task's numeric form.

    Class labels may be ids (``bool``, ``int``, integral ``float``, digit
    strings) or label names (case-insensitive); regression labels must be
    finite numbers (or numeric strings).

    Args:
        values: The labels.
        task: Task name or :class:`~smp_keras.data.TaskSpec` (not a span
            task).

    Returns:
        ``int32`` label ids, or ``float32`` values for regression.

    Raises:
        ValueError: Listing the offending values (at most 10 distinct, with
            their counts) when labels fall outside the label set.

    Example:
        >>> label_ids(["entailment", 2, "Neutral", 0.0], "mnli")
        array([0, 2, 1, 0], dtype=int32)
    """
    spec = get_task(task)
    if spec.kind == "span":
        raise ValueError("`label_ids` does not apply to span tasks.")
    convert = _class_id if spec.kind == "classification" else _regression
    lookup = {name.lower(): i for i, name in enumerate(spec.label_names)}
    out = [convert(v, lookup, spec.num_labels) for v in values]
    bad = collections.Counter(
        repr(v) for v, o in zip(values, out, strict=True) if o is None
    )
    if bad:
        shown = ", ".join(f"{v} ({n}x)" for v, n in bad.most_common(_MAX_SHOWN))
        allowed = (
            f"ids 0..{spec.num_labels - 1} or names {list(spec.label_names)}"
            if spec.kind == "classification"
            else "finite numbers"
        )
        raise ValueError(
            f"Labels of task {spec.name!r} must be {allowed}. Received "
            f"{sum(bad.values())} invalid label(s): {shown}."
        )
    dtype = np.int32 if spec.kind == "classification" else np.float32
    return np.asarray(out, dtype=dtype)


def _class_id(value: Any, lookup: dict[str, int], n: int) -> int | None:
    if isinstance(value, bool | np.bool_):
        value = int(value)
    if isinstance(value, str):
        key = value.strip().lower()
        if key in lookup:
            return lookup[key]
        # ASCII digits only: `int` also reads "1_0", "٣" and, via isdigit,
        # would be asked to read "²" (and fail).
        value = int(key) if _DIGITS.fullmatch(key) else None
    if isinstance(value, float | np.floating) and float(value).is_integer():
        value = int(value)
    if isinstance(value, int | np.integer) and 0 <= value < n:
        return int(value)
    return None


def _regression(value: Any, lookup: dict[str, int], n: int) -> float | None:
    del lookup, n
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _valid_answer(answer: Any) -> bool:
    if not isinstance(answer, Mapping):
        return False
    texts, starts = answer.get("text"), answer.get("answer_start")
    return (
        isinstance(texts, Sequence)
        and isinstance(starts, Sequence)
        and 0 < len(texts) == len(starts)
        and all(isinstance(t, str) for t in texts)
        and all(isinstance(s, int) and s >= 0 for s in starts)
    )


def check_answers(answers: Sequence[Any], task: str | TaskSpec) -> None:
    """Check SQuAD-style answers of a span task.

    Each entry must be ``{"text": [str, ...], "answer_start": [int, ...]}``
    with at least one answer and as many starts as texts.

    Args:
        answers: One entry per example.
        task: A span task (for the error message).

    Raises:
        ValueError: Listing the invalid rows.

    Example:
        >>> check_answers([{"text": ["Ada"], "answer_start": [0]}], "squad")
        >>> check_answers([{"text": [], "answer_start": []}], "squad")
        Traceback (most recent call last):
        ...
        ValueError: Task 'squad': column 'answers' must hold ...
    """
    spec = get_task(task)
    bad = [i for i, answer in enumerate(answers) if not _valid_answer(answer)]
    if bad:
        raise ValueError(
            f"Task {spec.name!r}: column {spec.label_column!r} must hold "
            "SQuAD-style dicts {'text': [str, ...], 'answer_start': "
            "[int, ...]} with at least one answer. Invalid rows: "
            f"{bad[:_MAX_SHOWN]} ({len(bad)} in all), e.g. "
            f"{answers[bad[0]]!r}."
        )
