"""`smp_keras.ops`: exact top-k masks against the NumPy core."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from keras_backend_utils import jit_compile_flag, to_numpy

import smpcore
from smp_keras import ops

# Values that tie a lot, both zeros, subnormals and extremes.
_SPECIAL = np.array(
    [0.0, -0.0, 1.0, -1.0, 0.5, 1e-45, -1e-45, 3e38, -3e38, 2.0],
    "float32",
)
_elements = st.one_of(
    st.sampled_from(_SPECIAL.tolist()),
    st.floats(width=32, allow_nan=False, allow_infinity=False),
)
_scores = arrays(
    np.float32,
    st.tuples(st.integers(1, 7), st.integers(1, 9)),
    elements=_elements,
)


def _reference(scores: np.ndarray, k: int) -> np.ndarray:
    """smpcore's mask for an exact count `k` (k / n rounds back to k)."""
    density = k / scores.size
    assert smpcore.topk_count(scores.size, density) == k
    return smpcore.topk_mask(scores, density)


_PADDED = 64  # > 7 * 9: one input shape, so eager JAX compiles once.


def _padded_topk_mask(scores: np.ndarray, k: int) -> np.ndarray:
    """`ops.topk_mask` of `scores` padded with trailing -inf to 64 entries.

    -inf is below every finite score and comes last, so (as `k <= n`) no
    padding entry is kept and ties among real entries are unaffected.
    """
    flat = np.full(_PADDED, -np.inf, "float32")
    flat[: scores.size] = scores.ravel()
    k = keras.ops.convert_to_tensor(k, "int32")
    mask = to_numpy(ops.topk_mask(flat, k))
    assert not mask[scores.size :].any()
    return mask[: scores.size].reshape(scores.shape)


@given(scores=_scores, fraction=st.floats(0.0, 1.0))
def test_topk_mask_equals_smpcore_bit_for_bit(scores, fraction):
    k = round(fraction * scores.size)
    mask = _padded_topk_mask(scores, k)
    assert mask.dtype == np.float32
    assert set(np.unique(mask)) <= {0.0, 1.0}
    assert int(mask.sum()) == k
    np.testing.assert_array_equal(mask.astype(bool), _reference(scores, k))


@pytest.mark.parametrize("k", [0, 1, 6, 11, 12])
def test_topk_mask_all_ties_keeps_lowest_indices(k):
    scores = np.full((3, 4), 0.25, "float32")
    expected = np.arange(12).reshape(3, 4) < k
    np.testing.assert_array_equal(to_numpy(ops.topk_mask(scores, k)), expected)


def test_topk_mask_negative_zero_ties_with_positive_zero():
    scores = np.array([-0.0, 0.0, -0.0, -1.0, 0.0], "float32")
    mask = to_numpy(ops.topk_mask(scores, 2))
    np.testing.assert_array_equal(mask, [1, 1, 0, 0, 0])


def test_topk_mask_orders_negative_numbers_and_subnormals():
    scores = np.array([-2.0, -1e-45, -1.0, 1e-45, -3e38], "float32")
    expected = {1: [0, 0, 0, 1, 0], 2: [0, 1, 0, 1, 0], 4: [1, 1, 1, 1, 0]}
    for k, want in expected.items():
        np.testing.assert_array_equal(to_numpy(ops.topk_mask(scores, k)), want)


def test_topk_mask_keeps_shape_and_accepts_tensor_k(rng):
    scores = rng.normal(size=(2, 3, 5)).astype("float32")
    k = keras.ops.convert_to_tensor(7, "int32")
    mask = to_numpy(ops.topk_mask(scores, k))
    assert mask.shape == (2, 3, 5)
    np.testing.assert_array_equal(mask.astype(bool), _reference(scores, 7))


def test_topk_mask_large_matrix_matches_smpcore(rng):
    scores = rng.normal(size=(96, 384)).astype("float32")
    scores[::7] = 0.5  # many ties
    for density in (0.03, 0.1, 0.5):
        k = smpcore.topk_count(scores.size, density)
        got = to_numpy(ops.topk_mask(scores, k)).astype(bool)
        np.testing.assert_array_equal(got, smpcore.topk_mask(scores, density))


class _TopKLayer(keras.layers.Layer):
    """Applies `ops.topk_mask` with `k` read from a variable."""

    traces = 0

    def build(self, input_shape):
        self.k = self.add_weight(
            shape=(), dtype="int32", initializer="zeros", trainable=False
        )

    def call(self, x):
        type(self).traces += 1
        return ops.topk_mask(x, self.k)


def test_topk_mask_new_k_does_not_retrace(rng):
    layer = _TopKLayer()
    model = keras.Sequential([keras.Input((6, 10)), layer])
    model.compile(jit_compile=jit_compile_flag())
    x = rng.normal(size=(1, 6, 10)).astype("float32")
    _TopKLayer.traces = 0
    for k in (3, 17, 60, 0):
        layer.k.assign(k)
        got = model.predict_on_batch(x)
        np.testing.assert_array_equal(
            np.asarray(got)[0].astype(bool), _reference(x[0], k)
        )
    if jit_compile_flag():
        assert _TopKLayer.traces == 1
    else:
        assert _TopKLayer.traces == 4  # eager: one call per step


def test_straight_through_value_is_the_mask_exactly():
    scores = np.array([1e8, -1e8, 3.0, 0.0], "float32")
    mask = np.array([1.0, 0.0, 1.0, 0.0], "float32")
    np.testing.assert_array_equal(
        to_numpy(ops.straight_through(mask, scores)), mask
    )
