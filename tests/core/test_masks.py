"""Tests for smpcore.masks: exact top-k, tie order, magnitude, threshold."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import expit

import smpcore
from smpcore import magnitude_mask, threshold_mask, topk_count, topk_mask

from .strategies import densities, score_arrays, stable_topk_oracle

# --- topk_count -------------------------------------------------------------


@given(st.integers(0, 10**7), densities)
def test_topk_count_is_nearest_int(size: int, density: float) -> None:
    k = topk_count(size, density)
    assert isinstance(k, int)
    assert 0 <= k <= size
    assert abs(k - density * size) <= 0.5


@given(st.integers(0, 10**6), densities, densities)
def test_topk_count_is_monotone(size: int, d1: float, d2: float) -> None:
    low, high = sorted((d1, d2))
    assert topk_count(size, low) <= topk_count(size, high)


def test_topk_count_rounds_not_floors_and_half_to_even() -> None:
    assert int(0.29 * 100) == 28  # the float trap the reference falls into
    assert topk_count(100, 0.29) == 29
    assert topk_count(10, 0.25) == 2  # 2.5 -> 2 (half to even)
    assert topk_count(10, 0.35) == 4  # 3.5 -> 4 (half to even)
    assert topk_count(0, 0.7) == 0
    assert topk_count(np.int64(7), np.float32(1.0)) == 7


@pytest.mark.parametrize(
    ("size", "density", "error", "match"),
    [
        (-1, 0.5, ValueError, "size"),
        (3.0, 0.5, TypeError, "size"),
        (True, 0.5, TypeError, "size"),
        (3, 1.5, ValueError, "density"),
        (3, -0.1, ValueError, "density"),
        (3, math.nan, ValueError, "density"),
        (3, math.inf, ValueError, "density"),
        (3, "0.5", TypeError, "density"),
        (3, True, TypeError, "density"),
    ],
)
def test_topk_count_rejects_bad_arguments(
    size: object, density: object, error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        topk_count(size, density)  # type: ignore[arg-type]


# --- topk_mask --------------------------------------------------------------


@given(score_arrays(), densities)
def test_topk_mask_matches_stable_sort_oracle(
    scores: np.ndarray, density: float
) -> None:
    mask = topk_mask(scores, density)
    k = topk_count(scores.size, density)
    assert mask.dtype == np.bool_
    assert mask.shape == scores.shape
    assert int(np.count_nonzero(mask)) == k
    np.testing.assert_array_equal(mask, stable_topk_oracle(scores, k))


@given(score_arrays(), densities, densities)
def test_topk_masks_are_nested(
    scores: np.ndarray, d1: float, d2: float
) -> None:
    low, high = sorted((d1, d2))
    small, large = topk_mask(scores, low), topk_mask(scores, high)
    assert not np.any(small & ~large)


@given(score_arrays())
def test_topk_mask_density_zero_and_one(scores: np.ndarray) -> None:
    assert not topk_mask(scores, 0.0).any()
    assert topk_mask(scores, 1.0).all()


def test_ties_go_to_lowest_row_major_index() -> None:
    scores = np.zeros((3, 4), dtype=np.float32)
    expected = np.zeros(12, dtype=bool)
    expected[:5] = True
    np.testing.assert_array_equal(
        topk_mask(scores, 5 / 12), expected.reshape(3, 4)
    )
    # Column-major memory order does not change the row-major tie order.
    fortran = np.asfortranarray(np.zeros((3, 4)))
    np.testing.assert_array_equal(
        topk_mask(fortran, 5 / 12), expected.reshape(3, 4)
    )


def test_signed_zeros_tie() -> None:
    scores = np.array([-0.0, 0.0, -0.0, 0.0, -1.0], dtype=np.float32)
    np.testing.assert_array_equal(
        topk_mask(scores, 0.4), [True, True, False, False, False]
    )


def test_float64_is_ranked_at_full_precision() -> None:
    # Values equal in float32 but distinct in float64.
    scores = np.array([1.0, 1.0 + 2**-40, 1.0 + 2**-41])
    assert np.float32(scores[1]) == np.float32(scores[0])
    np.testing.assert_array_equal(
        topk_mask(scores, 1 / 3), [False, True, False]
    )


def test_empty_and_scalar_scores() -> None:
    empty = topk_mask(np.zeros((0, 3), dtype=np.float32), 0.5)
    assert empty.shape == (0, 3) and empty.dtype == np.bool_
    assert topk_mask(np.float64(2.0), 1.0).shape == ()
    np.testing.assert_array_equal(topk_mask([0.5, 0.1, 0.7], 0.34), [0, 0, 1])


def test_topk_mask_does_not_sort(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((256, 512)).astype(np.float32)
    scores[:, ::7] = 0.25  # many ties
    expected = {
        d: stable_topk_oracle(scores, topk_count(scores.size, d))
        for d in (0.5, 0.1, 0.03)
    }

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("topk_mask must not sort")

    for name in ("sort", "argsort", "lexsort"):
        monkeypatch.setattr(np, name, forbidden)
    for density, mask in expected.items():
        np.testing.assert_array_equal(topk_mask(scores, density), mask)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_scores_are_rejected(bad: float) -> None:
    scores = np.array([0.0, bad, 1.0], dtype=np.float32)
    with pytest.raises(ValueError, match="`scores`.*non-finite"):
        topk_mask(scores, 0.5)
    with pytest.raises(ValueError, match="`weights`"):
        magnitude_mask(scores, 0.5)
    with pytest.raises(ValueError, match="`scores`"):
        threshold_mask(scores, 0.0)


@pytest.mark.parametrize(
    "scores",
    [
        np.array([1, 2, 3]),
        np.array([True, False]),
        np.array([1 + 1j]),
        np.array(["a"]),
        [1, 2, 3],
    ],
)
def test_non_float_scores_raise_type_error(scores: object) -> None:
    with pytest.raises(TypeError, match="`scores` must have a floating dtype"):
        topk_mask(scores, 0.5)


def test_topk_mask_rejects_bad_density() -> None:
    with pytest.raises(ValueError, match=r"density=1\.5"):
        topk_mask(np.zeros(3), 1.5)


# --- magnitude_mask ---------------------------------------------------------


@given(score_arrays(), densities)
def test_magnitude_mask_is_topk_of_abs(
    weights: np.ndarray, density: float
) -> None:
    k = topk_count(weights.size, density)
    expected = stable_topk_oracle(np.abs(weights), k)
    np.testing.assert_array_equal(magnitude_mask(weights, density), expected)


def test_magnitude_mask_rejects_integers() -> None:
    with pytest.raises(TypeError, match="`weights`"):
        magnitude_mask(np.arange(4), 0.5)


# --- threshold_mask ---------------------------------------------------------


@given(score_arrays(), st.floats(-3, 3))
def test_threshold_mask_is_comparison(scores: np.ndarray, tau: float) -> None:
    # Compared exactly (float64), not in the dtype of `scores`.
    expected = scores.astype(np.float64) > tau
    np.testing.assert_array_equal(threshold_mask(scores, tau), expected)


@given(score_arrays(), st.floats(0.01, 0.99), densities)
def test_sigmoid_threshold_with_min_density(
    scores: np.ndarray, tau: float, min_density: float
) -> None:
    mask = threshold_mask(scores, tau, sigmoid=True, min_density=min_density)
    passing = expit(scores.astype(np.float64)) > tau
    k_min = topk_count(scores.size, min_density)
    if np.count_nonzero(passing) >= k_min:
        np.testing.assert_array_equal(mask, passing)
    else:
        np.testing.assert_array_equal(mask, stable_topk_oracle(scores, k_min))
    assert np.count_nonzero(mask) >= k_min


def test_soft_movement_keeps_half_a_percent() -> None:
    scores = np.full((20, 20), -5.0)
    scores[3, 4] = 10.0
    mask = threshold_mask(scores, 0.5, sigmoid=True, min_density=0.005)
    assert np.count_nonzero(mask) == 2  # round(0.005 * 400)
    assert mask[3, 4] and mask[0, 0]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"threshold": 0.0, "sigmoid": True}, ValueError, "threshold"),
        ({"threshold": 1.0, "sigmoid": True}, ValueError, "threshold"),
        ({"threshold": math.nan}, ValueError, "threshold"),
        ({"threshold": "0"}, TypeError, "threshold"),
        ({"threshold": 0.5, "min_density": 2.0}, ValueError, "min_density"),
        ({"threshold": 0.5, "sigmoid": 1}, TypeError, "sigmoid"),
    ],
)
def test_threshold_mask_rejects_bad_arguments(
    kwargs: dict, error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        threshold_mask(np.zeros(4), **kwargs)


def test_exports() -> None:
    assert smpcore.topk_mask is topk_mask
