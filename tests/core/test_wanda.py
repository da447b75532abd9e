"""Tests for smpcore.wanda: scores, masks and activation norms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import smpcore
from smpcore import (
    activation_norms,
    magnitude_mask,
    nm_mask,
    topk_count,
    wanda_mask,
    wanda_scores,
)

from .strategies import (
    FLOAT_DTYPES,
    densities,
    float_elements,
    nm_structures,
    score_arrays,
    stable_nm_oracle,
    stable_topk_oracle,
)

kernel_shapes = hnp.array_shapes(min_dims=2, max_dims=2, min_side=0, max_side=6)


def kernels(shape: st.SearchStrategy = kernel_shapes) -> st.SearchStrategy:
    """``(in, out)`` kernels of float16/32/64 with many ties, |w| <= 1000."""
    return score_arrays(shape, bound=1e3)


@st.composite
def kernels_and_norms(
    draw: st.DrawFn, shape: st.SearchStrategy = kernel_shapes
) -> tuple[np.ndarray, np.ndarray]:
    """A kernel and one norm >= 0 per input feature (zeros and ties too)."""
    kernel = draw(kernels(shape))
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    norms = st.one_of(
        st.sampled_from([0.0, 1.0, 2.0]), st.floats(0, 1e3, width=16)
    )
    size = kernel.shape[0]
    return kernel, draw(hnp.arrays(dtype, size, elements=norms))


def scores_oracle(kernel: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """Element by element, in Python floats (IEEE double)."""
    rows, columns = kernel.shape
    return np.array(
        [
            [abs(float(kernel[i, j])) * float(norms[i]) for j in range(columns)]
            for i in range(rows)
        ],
        dtype=np.float64,
    ).reshape(kernel.shape)


def per_column_oracle(scores: np.ndarray, k: int) -> np.ndarray:
    """Stable top-k of every column separately."""
    mask = np.zeros(scores.shape, dtype=bool)
    for j in range(scores.shape[1]):
        mask[:, j] = stable_topk_oracle(scores[:, j], k)
    return mask


# --- wanda_scores -----------------------------------------------------------


@given(kernels_and_norms())
def test_wanda_scores_are_abs_weight_times_norm(case: tuple) -> None:
    kernel, norms = case
    scores = wanda_scores(kernel, norms)
    assert scores.dtype == np.float64 and scores.shape == kernel.shape
    np.testing.assert_array_equal(scores, scores_oracle(kernel, norms))


# --- wanda_mask -------------------------------------------------------------


@given(kernels_and_norms(), densities)
def test_per_output_is_topk_of_every_column(
    case: tuple, density: float
) -> None:
    kernel, norms = case
    mask = wanda_mask(kernel, norms, density)
    k = topk_count(kernel.shape[0], density)
    expected = per_column_oracle(scores_oracle(kernel, norms), k)
    np.testing.assert_array_equal(mask, expected)
    assert np.all(mask.sum(axis=0) == k)


@given(kernels_and_norms(), densities)
def test_per_matrix_is_topk_of_the_scores(case: tuple, density: float) -> None:
    kernel, norms = case
    mask = wanda_mask(kernel, norms, density, per="matrix")
    k = topk_count(kernel.size, density)
    scores = scores_oracle(kernel, norms)
    np.testing.assert_array_equal(mask, stable_topk_oracle(scores, k))


@given(kernels(), densities, st.sampled_from([1.0, 2.0, 0.25, 1024.0]))
def test_equal_norms_give_magnitude_pruning(
    kernel: np.ndarray, density: float, norm: float
) -> None:
    # A power of two scales every |W| exactly, so no ties appear or vanish.
    norms = np.full(kernel.shape[0], norm)
    k = topk_count(kernel.shape[0], density)
    np.testing.assert_array_equal(
        wanda_mask(kernel, norms, density),
        per_column_oracle(np.abs(kernel), k),
    )
    np.testing.assert_array_equal(
        wanda_mask(kernel, norms, density, per="matrix"),
        magnitude_mask(kernel, density),
    )


@st.composite
def nm_cases(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int, int]:
    n, m = draw(nm_structures())
    shape = st.tuples(st.integers(0, 4).map(lambda g: g * m), st.integers(0, 4))
    kernel, norms = draw(kernels_and_norms(shape))
    return kernel, norms, n, m


@given(nm_cases())
def test_structure_is_nm_mask_of_the_scores(case: tuple) -> None:
    kernel, norms, n, m = case
    mask = wanda_mask(kernel, norms, structure=(n, m))
    expected = stable_nm_oracle(scores_oracle(kernel, norms), n, m)
    np.testing.assert_array_equal(mask, expected)
    np.testing.assert_array_equal(
        wanda_mask(kernel, norms, structure=f"{n}:{m}"), mask
    )
    assert smpcore.is_nm_mask(mask, n, m)


def test_zero_norm_features_go_first() -> None:
    kernel = np.array([[100.0, -100.0], [1.0, 2.0], [3.0, 0.5]])
    norms = np.array([0.0, 1.0, 1.0])  # feature 0 never fires
    mask = wanda_mask(kernel, norms, 2 / 3)
    np.testing.assert_array_equal(mask, [[0, 0], [1, 1], [1, 1]])
    assert magnitude_mask(kernel, 1 / 3)[0].all()  # magnitude keeps them


def test_reference_scaler_row_ranks_like_the_norms() -> None:
    """locuslab/wanda scores |W| * sqrt(scaler_row): a running mean, over
    calibration sequences, of each feature's sum of squares over tokens.
    That is ||X_j|| / sqrt(#sequences): the same ranking."""
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((b, 7, 32)) for b in (2, 1, 3)]
    scaler_row, seen = np.zeros(32), 0
    for batch in batches:  # the reference's update, written independently
        squares = np.square(batch.reshape(-1, 32)).sum(axis=0)
        scaler_row = scaler_row * seen / (seen + len(batch))
        seen += len(batch)
        scaler_row += squares / seen
    norms = activation_norms(batches)
    np.testing.assert_allclose(np.sqrt(scaler_row) * math.sqrt(seen), norms)
    kernel = rng.standard_normal((32, 16))
    cases = [
        {"density": 0.5},
        {"density": 0.1},
        {"density": 0.3, "per": "matrix"},
        {"structure": (2, 4)},
    ]
    for kwargs in cases:
        np.testing.assert_array_equal(
            wanda_mask(kernel, norms, **kwargs),
            wanda_mask(kernel, np.sqrt(scaler_row), **kwargs),
        )


def test_wanda_mask_does_not_sort(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    kernel = rng.standard_normal((96, 40)).astype(np.float32)
    kernel[::5] = 1.0  # ties
    norms = rng.random(96)
    expected = per_column_oracle(scores_oracle(kernel, norms), 29)

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("wanda_mask must not sort")

    for name in ("sort", "argsort", "lexsort"):
        monkeypatch.setattr(np, name, forbidden)
    np.testing.assert_array_equal(wanda_mask(kernel, norms, 29 / 96), expected)


K, N = np.ones((8, 3)), np.ones(8)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((K, N), {}, ValueError, r"Exactly one of `density` and `structure`"),
        (
            (K, N, 0.5),
            {"structure": (2, 4)},
            ValueError,
            r"Exactly one.*density=0\.5, structure=\(2, 4\)",
        ),
        ((K, N, 1.5), {}, ValueError, r"`density` must be in \[0, 1\].*1\.5"),
        ((K, N, "0.5"), {}, TypeError, r"`density`"),
        ((K, N, 0.5), {"per": "row"}, ValueError, r"`per` must be one of.*row"),
        ((K, N, 0.5), {"per": None}, TypeError, r"`per`"),
        (
            (K, N),
            {"structure": (2, 4), "per": "matrix"},
            ValueError,
            r"`per` must be 'output' with an N:M `structure`",
        ),
        ((K, N), {"structure": "2/4"}, ValueError, r"structure='2/4'"),
        ((K, N), {"structure": (5, 4)}, ValueError, r"structure=\(5, 4\)"),
        ((K, N), {"structure": (0, 4)}, ValueError, r"`structure\[0\]`"),
        ((K, N), {"structure": (2, 4.0)}, TypeError, r"`structure\[1\]`"),
        ((K, N), {"structure": 4}, TypeError, r"`structure` must be an"),
        ((K, N), {"structure": (1, 2, 4)}, TypeError, r"`structure`"),
        (
            (K, N),
            {"structure": (2, 3)},
            ValueError,
            r"`kernel` must have a multiple of m=3 .*shape=\(8, 3\)",
        ),
        ((np.ones(8), N, 0.5), {}, ValueError, r"`kernel` must be 2-D"),
        ((np.ones((8, 3), int), N, 0.5), {}, TypeError, r"`kernel` must"),
        ((K, np.ones(7), 0.5), {}, ValueError, r"`input_norms` must have"),
        ((K, -N, 0.5), {}, ValueError, r"`input_norms` must be >= 0.*8 neg"),
        ((K, N * np.nan, 0.5), {}, ValueError, r"`input_norms`.*non-finite"),
        ((K * np.inf, N, 0.5), {}, ValueError, r"`kernel`.*non-finite"),
        ((K * 1e300, N * 1e10, 0.5), {}, ValueError, r"overflows"),
    ],
)
def test_wanda_mask_rejects_bad_arguments(
    args: tuple, kwargs: dict, error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        wanda_mask(*args, **kwargs)


# --- activation_norms -------------------------------------------------------


@st.composite
def activation_batches(draw: st.DrawFn) -> list[np.ndarray]:
    width = draw(st.integers(0, 5))
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    shapes = st.lists(
        hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4),
        min_size=1,
        max_size=4,
    )
    return [
        draw(
            hnp.arrays(
                dtype, (*lead, width), elements=float_elements(dtype, 1e3)
            )
        )
        for lead in draw(shapes)
    ]


def as_rows(batch: np.ndarray) -> np.ndarray:
    """``(..., width)`` -> ``(rows, width)``, zero widths included."""
    return batch.reshape(math.prod(batch.shape[:-1]), batch.shape[-1])


@given(activation_batches())
def test_activation_norms_match_fsum(batches: list[np.ndarray]) -> None:
    norms = activation_norms(batches)
    width = batches[0].shape[-1]
    assert norms.dtype == np.float64 and norms.shape == (width,)
    rows = [row for b in batches for row in as_rows(b).tolist()]
    for j in range(width):
        exact = math.sqrt(math.fsum(float(row[j]) ** 2 for row in rows))
        assert norms[j] == pytest.approx(exact, rel=1e-12, abs=0)


@given(activation_batches())
def test_activation_norms_do_not_depend_on_the_split(
    batches: list[np.ndarray],
) -> None:
    rows = np.concatenate([as_rows(b) for b in batches])
    together = activation_norms(rows)  # one array is one batch
    np.testing.assert_allclose(activation_norms(batches), together, rtol=1e-12)
    if len(rows):  # one batch per row
        np.testing.assert_allclose(
            activation_norms(iter(rows[:, None])), together, rtol=1e-12
        )


def test_padding_rows_count_unless_left_out() -> None:
    hidden = np.array([[[3.0, 4.0], [9.0, 9.0]], [[0.0, 12.0], [9.0, 9.0]]])
    attention_mask = np.array([[1, 0], [1, 0]])
    real = activation_norms(hidden[attention_mask.astype(bool)])
    np.testing.assert_allclose(real, [3.0, math.sqrt(16 + 144)])
    assert np.all(activation_norms(hidden) > real)


@pytest.mark.parametrize(
    ("batches", "error", "match"),
    [
        ([], ValueError, r"`batches` must hold at least one array"),
        (iter([]), ValueError, r"`batches` must hold at least one"),
        (5, TypeError, r"`batches` must be an iterable of arrays"),
        ("abc", TypeError, r"`batches` must be an iterable"),
        ([np.ones((2, 3)), np.ones((2, 4))], ValueError, r"`batches\[1\]`.*3"),
        ([np.float64(1.0)], ValueError, r"`batches\[0\]` must have shape"),
        ([np.ones(3, int)], TypeError, r"`batches\[0\]` must have a float"),
        ([np.ones(3), [np.inf]], ValueError, r"`batches\[1\]`.*non-finite"),
        ([np.full(2, 1e200)], ValueError, r"squares overflow"),
    ],
)
def test_activation_norms_rejects_bad_batches(
    batches: object, error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        activation_norms(batches)


def test_exports() -> None:
    assert smpcore.wanda_mask is wanda_mask
    assert smpcore.activation_norms is activation_norms
    assert nm_mask is smpcore.nm_mask
