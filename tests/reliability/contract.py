"""The contract the fuzzing tests check, and its validity oracles.

A call under fuzzing either returns a correct result (checked by the test
against an independent oracle) or raises `ValueError`/`TypeError` whose
message names one of the arguments that broke a documented precondition.
The oracles below decide validity from the docstrings, not from the
implementation. Shared by ``test_fuzz_core.py``, ``test_fuzz_keras.py`` and
``test_fuzz_cli.py``.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings

#: The profile's settings, plus: `reliability_counter` is function-scoped
#: on purpose (it only counts, so sharing it between examples is right).
#: `SMP_FUZZ_EXAMPLES=2000` runs a deeper search locally.
FUZZ = settings(
    suppress_health_check=[
        *settings.default.suppress_health_check,
        HealthCheck.function_scoped_fixture,
    ],
    max_examples=int(
        os.environ.get("SMP_FUZZ_EXAMPLES", settings.default.max_examples)
    ),
)

#: float32's largest finite value: the bound of what a float32 variable holds.
F32_MAX = float(np.finfo(np.float32).max)

#: The choices `PruneConfig` and `smp prune` document for each field,
#: written from the docs (not imported from the library).
CHOICES = {
    "method": (
        "smp-s",
        "smp-l",
        "magnitude",
        "movement",
        "soft-movement",
        "wanda",
        "wanda-fine-tune",
        "fine-tune",
    ),
    "head": ("auto", "mlm", "embeddings", "prototype"),
    "pooling": ("token", "mean"),
    "score_init": ("zeros", "magnitude", "wanda"),
    "lr_schedule": ("constant", "linear", "cosine"),
    "select": ("best", "last"),
    "padding": ("buckets", "max_length"),
}


@dataclasses.dataclass
class Outcome:
    """What a call did: its value, or the documented error it raised."""

    value: Any = None
    error: Exception | None = None


def attempt(
    fn: Callable[..., Any],
    *args: Any,
    warnings_are_errors: bool = False,
    **kwargs: Any,
) -> Outcome:
    """Calls `fn`; ValueError/TypeError are outcomes, the rest propagates.

    With `warnings_are_errors`, a warning (overflow, invalid value) fails
    the test with its own traceback: a warning next to a result is a silent
    wrong answer waiting to happen.
    """
    with warnings.catch_warnings():
        if warnings_are_errors:
            warnings.simplefilter("error")
        try:
            return Outcome(value=fn(*args, **kwargs))
        except (ValueError, TypeError) as error:
            return Outcome(error=error)


def expect(outcome: Outcome, bad: Sequence[str]) -> Any:
    """Checks `outcome` against the set of broken preconditions `bad`.

    With nothing broken the call must succeed (the value is returned for
    the oracle); otherwise it must fail with a message naming one of the
    arguments in `bad` (as ```name`` or ```name[...]``).
    """
    if not bad:
        assert outcome.error is None, f"valid input rejected: {outcome.error!r}"
        return outcome.value
    assert outcome.error is not None, (
        f"invalid {list(bad)} accepted, returned {outcome.value!r}"
    )
    message = str(outcome.error)
    assert any(f"`{name}" in message for name in bad), (
        f"message does not name any of {list(bad)}: {message!r}"
    )
    return None


def is_real(value: Any) -> bool:
    """A real number that is not a bool (numbers.Real, as documented)."""
    return isinstance(value, numbers.Real) and not isinstance(
        value, bool | np.bool_
    )


def as_float(value: Any) -> float:
    """`float(value)`, ±inf for numbers beyond the float range."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def real_ok(
    value: Any,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> bool:
    """Whether `value` is a finite real in the given range."""
    if not is_real(value):
        return False
    x = as_float(value)
    return (
        math.isfinite(x)
        and (x > low if low_open else x >= low)
        and (x < high if high_open else x <= high)
    )


def density_ok(value: Any) -> bool:
    """Whether `value` is a valid density: a finite real in [0, 1]."""
    return real_ok(value, 0.0, 1.0)


def int_ok(value: Any, low: int = 0, high: int | None = None) -> bool:
    """Whether `value` is an int (not a bool) in ``[low, high]``."""
    if isinstance(value, bool | np.bool_) or not isinstance(
        value, numbers.Integral
    ):
        return False
    return int(value) >= low and (high is None or int(value) <= high)
