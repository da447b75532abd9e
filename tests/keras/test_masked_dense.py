"""`MaskedDense`: forward pass, gradients, config, saving and conversions."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras_backend_utils import (
    assert_straight_through,
    jit_compile_flag,
    to_numpy,
    trainable_gradients,
)

import smpcore
from smp_keras import MaskedDense


def _weights(layer: MaskedDense) -> tuple[np.ndarray, np.ndarray]:
    return to_numpy(layer.kernel), to_numpy(layer.bias)


def _layer(method: str = "topk", **kwargs) -> MaskedDense:
    kwargs.setdefault("score_initializer", "random_normal")
    kwargs.setdefault("bias_initializer", "random_normal")
    return MaskedDense(6, pruning_method=method, **kwargs)


# === Construction and validation ===


@pytest.mark.parametrize("density", [-0.1, 1.5, float("nan")])
def test_density_out_of_range_raises(density):
    with pytest.raises(ValueError, match="density"):
        MaskedDense(4, density=density)
    layer = MaskedDense(4)
    with pytest.raises(ValueError, match="density"):
        layer.set_density(density)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="pruning_method.*'movement'"):
        MaskedDense(4, pruning_method="movement")
    with pytest.raises(TypeError, match="units"):
        MaskedDense(4.0)
    with pytest.raises(ValueError, match="units"):
        MaskedDense(0)
    with pytest.raises(TypeError, match="density"):
        MaskedDense(4, density="0.5")
    with pytest.raises(ValueError, match="threshold"):
        MaskedDense(4, pruning_method="sigmoid_threshold", threshold=1.0)


def test_mask_before_build_raises_and_says_what_to_do():
    layer = MaskedDense(4)
    with pytest.raises(RuntimeError, match="build"):
        layer.mask()
    with pytest.raises(RuntimeError, match="build"):
        layer.bake()


def test_weights_names_dtypes_and_trainability():
    layer = MaskedDense(3)
    layer.build((5,))
    names = {v.name: v for v in layer.weights}
    assert set(names) == {
        "kernel",
        "bias",
        "scores",
        "density",
        "kept",
        "threshold",
        "regularization_weight",
    }
    assert [v.name for v in layer.trainable_weights] == ["scores"]
    assert names["kernel"].shape == names["scores"].shape == (5, 3)
    assert names["bias"].shape == (3,)
    assert keras.backend.standardize_dtype(names["kept"].dtype) == "int32"
    assert keras.backend.standardize_dtype(names["density"].dtype) == "float32"

    magnitude = MaskedDense(3, pruning_method="magnitude")
    magnitude.build((5,))
    assert magnitude.scores is None
    assert "scores" not in {v.name for v in magnitude.weights}
    assert not magnitude.trainable_weights

    movement = MaskedDense(3, kernel_trainable=True)
    movement.build((5,))
    assert {v.name for v in movement.trainable_weights} == {
        "kernel",
        "bias",
        "scores",
    }


def test_set_density_before_build_is_applied_at_build():
    layer = MaskedDense(10, density=0.9)
    layer.set_density(0.29)
    layer.build((10,))
    assert layer.density == pytest.approx(0.29)
    assert layer.kept == 29 == smpcore.topk_count(100, 0.29)
    assert int(layer.mask().sum()) == 29


# === Forward pass ===


@pytest.mark.parametrize("shape", [(8,), (4, 8), (2, 3, 8)])
def test_topk_forward_any_rank_matches_numpy(shape, rng):
    layer = _layer(density=0.3, activation="relu")
    x = rng.normal(size=shape).astype("float32")
    y = to_numpy(layer(x))
    kernel, bias = _weights(layer)
    mask = smpcore.topk_mask(to_numpy(layer.scores), 0.3)
    np.testing.assert_array_equal(layer.mask(), mask)
    expected = np.maximum(x @ (kernel * mask) + bias, 0.0)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    assert y.shape == (*shape[:-1], 6)


def test_zero_scores_keep_lowest_flat_indices():
    layer = MaskedDense(4, density=0.25)  # scores start at zero: all tie
    layer.build((3,))
    expected = np.arange(12).reshape(3, 4) < 3
    np.testing.assert_array_equal(layer.mask(), expected)


def test_input_spec_rejects_wrong_last_dimension(rng):
    layer = _layer()
    layer(rng.normal(size=(2, 8)).astype("float32"))
    with pytest.raises(ValueError):
        layer(rng.normal(size=(2, 7)).astype("float32"))


def test_threshold_method(rng):
    layer = _layer("threshold", threshold=0.3)
    layer.build((8,))
    scores = to_numpy(layer.scores)
    np.testing.assert_array_equal(layer.mask(), scores > 0.3)
    np.testing.assert_array_equal(
        layer.mask(), smpcore.threshold_mask(scores, 0.3)
    )
    layer.set_threshold(-0.2)
    np.testing.assert_array_equal(layer.mask(), scores > -0.2)


def test_sigmoid_threshold_method_and_min_density_floor(rng):
    layer = _layer("sigmoid_threshold", threshold=0.6, min_density=0.0)
    layer.build((8,))
    scores = to_numpy(layer.scores)
    expected = smpcore.threshold_mask(scores, 0.6, sigmoid=True)
    np.testing.assert_array_equal(layer.mask(), expected)

    floored = _layer("sigmoid_threshold", threshold=0.999, min_density=0.25)
    floored.build((8,))
    scores = to_numpy(floored.scores)
    expected = smpcore.threshold_mask(
        scores, 0.999, sigmoid=True, min_density=0.25
    )
    assert expected.sum() == 12  # nothing passes 0.999: the floor keeps 12
    np.testing.assert_array_equal(floored.mask(), expected)


def test_magnitude_method_keeps_largest_kernel_entries():
    layer = _layer("magnitude", density=0.2)
    layer.build((8,))
    kernel = to_numpy(layer.kernel)
    np.testing.assert_array_equal(
        layer.mask(), smpcore.magnitude_mask(kernel, 0.2)
    )


def test_bake_returns_dense_with_identical_outputs(rng):
    layer = _layer(density=0.4, activation="tanh", name="proj")
    x = rng.normal(size=(5, 8)).astype("float32")
    y = to_numpy(layer(x))
    dense = layer.bake()
    assert type(dense) is keras.layers.Dense and dense.name == "proj"
    np.testing.assert_allclose(to_numpy(dense(x)), y, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(to_numpy(dense.kernel) != 0, layer.mask())


def test_from_dense_and_from_weights(rng):
    dense = keras.layers.Dense(5, activation="relu", name="ffn")
    x = rng.normal(size=(3, 4)).astype("float32")
    y_dense = to_numpy(dense(x))
    masked = MaskedDense.from_dense(dense, density=1.0)
    assert masked.name == "ffn" and masked.units == 5
    np.testing.assert_allclose(to_numpy(masked(x)), y_dense, atol=1e-6)

    kernel = rng.normal(size=(4, 5)).astype("float32")
    layer = MaskedDense.from_weights(kernel, None, density=0.5)
    assert layer.bias is None
    np.testing.assert_array_equal(to_numpy(layer.kernel), kernel)
    with pytest.raises(ValueError, match="bias"):
        MaskedDense.from_weights(kernel, np.zeros(4))
    with pytest.raises(ValueError, match="kernel"):
        MaskedDense.from_weights(np.zeros(4))
    with pytest.raises(ValueError, match="units"):
        MaskedDense.from_weights(kernel, units=3)
    with pytest.raises(TypeError, match="Dense"):
        MaskedDense.from_dense(masked)


def test_score_statistic_is_mean_sigmoid_over_temperature():
    layer = _layer()
    layer.build((8,))
    scores = to_numpy(layer.scores).astype(np.float64)
    for temperature in (1.0, 4.0):
        expected = np.mean(1.0 / (1.0 + np.exp(-scores / temperature)))
        assert float(to_numpy(layer.score_statistic(temperature))) == (
            pytest.approx(expected, rel=1e-6)
        )
    with pytest.raises(ValueError, match="temperature"):
        layer.score_statistic(0.0)


# === Gradients ===


@pytest.mark.parametrize("method", ["topk", "threshold", "sigmoid_threshold"])
def test_straight_through_score_gradient(method, rng):
    """dL/dS = (x^T delta) * W, whatever the mask."""
    assert_straight_through(_layer(method, density=0.3, threshold=0.5), rng)


def test_movement_pruning_gradients(rng):
    layer = _layer(density=0.3, kernel_trainable=True)
    x = rng.normal(size=(7, 8)).astype("float32")
    delta = rng.normal(size=(7, 6)).astype("float32")
    layer.build((8,))
    grads = dict(
        zip(
            [v.name for v in layer.trainable_variables],
            trainable_gradients(layer, x, delta),
            strict=True,
        )
    )
    outer = x.T @ delta
    np.testing.assert_allclose(
        grads["scores"], outer * to_numpy(layer.kernel), rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(
        grads["kernel"], outer * layer.mask(), rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(grads["bias"], delta.sum(0), rtol=1e-5)


class _CountingMaskedDense(MaskedDense):
    calls = 0

    def call(self, inputs, training=None):
        type(self).calls += 1
        return super().call(inputs, training=training)


def test_set_density_does_not_retrace_compiled_train_step(rng):
    layer = _CountingMaskedDense(6, density=1.0)
    model = keras.Sequential([keras.Input((8,)), layer])
    model.compile("adam", "mse", jit_compile=jit_compile_flag())
    x = rng.normal(size=(16, 8)).astype("float32")
    y = rng.normal(size=(16, 6)).astype("float32")
    model.train_on_batch(x, y)
    traced = _CountingMaskedDense.calls
    for density in (0.5, 0.1, 0.02):
        layer.set_density(density)
        model.train_on_batch(x, y)
        assert layer.kept == smpcore.topk_count(48, density)
        assert int(layer.mask().sum()) == layer.kept
    if jit_compile_flag():
        assert _CountingMaskedDense.calls == traced
    else:
        assert _CountingMaskedDense.calls == traced + 3


# === Models, config and saving ===


def test_config_round_trip():
    layer = MaskedDense(
        5,
        activation="gelu",
        use_bias=False,
        pruning_method="sigmoid_threshold",
        kernel_trainable=True,
        score_initializer=keras.initializers.Constant(0.1),
        density=0.3,
        threshold=0.7,
        min_density=0.01,
        name="q",
    )
    config = layer.get_config()
    clone = MaskedDense.from_config(config)
    assert clone.get_config() == config
    assert config["density"] == pytest.approx(0.3)
    assert config["threshold"] == pytest.approx(0.7)
    layer.build((4,))
    layer.set_density(0.6)
    assert MaskedDense.from_config(layer.get_config()).density == (
        pytest.approx(0.6)
    )


class SubclassedNet(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = MaskedDense(
            12, activation="relu", density=0.5, name="hidden"
        )
        self.out = MaskedDense(3, pruning_method="magnitude", density=0.5)

    def call(self, x):
        return self.out(self.hidden(x))


def _models():
    inputs = keras.Input((8,))
    hidden = MaskedDense(
        12, activation="relu", density=0.4, score_initializer="random_normal"
    )(inputs)
    outputs = MaskedDense(3, pruning_method="threshold", threshold=-0.5)(hidden)
    yield "functional", keras.Model(inputs, outputs)
    yield (
        "sequential",
        keras.Sequential(
            [
                keras.Input((8,)),
                MaskedDense(12, density=0.3, score_initializer="random_normal"),
                MaskedDense(
                    3, pruning_method="sigmoid_threshold", threshold=0.4
                ),
            ]
        ),
    )


@pytest.mark.parametrize("kind", ["functional", "sequential"])
def test_keras_file_save_load_gives_identical_outputs_and_masks(
    kind, tmp_path, rng
):
    model = dict(_models())[kind]
    x = rng.normal(size=(4, 8)).astype("float32")
    y = to_numpy(model(x))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(to_numpy(loaded(x)), y)
    old_layers = [lay for lay in model.layers if isinstance(lay, MaskedDense)]
    new_layers = [lay for lay in loaded.layers if isinstance(lay, MaskedDense)]
    assert len(new_layers) == len(old_layers) == 2
    for old, new in zip(old_layers, new_layers, strict=True):
        np.testing.assert_array_equal(new.mask(), old.mask())
        assert new.kept == old.kept


def test_subclassed_model_trains_scores_only(rng):
    model = SubclassedNet()
    model.compile("adam", "mse")
    x = rng.normal(size=(32, 8)).astype("float32")
    y = rng.normal(size=(32, 3)).astype("float32")
    model(x)
    kernels = [to_numpy(v) for v in (model.hidden.kernel, model.out.kernel)]
    scores = to_numpy(model.hidden.scores)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    np.testing.assert_array_equal(to_numpy(model.hidden.kernel), kernels[0])
    np.testing.assert_array_equal(to_numpy(model.out.kernel), kernels[1])
    assert not np.array_equal(to_numpy(model.hidden.scores), scores)
    assert int(model.hidden.mask().sum()) == 48


@pytest.mark.parametrize("method", ["topk", "magnitude"])
def test_mixed_precision_uses_the_float32_mask(method, rng):
    """Under float16 compute the mask still comes from float32 values.

    The kernel's float16 values tie far more often than its float32 ones:
    a mask taken from them would differ from `mask()` and from `bake()`.
    """
    layer = MaskedDense(
        64,
        pruning_method=method,
        density=0.3,
        score_initializer=keras.initializers.RandomNormal(stddev=1e-4),
        dtype="mixed_float16",
    )
    x = rng.normal(size=(4, 64)).astype("float32")
    y = to_numpy(layer(x)).astype("float32")
    assert keras.backend.standardize_dtype(layer.kernel.dtype) == "float32"
    baked = to_numpy(layer.bake()(x)).astype("float32")
    np.testing.assert_allclose(y, baked, rtol=1e-3, atol=1e-3)
    kernel, bias = _weights(layer)
    expected = x @ (kernel * layer.mask()) + bias
    np.testing.assert_allclose(y, expected, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("method", ["topk", "threshold", "sigmoid_threshold"])
def test_set_mask_makes_the_layer_give_that_mask(method):
    rng = np.random.default_rng(3)
    layer = MaskedDense(6, pruning_method=method)
    layer.build((None, 10))
    mask = rng.random((10, 6)) < 0.3
    mask[0, :] = True  # above sigmoid_threshold's 0.5% floor
    layer.set_mask(mask)
    np.testing.assert_array_equal(layer.mask(), mask)
    if method == "topk":
        assert layer.kept == int(mask.sum())
        assert layer.density == pytest.approx(mask.mean())


def test_set_mask_and_min_density_reject_bad_input():
    layer = MaskedDense(4, pruning_method="sigmoid_threshold", min_density=0.5)
    layer.build((None, 4))
    with pytest.raises(ValueError, match=r"kernel's shape \(4, 4\)"):
        layer.set_mask(np.ones((4, 5), bool))
    with pytest.raises(ValueError, match="fewer than the min_density=0.5"):
        layer.set_mask(np.eye(4, dtype=bool))
    layer.set_min_density(0.0)
    layer.set_mask(np.eye(4, dtype=bool))
    np.testing.assert_array_equal(layer.mask(), np.eye(4, dtype=bool))
    with pytest.raises(ValueError, match="min_density"):
        layer.set_min_density(1.5)
    magnitude = MaskedDense(4, pruning_method="magnitude")
    magnitude.build((None, 4))
    with pytest.raises(ValueError, match="pruning_method='magnitude'"):
        magnitude.set_mask(np.ones((4, 4), bool))
    unbuilt = MaskedDense(4)
    with pytest.raises(RuntimeError, match="set_mask"):
        unbuilt.set_mask(np.ones((4, 4), bool))
