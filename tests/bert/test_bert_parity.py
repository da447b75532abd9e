"""Numerical parity with transformers' PyTorch BERT, for every format."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from bert_test_utils import (
    FORMATS,
    SPECS,
    hf_linears,
    hf_outputs,
    random_batch,
    torch,
)
from keras import ops

from smp_keras.bert import from_pretrained

ATOL = 1e-5


def _numpy(outputs):
    return {key: ops.convert_to_numpy(value) for key, value in outputs.items()}


def _max_diffs(ours, expected):
    assert set(ours) == set(expected)
    return {k: float(np.max(np.abs(ours[k] - expected[k]))) for k in ours}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_full_masks_match_transformers(spec, fmt, tiny_models, tiny_sources):
    backbone = from_pretrained(tiny_sources(spec.name, fmt), strict=True)
    assert backbone.with_mlm_head
    assert backbone.with_pooler == (spec.model_class == "BertForPreTraining")
    batch = random_batch(spec)
    expected = hf_outputs(tiny_models[spec.name], batch)
    diffs = _max_diffs(_numpy(backbone(batch, training=False)), expected)
    assert max(diffs.values()) < ATOL, diffs
    # The oracle is not trivially small: errors are relative to O(1) values.
    assert np.abs(expected["sequence_output"]).max() > 0.5


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_random_masks_match_masked_transformers(
    spec, tiny_models, tiny_sources
):
    backbone = from_pretrained(tiny_sources(spec.name, "safetensors"))
    oracle = copy.deepcopy(tiny_models[spec.name])
    rng = np.random.default_rng(1)
    for index, block in enumerate(backbone.transformer_layers):
        pairs = zip(
            block.masked_layers(),
            hf_linears(getattr(oracle, "bert", oracle), index),
            strict=True,
        )
        for layer, linear in pairs:
            scores = rng.normal(size=tuple(layer.kernel.shape))
            layer.scores.assign(scores.astype("float32"))
            layer.set_density(float(rng.uniform(0.2, 0.8)))
            mask = layer.mask()
            assert 0 < mask.sum() < mask.size
            with torch.no_grad():
                linear.weight.mul_(torch.tensor(mask.T, dtype=torch.float32))
    batch = random_batch(spec, seed=3)
    expected = hf_outputs(oracle, batch)
    diffs = _max_diffs(_numpy(backbone(batch, training=False)), expected)
    assert max(diffs.values()) < ATOL, diffs
    # The masks matter: the unmasked oracle differs.
    unmasked = hf_outputs(tiny_models[spec.name], batch)
    gap = np.abs(unmasked["sequence_output"] - expected["sequence_output"])
    assert gap.max() > 1e-2


def test_padding_rows_follow_sdpa(tiny_models, tiny_sources):
    """An all-padding example attends to nothing, like PyTorch SDPA."""
    spec = SPECS[0]
    backbone = from_pretrained(tiny_sources(spec.name, "safetensors"))
    batch = random_batch(spec)
    assert not batch["padding_mask"][3].any()
    ours = ops.convert_to_numpy(backbone(batch)["sequence_output"])
    expected = hf_outputs(tiny_models[spec.name], batch)["sequence_output"]
    np.testing.assert_allclose(ours[3], expected[3], atol=ATOL)
