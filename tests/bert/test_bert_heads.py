"""Label-word heads against transformers' MLM logits (the oracle)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from bert_test_utils import SPECS, hf_outputs, random_batch
from keras import ops

from smp_keras.bert import (
    build_classifier,
    build_span_classifier,
    from_pretrained,
)

SPEC = SPECS[0]
LABELS = [7, 3, 42]


@pytest.fixture(scope="module")
def loaded(tiny_models, tiny_sources):
    backbone = from_pretrained(tiny_sources(SPEC.name, "safetensors"))
    batch = random_batch(SPEC, seed=4)
    batch["padding_mask"][3, :2] = 1  # keep one row with some tokens
    return backbone, batch, hf_outputs(tiny_models[SPEC.name], batch)


def _with_positions(batch, positions):
    return {**batch, "mask_positions": np.asarray(positions, "int32")}


def test_mask_position_logits_are_mlm_label_rows(loaded):
    backbone, batch, expected = loaded
    positions = [4, 0, 1, 1]
    model = build_classifier(backbone, LABELS)
    logits = ops.convert_to_numpy(model(_with_positions(batch, positions)))
    rows = expected["mlm_logits"][np.arange(4), positions][:, LABELS]
    np.testing.assert_allclose(logits, rows, atol=1e-5)


def test_cls_position_and_logit_scale(loaded):
    backbone, batch, expected = loaded
    model = build_classifier(backbone, LABELS, position="cls", logit_scale=2.5)
    logits = ops.convert_to_numpy(model(_with_positions(batch, [5, 5, 5, 5])))
    rows = expected["mlm_logits"][:, 0][:, LABELS]
    np.testing.assert_allclose(logits, 2.5 * rows, atol=1e-5)


def test_regression_uses_one_label_word(loaded):
    backbone, batch, expected = loaded
    model = build_classifier(backbone, [11])
    logits = ops.convert_to_numpy(model(_with_positions(batch, [2, 2, 0, 0])))
    assert logits.shape == (4, 1)
    rows = expected["mlm_logits"][np.arange(4), [2, 2, 0, 0]][:, [11]]
    np.testing.assert_allclose(logits, rows, atol=1e-5)


def test_mean_pooling_applies_mlm_head_to_masked_mean(loaded, tiny_models):
    torch = pytest.importorskip("torch")
    backbone, batch, expected = loaded
    model = build_classifier(backbone, LABELS, pooling="mean")
    logits = ops.convert_to_numpy(model(_with_positions(batch, [0] * 4)))
    weights = batch["padding_mask"][:, :, None].astype("float64")
    mean = (expected["sequence_output"] * weights).sum(1) / weights.sum(1)
    predictions = tiny_models[SPEC.name].cls.predictions
    with torch.no_grad():
        oracle = predictions(torch.tensor(mean, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(logits, oracle[:, LABELS], atol=1e-5)


def test_embedding_head_fallback(tiny_models, tiny_sources):
    backbone = from_pretrained(
        tiny_sources(SPEC.name, "safetensors"), with_mlm_head=False
    )
    batch = random_batch(SPEC, seed=4)
    with pytest.warns(UserWarning, match="no pre-trained MLM head"):
        model = build_classifier(backbone, LABELS)  # auto -> embeddings
    logits = ops.convert_to_numpy(model(_with_positions(batch, [1, 1, 1, 1])))
    expected = hf_outputs(tiny_models[SPEC.name], batch)["sequence_output"]
    words = tiny_models[SPEC.name].bert.embeddings.word_embeddings.weight
    rows = words.detach().numpy()[LABELS]
    np.testing.assert_allclose(logits, expected[:, 1] @ rows.T, atol=1e-5)
    with pytest.raises(ValueError, match="head='mlm'"):
        build_classifier(backbone, LABELS, head="mlm")


def test_span_head(loaded):
    backbone, batch, expected = loaded
    model = build_span_classifier(backbone, [5, 9])
    out = model(batch)
    start = ops.convert_to_numpy(out["start_logits"])
    end = ops.convert_to_numpy(out["end_logits"])
    np.testing.assert_allclose(start, expected["mlm_logits"][..., 5], atol=1e-5)
    np.testing.assert_allclose(end, expected["mlm_logits"][..., 9], atol=1e-5)
    with pytest.raises(ValueError, match="two ids"):
        build_span_classifier(backbone, [5])


def test_only_scores_train_in_classifier(loaded):
    backbone, _, _ = loaded
    model = build_classifier(backbone, LABELS)
    scores = {id(layer.scores) for layer in backbone.masked_layers()}
    assert {id(w) for w in model.trainable_weights} == scores


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"head": "linear"}, ValueError),
        ({"position": "last"}, ValueError),
        ({"pooling": "max"}, ValueError),
    ],
)
def test_bad_options(loaded, kwargs, error):
    backbone, _, _ = loaded
    with pytest.raises(error, match=next(iter(kwargs))):
        build_classifier(backbone, LABELS, **kwargs)


def test_bad_label_ids(loaded):
    backbone, _, _ = loaded
    with pytest.raises(TypeError, match="label_ids"):
        build_classifier(backbone, ["great"])
    with pytest.raises(ValueError, match="label_ids"):
        build_classifier(backbone, [SPEC.vocab])


def test_classifier_keras_round_trip(loaded, tmp_path):
    backbone, batch, _ = loaded
    model = build_classifier(backbone, LABELS, logit_scale=0.5)
    inputs = _with_positions(batch, [3, 1, 0, 1])
    expected = ops.convert_to_numpy(model(inputs))
    path = str(tmp_path / "classifier.keras")
    model.save(path)
    loaded_model = keras.models.load_model(path)
    np.testing.assert_allclose(
        ops.convert_to_numpy(loaded_model(inputs)), expected, atol=1e-6
    )
