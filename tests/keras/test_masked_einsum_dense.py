"""`MaskedEinsumDense`: the mask semantics of `MaskedDense` on an einsum.

The oracles are Keras's own `EinsumDense` (outputs at density 1, baked
outputs), `MaskedDense` (a `"ab,bc->ac"` einsum is a dense layer: the same
masks, outputs and straight-through gradients) and `smpcore` (exact top-k
and N:M masks on the kernel's matrix view).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras_backend_utils import trainable_gradients

import smpcore
from smp_keras import (
    MaskedDense,
    MaskedEinsumDense,
    SparsityScheduler,
    load_masks,
    masked_layers,
    save_masks,
    sparsity_report,
)
from smp_keras.layers import einsum_matrix_shape

# (equation, output_shape, input shape, bias_axes): Keras's attention
# projections, a dense-like einsum and one with no matrix view.
CASES = [
    ("abc,cde->abde", (None, 2, 4), (2, 3, 8), "de"),
    ("abcd,cde->abe", (None, 8), (2, 3, 2, 4), "e"),
    ("ab,bc->ac", 6, (5, 8), "c"),
    ("abc,dce->abde", (None, 2, 4), (2, 3, 8), None),
]


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _einsum(case, rng):
    equation, output_shape, input_shape, bias_axes = case
    layer = keras.layers.EinsumDense(
        equation,
        output_shape,
        bias_axes=bias_axes,
        bias_initializer="random_normal",
        name="proj",
    )
    x = rng.normal(size=input_shape).astype("float32")
    layer(x)
    return layer, x


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_equals_einsum_dense_at_density_one_and_bakes(case, rng):
    dense, x = _einsum(case, rng)
    masked = MaskedEinsumDense.from_einsum_dense(dense)
    np.testing.assert_allclose(_numpy(masked(x)), _numpy(dense(x)), atol=1e-6)
    assert masked.mask().shape == tuple(dense.kernel.shape)
    masked.scores.assign(rng.normal(size=masked.scores.shape))
    masked.set_density(0.1)
    size = int(np.prod(dense.kernel.shape))
    assert masked.kept == smpcore.topk_count(size, 0.1)
    # Exact top-k over the flat kernel, ties to the lowest index.
    expected = smpcore.topk_mask(_numpy(masked.scores).ravel(), 0.1)
    np.testing.assert_array_equal(masked.mask().ravel(), expected)
    baked = masked.bake()
    assert type(baked) is keras.layers.EinsumDense
    np.testing.assert_allclose(
        _numpy(baked(x)), _numpy(masked(x)), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_array_equal(
        _numpy(baked.kernel), _numpy(dense.kernel) * masked.mask()
    )


def test_dense_like_einsum_matches_masked_dense_values_and_gradients(rng):
    dense, x = _einsum(CASES[2], rng)
    einsum = MaskedEinsumDense.from_einsum_dense(dense, density=0.3)
    plain = MaskedDense.from_weights(
        _numpy(dense.kernel), _numpy(dense.bias), density=0.3
    )
    scores = rng.normal(size=plain.scores.shape).astype("float32")
    einsum.scores.assign(scores)
    plain.scores.assign(scores)
    np.testing.assert_array_equal(einsum.mask(), plain.mask())
    np.testing.assert_allclose(
        _numpy(einsum(x)), _numpy(plain(x)), rtol=1e-6, atol=1e-6
    )
    upstream = rng.normal(size=(5, 6)).astype("float32")
    (g_einsum,) = trainable_gradients(einsum, x, upstream)
    (g_plain,) = trainable_gradients(plain, x, upstream)
    np.testing.assert_allclose(g_einsum, g_plain, rtol=1e-5, atol=1e-5)
    # Straight-through: dL/dS = (x^T delta) * W, the masked entries too.
    expected = (x.T @ upstream) * _numpy(dense.kernel)
    np.testing.assert_allclose(g_einsum, expected, rtol=1e-4, atol=1e-5)


def test_matrix_view_and_nm_masks(rng):
    assert einsum_matrix_shape("abc,cde->abde", (8, 2, 4)) == (8, 8)
    assert einsum_matrix_shape("abcd,cde->abe", (2, 4, 8)) == (8, 8)
    assert einsum_matrix_shape("...b,bc->...c", (8, 3)) == (8, 3)
    assert einsum_matrix_shape("abc,dce->abde", (2, 8, 4)) is None
    dense, x = _einsum(CASES[1], rng)  # kernel (heads, head_dim, hidden)
    nm = MaskedEinsumDense.from_einsum_dense(dense, structure="2:4")
    nm.scores.assign(rng.normal(size=nm.scores.shape))
    matrix = _numpy(nm.scores).reshape(nm.matrix_shape)
    np.testing.assert_array_equal(
        nm.mask().reshape(nm.matrix_shape), smpcore.nm_mask(matrix, 2, 4)
    )
    assert nm.density == 0.5
    nm.set_mask(nm.mask())  # an N:M mask is accepted back
    with pytest.raises(ValueError, match="not 2:4"):
        nm.set_mask(np.eye(8, dtype=bool).reshape(nm.kernel.shape))
    no_view, _ = _einsum(CASES[3], rng)
    with pytest.raises(ValueError, match="multiple of m=4"):
        MaskedEinsumDense.from_einsum_dense(no_view, structure="2:4")


@pytest.mark.parametrize("method", ["threshold", "magnitude"])
def test_other_methods(method, rng):
    dense, x = _einsum(CASES[0], rng)
    layer = MaskedEinsumDense.from_einsum_dense(
        dense, pruning_method=method, density=0.25
    )
    if method == "magnitude":
        expected = smpcore.magnitude_mask(_numpy(dense.kernel), 0.25)
    else:
        layer.scores.assign(rng.normal(size=layer.scores.shape))
        expected = _numpy(layer.scores) > 0
    np.testing.assert_array_equal(layer.mask(), expected)
    layer(x)


def test_config_round_trip_and_keras_file(tmp_path, rng):
    dense, x = _einsum(CASES[0], rng)
    layer = MaskedEinsumDense.from_einsum_dense(
        dense, density=0.2, matrix_type="query", structure=None
    )
    layer.scores.assign(rng.normal(size=layer.scores.shape))
    config = layer.get_config()
    clone = MaskedEinsumDense.from_config(config)
    assert clone.get_config() == config
    inputs = keras.Input(x.shape[1:])
    model = keras.Model(inputs, layer(inputs))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    (restored,) = masked_layers(loaded)
    assert isinstance(restored, MaskedEinsumDense)
    np.testing.assert_array_equal(restored.mask(), layer.mask())
    np.testing.assert_allclose(
        _numpy(loaded(x)), _numpy(model(x)), rtol=1e-6, atol=1e-6
    )


def test_masks_artifact_report_and_scheduler(tmp_path, rng):
    dense, x = _einsum(CASES[0], rng)
    inputs = keras.Input(x.shape[1:])
    layer = MaskedEinsumDense.from_einsum_dense(dense)
    model = keras.Model(inputs, layer(inputs))
    layer.scores.assign(rng.normal(size=layer.scores.shape))
    scheduler = SparsityScheduler(lambda step: 0.25, allocation="smp_s")
    scheduler.set_model(model)
    scheduler.on_train_batch_begin(0)
    assert sparsity_report(model)["total"]["kept"] == 16
    path = tmp_path / "m.smpmask"
    save_masks(model, path)
    expected = layer.mask()
    layer.set_density(1.0)
    load_masks(model, path)
    np.testing.assert_array_equal(layer.mask(), expected)


def test_bad_arguments():
    with pytest.raises(ValueError, match="equation"):
        MaskedEinsumDense("ab->b", 4)
    with pytest.raises(ValueError, match="pruning_method"):
        MaskedEinsumDense("ab,bc->ac", 4, pruning_method="random")
    with pytest.raises(TypeError, match="EinsumDense"):
        MaskedEinsumDense.from_einsum_dense(keras.layers.Dense(2))
    with pytest.raises(RuntimeError, match="not built"):
        MaskedEinsumDense.from_einsum_dense(
            keras.layers.EinsumDense("ab,bc->ac", 4)
        )
    with pytest.raises(TypeError, match="from_einsum_dense"):
        MaskedEinsumDense.from_weights(np.ones((2, 2)))
