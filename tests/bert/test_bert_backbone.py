"""BertBackbone: structure, trainability, config and `.keras` round trips."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from bert_test_utils import SPECS, hf_outputs, random_batch, torch
from keras import ops

from smp_keras.bert import (
    MATRIX_TYPES,
    BertBackbone,
    export_huggingface,
    from_pretrained,
)
from smp_keras.layers import MaskedDense

SMALL = dict(
    vocabulary_size=40,
    num_layers=2,
    num_heads=2,
    hidden_dim=8,
    intermediate_dim=12,
    max_sequence_length=10,
)


def _batch(length=6, batch=2):
    return {
        "token_ids": np.arange(batch * length).reshape(batch, length) % 40,
        "segment_ids": np.zeros((batch, length), "int32"),
        "padding_mask": np.ones((batch, length), "int32"),
    }


def _numpy(tree):
    return {k: ops.convert_to_numpy(v) for k, v in tree.items()}


def test_layers_are_named_and_typed():
    backbone = BertBackbone(**SMALL)
    names = [layer.name for layer in backbone.layers]
    for name in ("embeddings", "transformer_layer_0", "pooler", "mlm_head"):
        assert name in names
    block = backbone.get_layer("transformer_layer_1")
    masked = block.masked_layers()
    assert [m.name for m in masked] == list(MATRIX_TYPES)
    assert [m.matrix_type for m in masked] == list(MATRIX_TYPES)
    assert all(isinstance(m, MaskedDense) for m in masked)
    assert len(backbone.masked_layers()) == 6 * SMALL["num_layers"]


def test_only_scores_are_trainable_by_default():
    backbone = BertBackbone(**SMALL)
    trainable = backbone.trainable_weights
    expected = {id(m.scores) for m in backbone.masked_layers()}
    assert {id(w) for w in trainable} == expected
    assert len(trainable) == len(expected)


def test_kernel_trainable_trains_encoder_kernels_and_biases():
    backbone = BertBackbone(**SMALL, kernel_trainable=True)
    expected = set()
    for layer in backbone.masked_layers():
        expected |= {id(layer.kernel), id(layer.bias), id(layer.scores)}
    assert {id(w) for w in backbone.trainable_weights} == expected


def test_mlm_decoder_is_tied_to_word_embeddings():
    backbone = BertBackbone(**SMALL)
    embeddings = backbone.get_layer("embeddings").word_embeddings.embeddings
    embeddings.assign(np.zeros(embeddings.shape, "float32"))
    head = backbone.get_layer("mlm_head")
    head.bias.assign(np.arange(40, dtype="float32"))
    logits = ops.convert_to_numpy(backbone(_batch())["mlm_logits"])
    np.testing.assert_allclose(logits[0, 0], np.arange(40), atol=1e-6)


def test_optional_outputs():
    backbone = BertBackbone(**SMALL, with_mlm_head=False, with_pooler=False)
    assert set(backbone(_batch())) == {"sequence_output"}
    assert not any(layer.name == "mlm_head" for layer in backbone.layers)


def test_too_long_sequence_raises():
    backbone = BertBackbone(**SMALL)
    with pytest.raises(ValueError, match="11 tokens.*max_sequence_length"):
        backbone(_batch(length=11))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_heads": 3}, "num_heads"),
        ({"hidden_dim": 0}, "hidden_dim"),
        ({"activation": "swish"}, "activation"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BertBackbone(**{**SMALL, **kwargs})


def test_config_round_trip():
    backbone = BertBackbone(**SMALL, with_pooler=False, dropout=0.2)
    config = backbone.get_config()
    clone = BertBackbone.from_config(config)
    assert clone.get_config() == config
    assert [w.shape for w in clone.weights] == [
        w.shape for w in backbone.weights
    ]


def test_structure_reaches_every_matrix():
    backbone = BertBackbone(**SMALL, structure=(2, 4))
    assert backbone.structure == "2:4"
    for layer in backbone.masked_layers():
        assert layer.structure == (2, 4)
        assert layer.mask().all()  # full until pruned
        layer.set_density(0.5)
        assert layer.density == 0.5
    clone = BertBackbone.from_config(backbone.get_config())
    assert all(m.structure == (2, 4) for m in clone.masked_layers())
    assert BertBackbone(**SMALL).structure is None
    with pytest.raises(ValueError, match="structure='2:4'"):
        BertBackbone(**{**SMALL, "intermediate_dim": 10}, structure="2:4")


def test_keras_save_and_load(tmp_path):
    backbone = BertBackbone(**SMALL)
    rng = np.random.default_rng(0)
    for layer in backbone.masked_layers():
        layer.scores.assign(rng.normal(size=layer.kernel.shape))
        layer.set_density(0.5)
    expected = _numpy(backbone(_batch()))
    path = str(tmp_path / "backbone.keras")
    backbone.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, BertBackbone)
    for key, value in _numpy(loaded(_batch())).items():
        np.testing.assert_allclose(value, expected[key], atol=1e-6)
    for old, new in zip(
        backbone.masked_layers(), loaded.masked_layers(), strict=True
    ):
        np.testing.assert_array_equal(old.mask(), new.mask())
        assert new.matrix_type == old.matrix_type


@pytest.mark.parametrize("spec", SPECS[:2], ids=lambda s: s.name)
def test_export_huggingface_serves_pruned_model(spec, tiny_sources, tmp_path):
    transformers = pytest.importorskip("transformers")
    backbone = from_pretrained(tiny_sources(spec.name, "safetensors"))
    rng = np.random.default_rng(2)
    for layer in backbone.masked_layers():
        layer.scores.assign(rng.normal(size=layer.kernel.shape))
        layer.set_density(0.3)
    folder = export_huggingface(backbone, tmp_path / "export")
    model = transformers.AutoModelForMaskedLM.from_pretrained(folder).eval()
    batch = random_batch(spec, seed=5)
    expected = hf_outputs(model, batch)
    ours = _numpy(backbone(batch))
    for key in ("sequence_output", "mlm_logits"):
        np.testing.assert_allclose(ours[key], expected[key], atol=1e-5)
    # The kernels on disk hold exactly the masked weights.
    layer = backbone.get_layer("transformer_layer_0").query_dense
    weight = model.bert.encoder.layer[0].attention.self.query.weight
    on_disk = weight.detach().numpy()
    np.testing.assert_array_equal(on_disk != 0, layer.mask().T)
    if spec.model_class == "BertForPreTraining":  # pooler kept for BertModel
        bert = transformers.AutoModel.from_pretrained(folder).eval()
        with torch.no_grad():
            pooled = bert(
                input_ids=torch.tensor(batch["token_ids"], dtype=torch.long),
                token_type_ids=torch.tensor(
                    batch["segment_ids"], dtype=torch.long
                ),
                attention_mask=torch.tensor(batch["padding_mask"]),
            ).pooler_output.numpy()
        np.testing.assert_allclose(ours["pooled_output"], pooled, atol=1e-5)
