"""Argument checks shared by :mod:`smpcore` and :mod:`smp_keras`.

Every check raises an error whose message names the parameter, states the
constraint and shows the received value, e.g.
``"`density` must be in [0, 1]. Received: density=1.5"``. Wrong types raise
`TypeError`; wrong values raise `ValueError`.
"""

from __future__ import annotations

import math
import numbers
import operator
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import numpy as np

#: The largest number of entries an array can have (NumPy's index type).
MAX_SIZE = int(np.iinfo(np.intp).max)
#: The largest finite float32: the bound of a value a float32 variable holds.
FLOAT32_MAX = float(np.finfo(np.float32).max)

__all__ = [
    "FLOAT32_MAX",
    "MAX_SIZE",
    "as_array",
    "as_bool_array",
    "as_float_array",
    "check_bool",
    "check_choice",
    "check_density",
    "check_finite_array",
    "check_int",
    "check_mapping",
    "check_name",
    "check_optional",
    "check_real",
    "check_same_keys",
    "check_shape",
    "check_text",
    "type_error",
]


def _short(value: Any, limit: int = 80) -> str:
    """Returns `repr(value)` cut to `limit` characters for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def type_error(name: str, expected: str, value: Any) -> TypeError:
    """The error of a check that `value` has the wrong type.

    Example:
        >>> type_error("seed", "an int", "0")
        TypeError("`seed` must be an int. Received: seed='0' of type str")
    """
    return TypeError(
        f"`{name}` must be {expected}. Received: {name}={_short(value)} "
        f"of type {type(value).__name__}"
    )


def check_real(
    value: Any,
    name: str,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
    strict: bool = False,
) -> float:
    """Checks that `value` is a finite real number in a range.

    Returns the value as a Python `float`. Booleans are rejected with a
    `TypeError` (they are integers to Python, but never a valid number here).
    With `strict`, only Python's own `int` and `float` (and their
    subclasses) are accepted, not NumPy scalars or other `numbers.Real`:
    the numbers JSON stores.
    """
    kinds = (int, float) if strict else numbers.Real
    if isinstance(value, bool | np.bool_) or not isinstance(value, kinds):
        raise type_error(name, "a real number", value)
    try:
        number = float(value)
    except OverflowError:  # an int or Fraction beyond the float range
        number = math.inf if operator.gt(value, 0) else -math.inf
    too_low = number <= low if low_open else number < low
    too_high = number >= high if high_open else number > high
    if not math.isfinite(number) or too_low or too_high:
        allowed = _describe_range(low, high, low_open, high_open)
        raise ValueError(
            f"`{name}` must be {allowed}. Received: {name}={_short(value)}"
        )
    return number


def _describe_range(
    low: float, high: float, low_open: bool, high_open: bool
) -> str:
    """Words for a range: "finite", "finite and >= 0", "in (0, 1]"."""
    if math.isinf(low) and math.isinf(high):
        return "finite"
    if math.isinf(high):
        return f"finite and {'>' if low_open else '>='} {low:g}"
    lo, hi = "(" if low_open else "[", ")" if high_open else "]"
    return f"in {lo}{low:g}, {high:g}{hi}"


def check_density(value: Any, name: str = "density") -> float:
    """Checks a kept fraction: a finite real number in [0, 1]."""
    return check_real(value, name, low=0.0, high=1.0)


def check_int(
    value: Any,
    name: str,
    *,
    minimum: int = 0,
    maximum: int | None = None,
    strict: bool = False,
) -> int:
    """Checks that `value` is an integer (not a bool) in a range.

    The range is ``[minimum, maximum]``; no upper bound if `maximum` is None.
    With `strict`, only Python's own `int` (and its subclasses) is accepted,
    not NumPy integers or other `numbers.Integral`: the integers JSON stores.
    """
    kind = int if strict else numbers.Integral
    if isinstance(value, bool | np.bool_) or not isinstance(value, kind):
        raise type_error(name, "an int", value)
    number = int(value)
    if number < minimum:
        raise ValueError(
            f"`{name}` must be an int >= {minimum}. Received: {name}="
            f"{_short(value)}"
        )
    if maximum is not None and number > maximum:
        raise ValueError(
            f"`{name}` must be an int <= {maximum}. Received: {name}="
            f"{_short(value)}"
        )
    return number


def check_name(value: Any, name: str) -> str:
    """Checks that `value` is a non-empty `str` (a matrix name)."""
    if not isinstance(value, str):
        raise TypeError(
            f"`{name}` keys must be str. Received: {_short(value)} "
            f"of type {type(value).__name__}"
        )
    if not value:
        raise ValueError(f"`{name}` keys must be non-empty strings.")
    return value


def check_bool(value: Any, name: str) -> bool:
    """Checks that `value` is a Python `bool`."""
    if not isinstance(value, bool):
        raise type_error(name, "a bool", value)
    return value


def check_choice(value: Any, name: str, choices: Collection[str]) -> str:
    """Checks that `value` is one of the strings `choices`.

    Example:
        >>> check_choice("x", "kind", ("a", "b"))
        Traceback (most recent call last):
        ...
        ValueError: `kind` must be one of ('a', 'b'). Received: kind='x'
    """
    expected = f"one of {tuple(choices)}"
    if not isinstance(value, str):
        raise type_error(name, expected, value)
    if value not in choices:
        raise ValueError(
            f"`{name}` must be {expected}. Received: {name}={_short(value)}"
        )
    return value


def check_text(value: Any, name: str, *, path: bool = False) -> str:
    """Checks that `value` is a `str` that is not empty or only whitespace.

    With `path`, an `os.PathLike` is accepted too and returned as its
    `str` (`os.fspath`).
    """
    if path and isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise type_error(name, "a non-empty string", value)
    if not value.strip():
        raise ValueError(
            f"`{name}` must be a non-empty string. Received: "
            f"{name}={_short(value)}"
        )
    return value


def check_optional(
    check: Callable[..., Any], value: Any, name: str, **kwargs: Any
) -> Any:
    """None if `value` is None, else `check(value, name, **kwargs)`.

    Example:
        >>> check_optional(check_int, None, "steps", minimum=1) is None
        True
        >>> check_optional(check_int, 5, "steps", minimum=1)
        5
    """
    return None if value is None else check(value, name, **kwargs)


def check_mapping(value: Any, name: str) -> Mapping[str, Any]:
    """Checks that `value` is a `Mapping` whose keys are non-empty `str`."""
    if not isinstance(value, Mapping):
        raise type_error(name, "a mapping of names to values", value)
    for key in value:
        check_name(key, name)
    return value


def check_same_keys(**mappings: Mapping[str, Any]) -> None:
    """Checks that all mappings have the same key set.

    The error lists, for every mapping, the names that are missing from it
    and present in another one.
    """
    key_sets = {name: set(mapping) for name, mapping in mappings.items()}
    union: set[str] = set().union(*key_sets.values())
    missing = {
        name: sorted(union - keys)
        for name, keys in key_sets.items()
        if union - keys
    }
    if missing:
        details = "; ".join(
            f"missing from `{name}`: {names}" for name, names in missing.items()
        )
        args = ", ".join(f"`{name}`" for name in mappings)
        raise ValueError(f"{args} must have the same keys. {details}")


def as_array(value: Any, name: str) -> np.ndarray:
    """`np.asarray(value)`, with a `TypeError` naming `name` if it fails.

    NumPy raises a bare `ValueError` for ragged nested lists and for objects
    whose `__array__` fails; the message here names the parameter.
    """
    try:
        return np.asarray(value)
    except (ValueError, TypeError, OverflowError) as error:
        raise TypeError(
            f"`{name}` must be an array-like with a rectangular shape. "
            f"Received: {name}={_short(value)} ({error})"
        ) from None


def as_float_array(value: Any, name: str) -> np.ndarray:
    """Converts `value` to an array with a floating dtype.

    Python floats and lists of them become float64. Integer, bool, complex
    and object arrays raise `TypeError`.
    """
    array = as_array(value, name)
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(
            f"`{name}` must have a floating dtype (float16, float32 or "
            f"float64). Received: {name} with dtype={array.dtype}"
        )
    return array


def check_finite_array(array: np.ndarray, name: str) -> np.ndarray:
    """Raises `ValueError` if `array` holds NaN or infinite values."""
    if array.size and not np.isfinite(array).all():
        bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        raise ValueError(
            f"`{name}` must contain only finite values. Received: {name} "
            f"with {bad} non-finite value(s) out of {array.size}"
        )
    return array


def as_bool_array(value: Any, name: str) -> np.ndarray:
    """Checks that `value` is a NumPy array (or scalar) with dtype `bool`."""
    if isinstance(value, np.bool_):
        value = np.asarray(value)
    if not isinstance(value, np.ndarray) or value.dtype != np.bool_:
        dtype = getattr(value, "dtype", type(value).__name__)
        raise TypeError(
            f"`{name}` must be a NumPy array with dtype bool. "
            f"Received: {name} of dtype/type {dtype}"
        )
    return value


def check_shape(value: Any, name: str) -> tuple[int, ...]:
    """Checks a shape: a sequence of ints >= 0. Returns it as a tuple.

    Tuples, lists and 1-D integer arrays are accepted; strings, mappings,
    sets and other unordered or one-shot iterables are not.
    """
    ordered = isinstance(value, Sequence) or (
        isinstance(value, np.ndarray) and value.ndim == 1
    )
    if not ordered or isinstance(value, str | bytes):
        raise TypeError(
            f"`{name}` must be a tuple of ints. Received: {name}="
            f"{_short(value)}"
        )
    return tuple(check_int(dim, f"{name}[{i}]") for i, dim in enumerate(value))
