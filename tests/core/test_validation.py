"""The shared argument checks of `smpcore.validation` (those the pruning
config states its fields with): the value passes through, errors name the
parameter and show the value, wrong types are `TypeError`."""

from __future__ import annotations

import math
import pathlib
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smpcore.validation import (
    check_bool,
    check_choice,
    check_int,
    check_optional,
    check_real,
    check_text,
    type_error,
)

CHOICES = ("token", "mean")


def test_type_error_names_the_parameter_value_and_type() -> None:
    error = type_error("seed", "an int", "0")
    assert isinstance(error, TypeError)
    assert str(error) == "`seed` must be an int. Received: seed='0' of type str"
    long = type_error("x", "short", "a" * 200)
    assert "..." in str(long) and len(str(long)) < 150


@given(
    value=st.one_of(
        st.integers(-(10**30), 10**30),
        st.floats(allow_nan=False),
        st.sampled_from([np.int64(3), np.float32(0.5), Fraction(1, 3)]),
    )
)
def test_strict_numbers_are_python_numbers_only(value) -> None:
    python_int = isinstance(value, int)
    python_real = isinstance(value, int | float)
    if python_int:
        assert check_int(value, "n", minimum=-(10**30), strict=True) == value
    else:
        with pytest.raises(TypeError, match="`n` must be an int"):
            check_int(value, "n", strict=True)
    if python_real and math.isfinite(float(value)):
        assert check_real(value, "x", strict=True) == float(value)
    elif not python_real:
        with pytest.raises(TypeError, match="`x` must be a real number"):
            check_real(value, "x", strict=True)
    # Without `strict`, every numbers.Real is a number.
    if not python_real:
        assert check_real(value, "x") == float(value)


def test_strict_keeps_refusing_bools() -> None:
    with pytest.raises(TypeError, match="`n` must be an int"):
        check_int(True, "n", strict=True)
    with pytest.raises(TypeError, match="`x` must be a real number"):
        check_real(False, "x", strict=True)


@given(value=st.one_of(st.booleans(), st.integers(), st.none(), st.text()))
def test_check_bool(value) -> None:
    if isinstance(value, bool):
        assert check_bool(value, "flag") is value
    else:
        with pytest.raises(TypeError, match="`flag` must be a bool"):
            check_bool(value, "flag")


@given(value=st.one_of(st.sampled_from(CHOICES), st.text(), st.integers()))
def test_check_choice(value) -> None:
    if value in CHOICES:
        assert check_choice(value, "pooling", CHOICES) == value
        return
    error = TypeError if not isinstance(value, str) else ValueError
    with pytest.raises(error) as info:
        check_choice(value, "pooling", CHOICES)
    message = str(info.value)
    assert "`pooling` must be one of ('token', 'mean')" in message
    # The value as `repr`, cut to 80 characters (long inputs stay readable).
    shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
    assert f"pooling={shown}" in message


@given(value=st.one_of(st.text(), st.integers(), st.none(), st.binary()))
def test_check_text(value) -> None:
    if isinstance(value, str) and value.strip():
        assert check_text(value, "model") == value
        return
    error = ValueError if isinstance(value, str) else TypeError
    with pytest.raises(error, match="`model` must be a non-empty string"):
        check_text(value, "model")


def test_check_text_reads_paths_only_when_asked() -> None:
    path = pathlib.Path("runs") / "a"
    assert check_text(path, "output_dir", path=True) == str(path)
    with pytest.raises(TypeError, match="`output_dir`"):
        check_text(path, "output_dir")
    with pytest.raises(ValueError, match="`output_dir`"):
        check_text(pathlib.PurePath(" "), "output_dir", path=True)


@given(value=st.one_of(st.none(), st.integers(-5, 5)))
def test_check_optional(value) -> None:
    if value is None:
        assert check_optional(check_int, value, "steps", minimum=1) is None
    elif value >= 1:
        assert check_optional(check_int, value, "steps", minimum=1) == value
    else:
        with pytest.raises(ValueError, match="`steps` must be an int >= 1"):
            check_optional(check_int, value, "steps", minimum=1)
