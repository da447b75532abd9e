"""Numerical robustness of masks and training (issue 9, item 4).

Run once per Keras backend. Masks must stay exact (exactly
``topk_count(n, density)`` kept, equal to :func:`smpcore.topk_mask` bit for
bit) and training must not produce NaN or inf when

* scores grow very large (1e30, the float32 maximum) and the sigmoid of
  `"sigmoid_threshold"` and of the SMP regulariser saturates;
* all scores are equal (the paper's zero initialisation): the lowest flat
  indices are kept;
* the density schedule reaches exactly 0 or 1;
* the model trains under ``keras.mixed_precision`` ``"mixed_bfloat16"``:
  scores and kernels stay float32 variables, the mask is computed from them,
  only the matmul runs in bfloat16.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest

import smpcore
from smp_keras import SparsityScheduler, ops
from smp_keras.layers import MaskedDense

pytestmark = pytest.mark.usefixtures("fresh_keras")

BACKEND = keras.backend.backend()
F32_MAX = float(np.finfo(np.float32).max)
TINY = float(np.nextafter(np.float32(0), np.float32(1)))


@pytest.fixture
def mixed_bfloat16():
    """The global dtype policy "mixed_bfloat16", reset to float32 after."""
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    yield
    keras.mixed_precision.set_global_policy("float32")


def to_numpy(x: Any) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x))


def assert_exact_mask(mask: np.ndarray, scores: np.ndarray, k: int) -> None:
    """`mask` keeps exactly `k` and equals smpcore's top-k of `scores`."""
    n = scores.size
    assert int(mask.sum()) == k
    np.testing.assert_array_equal(
        mask.astype(bool), smpcore.topk_mask(scores, k / n)
    )


def gradients(
    layer: MaskedDense, x: np.ndarray, upstream: np.ndarray
) -> tuple[float, list[np.ndarray]]:
    """Loss `sum(y * upstream) + layer losses` and its trainable gradients.

    The layer runs with ``training=True``, so the SMP regulariser
    (``regularization_weight * mean(sigmoid(S))``) is part of the loss.
    """
    x, upstream = np.asarray(x, "float32"), np.asarray(upstream, "float32")
    if BACKEND == "tensorflow":
        import tensorflow as tf

        variables = [v.value for v in layer.trainable_variables]
        with tf.GradientTape() as tape:
            y = tf.cast(layer(x, training=True), "float32")
            loss = tf.reduce_sum(y * upstream) + tf.add_n(layer.losses)
        grads = tape.gradient(loss, variables)
        return float(loss), [g.numpy() for g in grads]
    if BACKEND == "jax":
        import jax
        import jax.numpy as jnp

        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]

        def loss_fn(values):
            y, _, losses = layer.stateless_call(
                values, non_trainable, x, training=True, return_losses=True
            )
            return jnp.sum(y.astype("float32") * upstream) + sum(losses)

        loss, grads = jax.value_and_grad(loss_fn)(trainable)
        return float(loss), [np.asarray(g) for g in grads]
    if BACKEND == "torch":
        import torch

        for v in layer.trainable_variables:
            v.value.grad = None
        y = layer(x, training=True).float()
        loss = torch.sum(y * torch.as_tensor(upstream)) + sum(layer.losses)
        loss.backward()
        grads = [
            v.value.grad.detach().cpu().numpy()
            for v in layer.trainable_variables
        ]
        return float(loss.detach()), grads
    raise NotImplementedError(BACKEND)


# === Very large scores ===

LARGE = {
    "1e30": np.array([1e30, -1e30, 3.0, 1e30, 0.0, -0.0, 1e-30, -1e30]),
    "float32-max": np.array(
        [F32_MAX, -F32_MAX, F32_MAX, 1.0, -1.0, TINY, -TINY, 0.0]
    ),
    # The eight largest float32 numbers, one ulp (2**104) apart.
    "near-max-distinct": np.float32(F32_MAX)
    - np.arange(8, dtype=np.float32) * np.float32(2.0**104),
    "mixed-magnitudes": np.array(
        [1e38, 1e-38, -1e38, 1e-45, -1e-45, 1e20, -1e20, 0.5]
    ),
}


@pytest.mark.parametrize("name", sorted(LARGE))
def test_topk_mask_with_very_large_scores(name, reliability_counter):
    scores = np.asarray(LARGE[name], dtype=np.float32).reshape(2, 4)
    for k in range(scores.size + 1):
        reliability_counter.add("cases")
        assert_exact_mask(to_numpy(ops.topk_mask(scores, k)), scores, k)


@pytest.mark.parametrize("scale", [1e30, F32_MAX])
def test_saturated_scores_train_without_nan(scale, reliability_counter):
    """Huge scores: exact masks, finite loss and gradients in every mode."""
    rng = np.random.default_rng(0)
    signs = rng.choice([-1.0, 1.0], size=(6, 4)).astype(np.float32)
    scores = (signs * np.float32(scale)).astype(np.float32)
    scores[0, :2] = 0.0  # a few unsaturated ones
    x = rng.normal(size=(5, 6)).astype(np.float32)
    upstream = rng.normal(size=(5, 4)).astype(np.float32)
    for method in ("topk", "sigmoid_threshold", "threshold"):
        reliability_counter.add("cases")
        layer = MaskedDense(
            4, pruning_method=method, density=0.5, min_density=0.25
        )
        layer.build((6,))
        layer.scores.assign(scores)
        layer.set_regularization_weight(400.0)
        mask = layer.mask()
        if method == "topk":
            assert_exact_mask(mask, scores, layer.kept)
        elif method == "threshold":
            np.testing.assert_array_equal(mask, scores > 0)
        else:  # sigmoid(±scale) is exactly 1 or 0 in float32
            np.testing.assert_array_equal(mask, scores > 0)
        loss, grads = gradients(layer, x, upstream)
        assert np.isfinite(loss)
        # R(S) = 400 * mean(sigmoid(S)): the saturated scores count 1 or 0.
        statistic = float(to_numpy(layer.score_statistic()))
        want = float(np.mean(smpcore.sigmoid(scores.astype(np.float64))))
        assert statistic == pytest.approx(want, abs=1e-6)
        for grad in grads:
            assert np.isfinite(grad).all()
        # With a tiny temperature every score saturates, still finite.
        assert np.isfinite(to_numpy(layer.score_statistic(1e-30)))


def test_regulariser_gradient_vanishes_where_sigmoid_saturates(
    reliability_counter,
):
    reliability_counter.add("cases")
    scores = np.array([[1e30, -1e30], [0.0, F32_MAX]], np.float32)
    layer = MaskedDense(2, kernel_initializer="zeros")  # no task gradient
    layer.build((2,))
    layer.scores.assign(scores)
    layer.set_regularization_weight(4.0)
    loss, grads = gradients(layer, np.ones((1, 2)), np.zeros((1, 2)))
    (score_grad,) = [
        g
        for g, v in zip(grads, layer.trainable_variables, strict=True)
        if v is layer.scores
    ]
    # d/dS 4 * mean(sigmoid(S)) = sigmoid'(S): 0 when saturated, 1/4 at 0
    want = 4.0 * smpcore.sigmoid_l1_grad(scores.astype(np.float64))
    np.testing.assert_allclose(score_grad, want, atol=1e-7)
    assert loss == pytest.approx(4.0 * (1 + 0 + 0.5 + 1) / 4)


# === All-equal scores ===


@pytest.mark.parametrize(
    "value", [0.0, -0.0, 1.0, -1e30, F32_MAX, TINY], ids=repr
)
def test_all_equal_scores_keep_the_lowest_indices(value, reliability_counter):
    scores = np.full((3, 5), value, np.float32)
    if value == 0.0:
        scores[1, ::2] = -0.0  # +0.0 and -0.0 tie
    for k in range(scores.size + 1):
        reliability_counter.add("cases")
        mask = to_numpy(ops.topk_mask(scores, k))
        want = np.zeros(scores.size, np.float32)
        want[:k] = 1.0
        np.testing.assert_array_equal(mask.ravel(), want)
        assert_exact_mask(mask, scores, k)


def test_zero_initialised_layer_is_lowest_index_mask(reliability_counter):
    """The paper's initialisation: every mask starts as the first k."""
    for density in (0.0, 0.1, 0.37, 0.5, 0.99, 1.0):
        reliability_counter.add("cases")
        layer = MaskedDense(7, density=density)  # scores "zeros"
        layer.build((9,))
        k = smpcore.topk_count(63, density)
        assert layer.mask().ravel().tolist() == [True] * k + [False] * (63 - k)


# === Densities exactly 0 and 1 ===


def _model(units: int = 4) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((6,)),
            MaskedDense(8, activation="relu", name="masked_0"),
            MaskedDense(units, name="masked_1"),
        ]
    )


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(32, 6)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int32)


def _compile(model: keras.Model) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )


@pytest.mark.parametrize("density", [0.0, 1.0])
def test_density_zero_and_one_are_exact(density, reliability_counter):
    reliability_counter.add("cases")
    rng = np.random.default_rng(1)
    layer = MaskedDense(3, density=density, bias_initializer="ones")
    layer.build((4,))
    layer.scores.assign(rng.normal(size=(4, 3)).astype(np.float32))
    x = rng.normal(size=(2, 4)).astype(np.float32)
    mask = layer.mask()
    assert mask.all() if density == 1.0 else not mask.any()
    kernel = to_numpy(layer.kernel) * density
    np.testing.assert_allclose(to_numpy(layer(x)), x @ kernel + 1.0, rtol=1e-6)


@pytest.mark.parametrize(
    ("initial", "final"), [(1.0, 0.0), (0.0, 1.0), (1.0, 1.0), (0.0, 0.0)]
)
def test_schedules_reaching_zero_or_one_train_without_nan(
    initial, final, reliability_counter
):
    reliability_counter.add("cases")
    model = _model(2)
    _compile(model)
    schedule = smpcore.cubic_density_schedule(
        initial_density=initial, final_density=final, total_steps=4
    )
    scheduler = SparsityScheduler(
        schedule,
        regularization_schedule=smpcore.regularization_schedule(
            final_weight=400.0, total_steps=4
        ),
    )
    x, y = _data()
    history = model.fit(
        x, y, batch_size=8, epochs=2, verbose=0, callbacks=[scheduler]
    )
    losses = history.history["loss"]
    assert np.isfinite(losses).all(), losses
    for layer in model.layers:
        scores = to_numpy(layer.scores)
        assert np.isfinite(scores).all()
        k = smpcore.topk_count(layer.kernel_size, final)
        assert layer.kept == k
        assert_exact_mask(layer.mask(), scores, k)


# === Mixed precision ===


def test_mixed_bfloat16_training_keeps_masks_exact(
    mixed_bfloat16, reliability_counter
):
    reliability_counter.add("cases")
    model = _model(2)
    _compile(model)
    for layer in model.layers:
        assert layer.compute_dtype == "bfloat16"
        # Scores and kernel stay float32: bfloat16 would merge near ties.
        assert keras.backend.standardize_dtype(layer.scores.dtype) == "float32"
        assert keras.backend.standardize_dtype(layer.kernel.dtype) == "float32"
    schedule = smpcore.cubic_density_schedule(final_density=0.3, total_steps=6)
    scheduler = SparsityScheduler(
        schedule,
        allocation="smp_s",
        regularization_schedule=smpcore.regularization_schedule(
            final_weight=10.0, total_steps=6
        ),
    )
    x, y = _data(2)
    history = model.fit(
        x, y, batch_size=8, epochs=2, verbose=0, callbacks=[scheduler]
    )
    assert np.isfinite(history.history["loss"]).all(), history.history
    # Scores differing below bfloat16's resolution must still be ordered.
    layer = model.layers[0]
    near = np.float32(1.0) + np.arange(48, dtype=np.float32) * np.float32(
        2.0**-20
    )
    layer.scores.assign(
        np.random.default_rng(3).permutation(near).reshape(6, 8)
    )
    total = 0
    for layer in model.layers:
        scores = to_numpy(layer.scores)
        assert scores.dtype == np.float32 and np.isfinite(scores).all()
        assert_exact_mask(layer.mask(), scores, layer.kept)
        total += layer.kept
    out = model(x[:4])
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    assert np.isfinite(to_numpy(keras.ops.cast(out, "float32"))).all()
    # SMP-S: both layers are in group "masked_", which keeps round(0.3 n).
    assert total == smpcore.topk_count(6 * 8 + 8 * 2, 0.3)
