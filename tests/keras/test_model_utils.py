"""Masked layer discovery, reports, mask artifacts and baking."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras_backend_utils import to_numpy

import smpcore
from smp_keras import (
    MaskedDense,
    bake,
    format_sparsity_report,
    load_masks,
    masked_layers,
    named_masked_layers,
    save_masks,
    sparsity_report,
)


class Block(keras.layers.Layer):
    """A custom layer holding MaskedDense layers (like a BERT block)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.query = MaskedDense(4, density=0.5, name="query")
        self.ffn = MaskedDense(4, pruning_method="threshold", name="ffn")

    def build(self, input_shape):
        self.query.build(input_shape)
        self.ffn.build((*input_shape[:-1], 4))

    def call(self, x):
        return self.ffn(self.query(x))


def _nested_model() -> keras.Model:
    inner = keras.Sequential(
        [keras.Input((4,)), MaskedDense(4, density=0.25, name="dense")],
        name="inner",
    )
    inputs = keras.Input((4,))
    h = Block(name="block_0")(inputs)
    h = Block(name="block_1")(h)
    h = inner(h)
    outputs = MaskedDense(2, pruning_method="sigmoid_threshold", name="head")(h)
    return keras.Model(inputs, outputs, name="net")


def _randomise_scores(model, rng):
    for layer in masked_layers(model):
        if layer.scores is not None:
            shape = tuple(layer.scores.shape)
            layer.scores.assign(rng.normal(size=shape).astype("float32"))


def test_named_masked_layers_are_stable_and_recursive():
    names = list(named_masked_layers(_nested_model()))
    assert names == [
        "block_0/query",
        "block_0/ffn",
        "block_1/query",
        "block_1/ffn",
        "inner/dense",
        "head",
    ]
    assert names == list(named_masked_layers(_nested_model()))
    with pytest.raises(TypeError, match="model"):
        masked_layers("model")


class Twin(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.a = MaskedDense(2, name="x")
        self.b = MaskedDense(2, name="x")


def test_duplicate_names_raise():
    inputs = keras.Input((4,))
    h = MaskedDense(4, name="same")(inputs)
    inner = keras.Sequential(
        [keras.Input((4,)), MaskedDense(4, name="same")], name="inner"
    )
    model = keras.Model(inputs, inner(h))
    assert list(named_masked_layers(model)) == ["same", "inner/same"]
    with pytest.raises(ValueError, match="twin/x"):
        named_masked_layers(keras.Sequential([Twin(name="twin")]))


def test_sparsity_report_matches_smpcore(rng):
    model = _nested_model()
    _randomise_scores(model, rng)
    layers = named_masked_layers(model)
    report = sparsity_report(model)
    expected = smpcore.sparsity_report(
        {name: layer.mask() for name, layer in layers.items()}
    )
    assert report == expected
    assert report["matrices"]["inner/dense"]["kept"] == 4
    table = format_sparsity_report(model)
    assert table == format_sparsity_report(report)
    assert "block_1/query" in table and "total" in table


def test_save_load_masks_round_trip(tmp_path, rng):
    source = _nested_model()
    _randomise_scores(source, rng)
    target = _nested_model()
    target.set_weights(source.get_weights())
    _randomise_scores(target, rng)  # different masks before loading
    path = tmp_path / "task.smpmask"
    save_masks(source, path)
    load_masks(target, path)
    for (name, a), b in zip(
        named_masked_layers(source).items(),
        masked_layers(target),
        strict=True,
    ):
        np.testing.assert_array_equal(b.mask(), a.mask(), err_msg=name)
    x = rng.normal(size=(3, 4)).astype("float32")
    np.testing.assert_allclose(
        to_numpy(target(x)), to_numpy(source(x)), rtol=1e-6, atol=1e-6
    )


def test_load_masks_reports_every_mismatch_and_assigns_nothing(tmp_path, rng):
    model = _nested_model()
    _randomise_scores(model, rng)
    masks = {
        name: layer.mask() for name, layer in named_masked_layers(model).items()
    }
    del masks["head"]
    masks["block_0/query"] = np.ones((5, 4), bool)
    masks["extra"] = np.ones((2, 2), bool)
    path = tmp_path / "bad.smpmask"
    smpcore.save_masks_file(path, masks)
    before = [to_numpy(v).copy() for v in model.weights]
    with pytest.raises(ValueError) as info:
        load_masks(model, path)
    message = str(info.value)
    assert "'head'" in message and "'extra'" in message
    assert "'block_0/query'" in message and "(5, 4)" in message
    for old, new in zip(before, model.weights, strict=True):
        np.testing.assert_array_equal(to_numpy(new), old)


def test_load_masks_rejects_magnitude_layers_and_floor(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((4,)),
            MaskedDense(4, pruning_method="magnitude", name="m"),
            MaskedDense(
                4, pruning_method="sigmoid_threshold", min_density=0.5, name="s"
            ),
        ]
    )
    path = tmp_path / "m.smpmask"
    smpcore.save_masks_file(
        path, {"m": np.ones((4, 4), bool), "s": np.eye(4, dtype=bool)}
    )
    with pytest.raises(ValueError, match="magnitude(.|\n)*min_density"):
        load_masks(model, path)


def _all_layers(model):
    return model._flatten_layers(include_self=False, recursive=True)


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_bake_replaces_masked_layers_with_dense(kind, rng):
    if kind == "sequential":
        model = keras.Sequential(
            [
                keras.Input((6,)),
                MaskedDense(8, activation="relu", density=0.4),
                keras.layers.Dropout(0.1),
                MaskedDense(3, pruning_method="threshold"),
            ]
        )
    else:
        inner = keras.Sequential(
            [keras.Input((8,)), MaskedDense(8, density=0.3)], name="inner"
        )
        inputs = keras.Input((6,))
        h = MaskedDense(8, activation="relu", density=0.4)(inputs)
        h = keras.layers.LayerNormalization()(inner(h))
        model = keras.Model(inputs, keras.layers.Dense(3)(h))
    x = rng.normal(size=(5, 6)).astype("float32")
    model(x)
    _randomise_scores(model, rng)
    for layer in _all_layers(model):
        if isinstance(layer, keras.layers.LayerNormalization):
            layer.gamma.assign(rng.normal(size=layer.gamma.shape))
    baked = bake(model)
    assert not masked_layers(baked)
    assert not any(
        type(layer).__module__.startswith("smp_keras")
        for layer in _all_layers(baked)
    )
    np.testing.assert_allclose(
        to_numpy(baked(x)), to_numpy(model(x)), rtol=1e-5, atol=1e-5
    )


def test_bake_swaps_masked_layers_inside_custom_layers(rng):
    model = _nested_model()
    x = rng.normal(size=(3, 4)).astype("float32")
    model(x)
    _randomise_scores(model, rng)
    baked = bake(model)
    assert not masked_layers(baked)
    assert type(baked.get_layer("block_0").query) is keras.layers.Dense
    np.testing.assert_allclose(
        to_numpy(baked(x)), to_numpy(model(x)), rtol=1e-5, atol=1e-5
    )
    assert masked_layers(model)  # the original keeps its masks


def test_bake_refuses_layers_and_models_without_masks():
    block = Block()
    block.build((2, 4))
    with pytest.raises(TypeError, match="keras.Model"):
        bake(block)
    plain = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="no MaskedDense"):
        bake(plain)


def _mixed_model():
    from smp_keras.model_utils import masked_layers

    inputs = keras.Input((6,))
    h = inputs
    for i, method in enumerate(
        ["topk", "threshold", "sigmoid_threshold", "magnitude"]
    ):
        h = MaskedDense(6, pruning_method=method, name=f"m{i}")(h)
    model = keras.Model(inputs, h)
    rng = np.random.default_rng(0)
    for layer in masked_layers(model):
        if layer.scores is not None:
            layer.scores.assign(rng.normal(size=(6, 6)).astype("float32"))
    model.layers[1].set_density(0.3)
    model.layers[4].set_density(0.5)
    model.layers[3].set_threshold(0.6)
    return model


@pytest.mark.parametrize("masks", ["dense", 0.25])
def test_override_masks_sets_then_restores_every_layer(masks):
    from smp_keras.model_utils import masked_layers, override_masks

    model = _mixed_model()
    x = np.random.default_rng(1).normal(size=(3, 6)).astype("float32")
    before = to_numpy(model(x))
    layers = masked_layers(model)
    old = [layer.mask() for layer in layers]
    with override_masks(model, masks) as kept:
        for layer in layers:
            kernel = to_numpy(layer.kernel)
            expected = (
                np.ones((6, 6), bool)
                if masks == "dense"
                else smpcore.magnitude_mask(kernel, masks)
            )
            np.testing.assert_array_equal(layer.mask(), expected, layer.name)
        assert kept == sum(int(layer.mask().sum()) for layer in layers)
    for layer, mask in zip(layers, old, strict=True):
        np.testing.assert_array_equal(layer.mask(), mask, layer.name)
    np.testing.assert_allclose(to_numpy(model(x)), before, rtol=1e-6)


def test_override_masks_restores_after_an_error_and_checks_its_input():
    from smp_keras.model_utils import masked_layers, override_masks

    model = _mixed_model()
    old = [layer.mask_state() for layer in masked_layers(model)]
    with pytest.raises(KeyError), override_masks(model, "dense"):
        raise KeyError("inside")
    for layer, state in zip(masked_layers(model), old, strict=True):
        now = layer.mask_state()
        for key, value in state.items():
            np.testing.assert_array_equal(
                now[key], value, f"{layer.name} {key}"
            )
    with pytest.raises(ValueError, match="masks='sparse'"):
        with override_masks(model, "sparse"):
            pass
    with pytest.raises(ValueError, match="masks"):
        with override_masks(model, 1.5):
            pass
    with pytest.raises(ValueError, match="mask_state"):
        masked_layers(model)[0].restore_mask_state({"density": 1.0})
