"""`mask_model` and `bake` on real Keras models: a user's MLP and CNN, and
keras-hub's BERT, RoBERTa and DistilBERT backbones (small random configs,
no preset downloads).

On every backend: identical outputs at density 1, the exact density at 10%,
a short SMP run that lowers the loss, save/load, and `bake` as the inverse.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import smpcore
from smp_keras import (
    MaskedDense,
    MaskedEinsumDense,
    SparsityScheduler,
    bake,
    load_masks,
    mask_model,
    maskable_layers,
    masked_layers,
    named_masked_layers,
    save_masks,
)

keras_hub = pytest.importorskip("keras_hub")

TOKENS = np.array([[2, 5, 7, 9, 3, 0], [2, 4, 3, 0, 0, 0]], "int32")
PADDING = (TOKENS > 0).astype("int32")
SMALL = dict(
    vocabulary_size=16,
    num_layers=2,
    num_heads=2,
    hidden_dim=8,
    intermediate_dim=16,
    max_sequence_length=8,
)


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _mlp():
    return keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(16, activation="relu", name="hidden"),
            keras.layers.Dense(3, name="head"),
        ],
        name="mlp",
    )


def _cnn():
    inputs = keras.Input((6, 6, 2))
    h = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(8, activation="relu", name="fc")(h)
    return keras.Model(inputs, keras.layers.Dense(3, name="head")(h))


def _hub(kind):
    if kind == "bert":
        return keras_hub.models.BertBackbone(**SMALL), {
            "token_ids": TOKENS,
            "padding_mask": PADDING,
            "segment_ids": np.zeros_like(TOKENS),
        }
    backbone = {
        "roberta": keras_hub.models.RobertaBackbone,
        "distil_bert": keras_hub.models.DistilBertBackbone,
    }[kind](**SMALL)
    return backbone, {"token_ids": TOKENS, "padding_mask": PADDING}


def _models(rng):
    """(name, model, inputs) of every model the tests cover."""
    models = [
        ("mlp", _mlp(), rng.normal(size=(4, 6)).astype("float32")),
        ("cnn", _cnn(), rng.normal(size=(4, 6, 6, 2)).astype("float32")),
    ]
    for kind in ("bert", "roberta", "distil_bert"):
        models.append((kind, *_hub(kind)))
    return models


def _flat(outputs):
    return [_numpy(x) for x in keras.tree.flatten(outputs)]


def _assert_same(a, b, tol=1e-5):
    for x, y in zip(_flat(a), _flat(b), strict=True):
        np.testing.assert_allclose(x, y, rtol=tol, atol=tol)


NAMES = ["mlp", "cnn", "bert", "roberta", "distil_bert"]


@pytest.mark.parametrize("index", range(len(NAMES)), ids=NAMES)
def test_identical_at_density_one_exact_at_ten_percent_and_bakes(index, rng):
    name, model, x = _models(rng)[index]
    expected = model(x)
    selected = maskable_layers(model)
    masked = mask_model(model)
    assert type(masked) is type(model)
    assert list(named_masked_layers(masked)) == list(selected)
    assert not masked_layers(model)  # the original is not changed
    if name in NAMES[2:]:
        # Four attention projections and two feed-forward layers per
        # block; the pooler (the backbone's own graph) is left out.
        kinds = [type(layer).__name__ for layer in masked_layers(masked)]
        assert kinds.count("MaskedEinsumDense") == 8
        assert kinds.count("MaskedDense") == 4
        assert "pooled_dense" not in " ".join(selected)
    _assert_same(masked(x), expected, 1e-6)
    for layer in masked_layers(masked):
        layer.scores.assign(rng.normal(size=layer.scores.shape))
        layer.set_density(0.1)
        assert layer.kept == smpcore.topk_count(layer.kernel_size, 0.1)
        assert layer.mask().sum() == layer.kept
    baked = bake(masked)
    assert type(baked) is type(model)
    assert not masked_layers(baked)
    _assert_same(baked(x), masked(x))


@pytest.mark.parametrize("index", range(len(NAMES)), ids=NAMES)
def test_short_smp_run_lowers_the_loss(index, rng):
    # Only the scores train (the masked copy is frozen, the head fixed).
    name = NAMES[index]
    if name in ("mlp", "cnn"):
        model = _mlp() if name == "mlp" else _cnn()
        shape = (8, 6) if name == "mlp" else (8, 6, 6, 2)
        x = rng.normal(size=shape).astype("float32")
        masked = mask_model(model)
        task = masked
    else:
        backbone = {
            "bert": keras_hub.models.BertBackbone,
            "roberta": keras_hub.models.RobertaBackbone,
            "distil_bert": keras_hub.models.DistilBertBackbone,
        }[name](**{**SMALL, "dropout": 0.0})
        tokens = rng.integers(1, 16, size=(8, 6)).astype("int32")
        x = {"token_ids": tokens, "padding_mask": np.ones_like(tokens)}
        if name == "bert":
            x["segment_ids"] = np.zeros_like(tokens)
        masked = mask_model(backbone)
        inputs = {k: keras.Input((None,), dtype="int32", name=k) for k in x}
        outputs = masked(inputs)
        if isinstance(outputs, dict):  # BERT: sequence and pooled outputs
            outputs = outputs["sequence_output"]
        pooled = keras.layers.GlobalAveragePooling1D()(outputs)
        head = keras.layers.Dense(
            2, kernel_initializer=keras.initializers.RandomNormal(stddev=1.0)
        )
        task = keras.Model(inputs, head(pooled))
        head.trainable = False  # a fixed random head: only the masks learn
    labels = np.array([0, 1] * 4)
    task.compile(
        optimizer=keras.optimizers.Adam(0.2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    for layer in masked_layers(task):  # magnitude-initialised scores
        layer.scores.assign(np.abs(_numpy(layer.kernel)))
    trained = {v.path.split("/")[-1] for v in task.trainable_variables}
    assert trained == {"scores"}
    history = task.fit(
        x,
        labels,
        epochs=12,
        batch_size=8,
        verbose=0,
        callbacks=[SparsityScheduler(lambda step: 0.5)],
    )
    losses = history.history["loss"]
    assert losses[-1] < losses[0]
    for layer in masked_layers(task):
        assert layer.kept == smpcore.topk_count(layer.kernel_size, 0.5)
        assert not layer.kernel.trainable


def test_save_and_load(tmp_path, rng):
    # A user's model: the whole .keras file round-trips.
    model = _mlp()
    x = rng.normal(size=(3, 6)).astype("float32")
    masked = mask_model(model, density=0.25)
    for layer in masked_layers(masked):
        layer.scores.assign(rng.normal(size=layer.scores.shape))
    masked.save(tmp_path / "mlp.keras")
    loaded = keras.saving.load_model(tmp_path / "mlp.keras")
    _assert_same(loaded(x), masked(x))
    # A keras-hub backbone's config does not know about masks: rebuild
    # with mask_model, then load the weights or the mask artifact.
    backbone, inputs = _hub("roberta")
    masked = mask_model(backbone, density=0.1)
    for layer in masked_layers(masked):
        layer.scores.assign(rng.normal(size=layer.scores.shape))
        layer.set_density(0.1)
    masked.save_weights(tmp_path / "hub.weights.h5")
    save_masks(masked, tmp_path / "hub.smpmask")
    again = mask_model(backbone)
    again.load_weights(tmp_path / "hub.weights.h5")
    _assert_same(again(inputs), masked(inputs))
    third = mask_model(backbone)
    load_masks(third, tmp_path / "hub.smpmask")
    _assert_same(third(inputs), masked(inputs))


def test_selection_by_pattern_and_predicate(rng):
    backbone, x = _hub("bert")
    attention = mask_model(backbone, layers=r"self_attention_layer/")
    assert all(
        isinstance(layer, MaskedEinsumDense)
        for layer in masked_layers(attention)
    )
    assert len(masked_layers(attention)) == 8
    ffn = mask_model(
        backbone,
        layers=lambda layer: (
            isinstance(layer, keras.layers.Dense)
            and layer.name.startswith("feedforward")
        ),
    )
    assert len(masked_layers(ffn)) == 4
    _assert_same(ffn(x), backbone(x), 1e-6)
    cnn = _cnn()
    only_fc = mask_model(cnn, layers="^fc$", density=0.5)
    (layer,) = masked_layers(only_fc)
    assert layer.name == "fc" and layer.density == 0.5
    assert type(only_fc.get_layer("head")) is keras.layers.Dense


def test_nested_and_shared_layers(rng):
    inner = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(6, name="d")], name="inner"
    )
    inputs = keras.Input((6,))
    outputs = keras.layers.Dense(2, name="out")(inner(inner(inputs)))
    model = keras.Model(inputs, outputs)
    x = rng.normal(size=(2, 6)).astype("float32")
    masked = mask_model(model)
    assert list(named_masked_layers(masked)) == ["inner/d", "out"]
    _assert_same(masked(x), model(x), 1e-6)

    class Twice(keras.layers.Layer):
        """A custom layer applying one shared Dense in two places."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.shared = keras.layers.Dense(6, name="shared")
            self.pair = [self.shared]

        def build(self, input_shape):
            self.shared.build(input_shape)

        def call(self, x):
            return self.pair[0](self.shared(x))

    inputs = keras.Input((6,))
    model = keras.Model(inputs, Twice(name="twice")(inputs))
    with keras.saving.custom_object_scope({"Twice": Twice}):
        masked = mask_model(model)
    twice = masked.get_layer("twice")
    assert isinstance(twice.shared, MaskedDense)
    assert twice.pair[0] is twice.shared
    _assert_same(masked(x), model(x), 1e-6)


@keras.saving.register_keras_serializable(package="test_mask_model")
class Net(keras.Model):
    """A subclassed model that its config rebuilds."""

    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.d1 = keras.layers.Dense(units, activation="relu", name="d1")
        self.d2 = keras.layers.Dense(2, name="d2")

    def call(self, x):
        return self.d2(self.d1(x))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def test_subclassed_model(rng):
    net = Net(8, name="net")
    x = rng.normal(size=(3, 5)).astype("float32")
    expected = net(x)
    masked = mask_model(net)
    assert type(masked) is Net
    assert [layer.name for layer in masked_layers(masked)] == ["d1", "d2"]
    _assert_same(masked(x), expected, 1e-6)
    for layer in masked_layers(masked):
        layer.scores.assign(rng.normal(size=layer.scores.shape))
        layer.set_density(0.3)
    baked = bake(masked)
    assert type(baked) is Net and not masked_layers(baked)
    _assert_same(baked(x), masked(x))


def test_refusals(rng):
    backbone, _ = _hub("bert")
    with pytest.raises(ValueError, match="pooled_dense"):
        mask_model(backbone, layers="pooled")
    with pytest.raises(ValueError, match="selects no Dense"):
        mask_model(backbone, layers="no_such_layer")
    with pytest.raises(TypeError, match="layers"):
        mask_model(backbone, layers=3)
    with pytest.raises(ValueError, match="regular expression"):
        mask_model(backbone, layers="(")
    with pytest.raises(TypeError, match="model"):
        mask_model("bert")
    with pytest.raises(ValueError, match="density"):
        mask_model(_mlp(), density=1.5)
    with pytest.raises(ValueError, match="no MaskedDense"):
        bake(_mlp())
    unbuilt = keras.Sequential([keras.layers.Dense(2, name="d")])
    with pytest.raises((RuntimeError, ValueError), match="d"):
        mask_model(unbuilt)
