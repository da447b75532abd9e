"""`SparseDense`: the kept weights only, the dense layer's outputs."""

from __future__ import annotations

import os

import keras
import numpy as np
import pytest
from keras import ops

from smp_keras.layers import SPARSE_MAX_DENSITY, SparseDense, sparse_pays


def _kernel(shape=(24, 10), density=0.2, seed=0):
    rng = np.random.default_rng(seed)
    kernel = rng.standard_normal(shape).astype("float32")
    return kernel * (rng.random(shape) < density)


def _dense(kernel, bias, activation=None):
    """`keras.layers.Dense`, the oracle."""
    layer = keras.layers.Dense(
        kernel.shape[1], activation=activation, use_bias=bias is not None
    )
    layer.build((None, kernel.shape[0]))
    layer.set_weights([kernel] + ([] if bias is None else [bias]))
    return layer


@pytest.mark.parametrize("activation", [None, "gelu"])
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("density", [0.0, 0.03, 0.3, 1.0])
def test_outputs_match_keras_dense(activation, with_bias, density):
    kernel = _kernel(density=density)
    bias = np.linspace(-1, 1, 10).astype("float32") if with_bias else None
    layer = SparseDense.from_kernel(kernel, bias, activation=activation)
    oracle = _dense(kernel, bias, activation)
    rng = np.random.default_rng(1)
    for shape in ((3, 24), (2, 7, 24), (1, 1, 24)):
        x = rng.standard_normal(shape).astype("float32")
        np.testing.assert_allclose(
            ops.convert_to_numpy(layer(x)),
            ops.convert_to_numpy(oracle(x)),
            atol=1e-5,
            rtol=1e-5,
        )
    assert layer.nonzeros == np.count_nonzero(kernel)
    assert layer.density == pytest.approx(np.count_nonzero(kernel) / 240)
    np.testing.assert_array_equal(layer.kernel(), kernel)
    assert layer.trainable_weights == []


def test_inside_a_model_saved_and_loaded(tmp_path):
    kernel = _kernel((16, 8), 0.25)
    bias = np.arange(8, dtype="float32")
    inputs = keras.Input((None, 16))
    model = keras.Model(
        inputs, SparseDense.from_kernel(kernel, bias, name="sparse")(inputs)
    )
    x = np.random.default_rng(2).standard_normal((4, 5, 16)).astype("float32")
    expected = x @ kernel + bias
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5)
    path = str(tmp_path / "sparse.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.get_layer("sparse"), SparseDense)
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), expected, atol=1e-5
    )
    # A second call after loading uses the loaded weights, not a cache.
    np.testing.assert_allclose(
        ops.convert_to_numpy(loaded(x)), expected, atol=1e-5
    )


def test_new_weights_are_used_after_a_call():
    kernel = _kernel((12, 6), 0.3)
    layer = SparseDense.from_kernel(kernel)
    x = np.ones((2, 12), "float32")
    layer(x)  # builds the backend's sparse matrix (cached on PyTorch)
    values, rows, columns = layer.get_weights()
    layer.set_weights([2 * values, rows, columns])
    np.testing.assert_allclose(
        ops.convert_to_numpy(layer(x)), x @ (2 * kernel), atol=1e-5
    )


def test_the_file_stores_only_the_kept_weights(tmp_path):
    kernel = _kernel((256, 256), 0.05)
    sizes = {}
    for name, layer in (
        ("dense", _dense(kernel, None)),
        ("sparse", SparseDense.from_kernel(kernel)),
    ):
        inputs = keras.Input((256,))
        path = str(tmp_path / f"{name}.keras")
        keras.Model(inputs, layer(inputs)).save(path)
        sizes[name] = os.path.getsize(path)
    # 12 bytes per kept weight: about 0.6 of 4 bytes per weight at 5%.
    assert sizes["sparse"] < 0.3 * sizes["dense"]


def test_config_round_trip():
    layer = SparseDense.from_kernel(_kernel(), activation="relu", name="s")
    config = layer.get_config()
    assert config["units"] == 10 and config["nonzeros"] == layer.nonzeros
    clone = SparseDense.from_config(config)
    clone.build((None, 24))
    clone.set_weights(layer.get_weights())
    x = np.ones((2, 24), "float32")
    np.testing.assert_allclose(
        ops.convert_to_numpy(clone(x)), ops.convert_to_numpy(layer(x))
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(units=0, nonzeros=1), "units"),
        (dict(units=2.5, nonzeros=1), "units"),
        (dict(units=True, nonzeros=1), "units"),
        (dict(units=3, nonzeros=-1), "nonzeros"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SparseDense(**kwargs)


def test_bad_kernels_are_named():
    with pytest.raises(ValueError, match="kernel"):
        SparseDense.from_kernel(np.ones(4, "float32"))
    with pytest.raises(ValueError, match="bias"):
        SparseDense.from_kernel(np.ones((4, 3), "float32"), np.ones(4))
    with pytest.raises(ValueError, match="nonzeros"):
        SparseDense(3, nonzeros=13).build((None, 4))
    with pytest.raises(ValueError, match="input_shape"):
        SparseDense(3, nonzeros=1).build((None, None))


def test_sparse_pays_follows_the_measured_crossover():
    for backend, crossover in SPARSE_MAX_DENSITY.items():
        assert sparse_pays(crossover, backend=backend)
        assert not sparse_pays(min(1.0, crossover + 0.01), backend=backend)
    assert sparse_pays(0.4, backend="jax", max_density=0.5)
    assert sparse_pays(0.1) == (
        0.1 <= SPARSE_MAX_DENSITY[keras.backend.backend()]
    )
    with pytest.raises(ValueError, match="backend='openvino'"):
        sparse_pays(0.1, backend="openvino")
    with pytest.raises(ValueError, match="density"):
        sparse_pays(1.5)
    with pytest.raises(ValueError, match="max_density"):
        sparse_pays(0.1, max_density=-0.1)
