"""Tests for smpcore.regularizers against scipy's expit and finite
differences."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.special import expit

from smpcore import (
    mean_sigmoid_scores,
    sigmoid,
    sigmoid_l1,
    sigmoid_l1_grad,
    sigmoid_l1_total,
)

from .strategies import score_arrays

nonempty = score_arrays(
    hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6)
)


@given(score_arrays())
def test_sigmoid_matches_expit(x: np.ndarray) -> None:
    expected = expit(x.astype(np.float64))
    np.testing.assert_allclose(sigmoid(x), expected, rtol=1e-15, atol=0)


def test_sigmoid_is_stable_at_large_magnitudes() -> None:
    x = np.array([-1e4, -800.0, -40.0, 0.0, 40.0, 800.0, 1e4, np.inf, -np.inf])
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        values = sigmoid(x)
        grad = sigmoid_l1_grad(x[:-2])
    assert values[0] == 0.0 and values[6] == 1.0 and values[3] == 0.5
    assert values[7] == 1.0 and values[8] == 0.0
    assert np.all(np.isfinite(grad)) and grad[0] == 0.0


@given(nonempty)
def test_sigmoid_l1_is_mean_sigmoid(scores: np.ndarray) -> None:
    value = sigmoid_l1(scores)
    assert isinstance(value, float)
    expected = float(np.mean(expit(scores.astype(np.float64))))
    assert value == pytest.approx(expected, rel=1e-12, abs=1e-300)


@given(nonempty)
def test_sigmoid_l1_grad_closed_form(scores: np.ndarray) -> None:
    x = scores.astype(np.float64)
    expected = expit(x) * expit(-x) / scores.size  # = σ(1 - σ), no cancelling
    grad = sigmoid_l1_grad(scores)
    assert grad.shape == scores.shape
    np.testing.assert_allclose(grad, expected, rtol=1e-9, atol=1e-300)


@given(
    hnp.arrays(np.float64, st.integers(1, 8), elements=st.floats(-8, 8)),
    st.data(),
)
def test_sigmoid_l1_grad_matches_finite_differences(
    scores: np.ndarray, data: st.DataObject
) -> None:
    i = data.draw(st.integers(0, scores.size - 1))
    h = 1e-6
    up, down = scores.copy(), scores.copy()
    up[i] += h
    down[i] -= h
    numeric = (sigmoid_l1(up) - sigmoid_l1(down)) / (2 * h)
    assert sigmoid_l1_grad(scores)[i] == pytest.approx(numeric, abs=1e-8)


def test_sigmoid_l1_total_weights_matrices_equally() -> None:
    scores = {"small": np.zeros(2), "large": np.full((50, 50), 30.0)}
    expected = (0.5 + float(expit(30.0))) / 2
    assert sigmoid_l1_total(scores) == pytest.approx(expected, rel=1e-15)


@given(st.lists(nonempty, min_size=1, max_size=4))
def test_sigmoid_l1_total_is_mean_over_matrices(arrays: list) -> None:
    scores = {f"m{i}": a for i, a in enumerate(arrays)}
    expected = np.mean([np.mean(expit(a.astype(np.float64))) for a in arrays])
    assert sigmoid_l1_total(scores) == pytest.approx(expected, rel=1e-12)


@given(nonempty, st.floats(0.1, 10))
def test_mean_sigmoid_scores_with_temperature(
    scores: np.ndarray, temperature: float
) -> None:
    result = mean_sigmoid_scores({"w": scores}, temperature=temperature)
    with np.errstate(over="ignore"):
        expected = np.mean(expit(scores.astype(np.float64) / temperature))
    assert result["w"] == pytest.approx(expected, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: sigmoid_l1(np.zeros(0)), ValueError, "at least one"),
        (lambda: sigmoid_l1(np.array([np.nan])), ValueError, "`scores`"),
        (lambda: sigmoid_l1(np.array([1, 2])), TypeError, "`scores`"),
        (lambda: sigmoid_l1_grad(np.array([np.inf])), ValueError, "`scores`"),
        (lambda: sigmoid(np.array([1])), TypeError, "`x`"),
        (lambda: sigmoid_l1_total({}), ValueError, "`scores`"),
        (lambda: sigmoid_l1_total([np.zeros(2)]), TypeError, "`scores`"),
        (
            lambda: sigmoid_l1_total({"a": np.zeros(0)}),
            ValueError,
            r"scores\['a'\]",
        ),
        (
            lambda: mean_sigmoid_scores({"a": np.zeros(2)}, temperature=0),
            ValueError,
            "temperature",
        ),
    ],
)
def test_bad_inputs(call: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        call()  # type: ignore[operator]
