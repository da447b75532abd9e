"""The prototype head, score initialisation, the two-rate optimiser, KD loss.

Oracles: Hugging Face `transformers` hidden states for the prototypes and
the prototype classifier, NumPy closed forms for the rest.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from smp_keras.bert import from_pretrained, tokenizer_from_pretrained
from smp_keras.bert.prototype import (
    PrototypeHead,
    build_prototype_classifier,
    compute_prototypes,
)
from smp_keras.layers import MaskedDense
from smp_keras.model_utils import masked_layers
from smp_keras.pruning.distill import DistillationLoss
from smp_keras.pruning.model import ScoreWeightAdam, initialize_scores

WORDS = ["terrible", "great", "maybe"]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _hf_mean_pooled(folder: str, texts: list[str]) -> tuple[np.ndarray, dict]:
    import torch
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModel.from_pretrained(folder).eval()
    encoded = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**encoded).last_hidden_state.numpy().astype("f8")
    mask = encoded["attention_mask"].numpy()[:, :, None].astype("f8")
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return pooled, {k: v.numpy() for k, v in encoded.items()}


@pytest.mark.parametrize("shape", [(4, 6), (2, 3, 6)])
def test_prototype_head_is_scaled_cosine_similarity(shape):
    rng = np.random.default_rng(0)
    prototypes = rng.normal(size=(3, 6))
    x = rng.normal(size=shape).astype("float32")
    head = PrototypeHead(3, logit_scale=7.0)
    head.build((None, 6))
    head.set_prototypes(prototypes)
    expected = 7.0 * _unit(x.astype("f8")) @ _unit(prototypes).T
    got = keras.ops.convert_to_numpy(head(x))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert head.trainable_weights == []


def test_prototype_head_rejects_bad_prototypes():
    head = PrototypeHead(2)
    head.build((None, 3))
    with pytest.raises(ValueError, match="shape"):
        head.set_prototypes(np.ones((3, 3)))
    with pytest.raises(ValueError, match="non-zero"):
        head.set_prototypes(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="logit_scale"):
        PrototypeHead(2, logit_scale=0.0)


def test_prototypes_come_from_the_dense_model(tiny_model):
    backbone = from_pretrained(tiny_model)
    tokenizer = tokenizer_from_pretrained(tiny_model)
    for layer in masked_layers(backbone):  # pruned: must not matter
        layer.set_density(0.2)
    prototypes = compute_prototypes(backbone, tokenizer, WORDS)
    expected, _ = _hf_mean_pooled(tiny_model, WORDS)
    np.testing.assert_allclose(prototypes, _unit(expected), atol=1e-5)
    densities = [layer.density for layer in masked_layers(backbone)]
    assert densities == pytest.approx([0.2] * len(densities))


def test_prototype_classifier_matches_transformers(tiny_model):
    backbone = from_pretrained(tiny_model)
    tokenizer = tokenizer_from_pretrained(tiny_model)
    model = build_prototype_classifier(
        backbone, tokenizer, WORDS, logit_scale=5.0
    )
    texts = ["the film was great", "a dull , boring plot and it was bad"]
    pooled, encoded = _hf_mean_pooled(tiny_model, texts)
    prototypes, _ = _hf_mean_pooled(tiny_model, WORDS)
    expected = 5.0 * _unit(pooled) @ _unit(prototypes).T
    logits = model.predict(
        {
            "token_ids": encoded["input_ids"].astype("int32"),
            "segment_ids": encoded["token_type_ids"].astype("int32"),
            "padding_mask": encoded["attention_mask"].astype("int32"),
            "mask_positions": np.zeros(2, "int32"),
        },
        verbose=0,
    )
    np.testing.assert_allclose(logits, expected, atol=1e-4)


def test_prototype_classifier_keras_round_trip(tiny_model, tmp_path):
    backbone = from_pretrained(tiny_model)
    tokenizer = tokenizer_from_pretrained(tiny_model)
    model = build_prototype_classifier(backbone, tokenizer, WORDS[:2])
    path = str(tmp_path / "proto.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    head = loaded.get_layer("prototype_head")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(head.prototypes),
        keras.ops.convert_to_numpy(
            model.get_layer("prototype_head").prototypes
        ),
    )
    assert head.get_config()["label_words"] == WORDS[:2]
    assert head.logit_scale == 20.0


def test_initialize_scores_magnitude_and_zeros():
    layer = MaskedDense(3, name="m")
    layer.build((4,))
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    initialize_scores(layer, "magnitude", scale=2.0)
    expected = 2.0 * np.abs(kernel) / np.std(np.abs(kernel))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer.scores), expected, rtol=1e-6
    )
    # The first top-k mask is then the magnitude mask.
    layer.set_density(0.5)
    np.testing.assert_array_equal(
        layer.mask(), np.abs(kernel) >= np.median(np.abs(kernel))
    )
    initialize_scores(layer, "zeros")
    assert not keras.ops.convert_to_numpy(layer.scores).any()
    with pytest.raises(ValueError, match="method"):
        initialize_scores(layer, "random")


def test_score_weight_adam_uses_two_learning_rates_in_fit():
    layer = MaskedDense(2, kernel_trainable=True, name="m")
    model = keras.Sequential([keras.Input((3,)), layer])
    # A tiny epsilon: Adam's first step is lr * g / (|g| + epsilon), which
    # the default 1e-7 pulls below lr where a gradient entry is small.
    model.compile(
        ScoreWeightAdam(
            learning_rate=0.1, weight_learning_rate=0.001, epsilon=1e-12
        ),
        "mse",
    )
    kernel = keras.ops.convert_to_numpy(layer.kernel).copy()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3)).astype("float32")
    y = rng.normal(size=(4, 2)).astype("float32")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    # Adam's first step moves each variable by lr * sign(gradient).
    moved_scores = np.abs(keras.ops.convert_to_numpy(layer.scores))
    moved_kernel = np.abs(keras.ops.convert_to_numpy(layer.kernel) - kernel)
    np.testing.assert_allclose(moved_scores[moved_scores > 0], 0.1, rtol=1e-3)
    np.testing.assert_allclose(moved_kernel[moved_kernel > 0], 1e-3, rtol=1e-2)


def test_distillation_loss_closed_form():
    rng = np.random.default_rng(0)
    student = rng.normal(size=(5, 3))
    teacher = rng.normal(size=(5, 3))
    labels = rng.integers(0, 3, 5)
    y_true = np.concatenate([labels[:, None], teacher], axis=1)

    def log_softmax(z):
        z = z - z.max(-1, keepdims=True)
        return z - np.log(np.exp(z).sum(-1, keepdims=True))

    ce = -log_softmax(student)[np.arange(5), labels]
    t = 2.0
    p = np.exp(log_softmax(teacher / t))
    kl = (p * (log_softmax(teacher / t) - log_softmax(student / t))).sum(-1)
    expected = np.mean(0.5 * ce + 0.5 * t * t * kl)
    got = DistillationLoss()(
        y_true.astype("float32"), student.astype("float32")
    )
    assert float(keras.ops.convert_to_numpy(got)) == pytest.approx(
        expected, rel=1e-5
    )
