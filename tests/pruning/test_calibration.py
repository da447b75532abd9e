"""The calibration pass (`smp_keras.pruning.calibration`, issue 21): the
input norms of every `MaskedDense`, Wanda's masks and score initialisation.

Oracles: a manual NumPy forward of a small model, the BERT embeddings'
output over the real tokens only, and `smpcore.wanda_mask` /
`smpcore.wanda_scores` on those norms.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import smpcore
from smp_keras.bert import from_pretrained
from smp_keras.layers import MaskedDense
from smp_keras.model_utils import named_masked_layers
from smp_keras.pruning.calibration import (
    activation_norms,
    calibration_batches,
    set_wanda_masks,
)
from smp_keras.pruning.data import Split
from smp_keras.pruning.model import initialize_scores


def _numpy(x):
    return keras.ops.convert_to_numpy(x).astype("float64")


def _two_layers(structure=None) -> keras.Sequential:
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((8,)),
            MaskedDense(8, activation="relu", name="a", structure=structure),
            MaskedDense(4, name="b"),
        ]
    )
    model.layers[0].set_density(0.5 if structure else 0.75)
    return model


def test_norms_are_those_of_a_manual_forward(single_torch_thread):
    model = _two_layers()
    rng = np.random.default_rng(0)
    batches = [rng.normal(size=(n, 8)).astype("float32") for n in (5, 3, 7)]
    norms = activation_norms(model, batches)
    assert sorted(norms) == ["a", "b"]
    a = model.get_layer("a")
    x = np.concatenate(batches).astype("float64")
    hidden = np.maximum(x @ (_numpy(a.kernel) * a.mask()) + _numpy(a.bias), 0.0)
    np.testing.assert_allclose(norms["a"], np.sqrt((x**2).sum(0)), rtol=1e-12)
    np.testing.assert_allclose(
        norms["b"], np.sqrt((hidden**2).sum(0)), rtol=1e-5, atol=1e-6
    )
    for layer in model.layers:  # the wrappers are gone
        assert "call" not in layer.__dict__


def test_the_wrappers_are_removed_after_an_error(single_torch_thread):
    model = _two_layers()
    with pytest.raises(ValueError):
        activation_norms(model, [np.ones((2, 5), "float32")])  # wrong width
    for layer in model.layers:
        assert "call" not in layer.__dict__
    with pytest.raises(ValueError, match="at least one batch"):
        activation_norms(model, [])


def test_padding_tokens_are_left_out(tiny_model, single_torch_thread):
    backbone = from_pretrained(tiny_model, name="bert_backbone")
    rng = np.random.default_rng(1)
    lengths = np.array([[3, 7, 5], [7, 2, 1]])
    batches = []
    for row in lengths:
        mask = (np.arange(7)[None, :] < row[:, None]).astype("int32")
        batches.append(
            {
                "token_ids": rng.integers(5, 30, size=(3, 7)).astype("int32"),
                "segment_ids": np.zeros((3, 7), "int32"),
                "padding_mask": mask,
            }
        )
    norms = activation_norms(backbone, batches)
    assert set(norms) == set(named_masked_layers(backbone))
    embeddings = backbone.get_layer("embeddings")
    rows = [
        _numpy(embeddings(b["token_ids"], b["segment_ids"]))[
            b["padding_mask"].astype(bool)
        ]
        for b in batches
    ]
    expected = np.sqrt((np.concatenate(rows) ** 2).sum(0))
    for matrix in ("query", "key", "value"):
        name = f"transformer_layer_0/{matrix}"
        np.testing.assert_allclose(norms[name], expected, rtol=1e-5)
    # With every row counted (padding included) the norms differ.
    everything = activation_norms(backbone, batches, token_mask=None)
    first = "transformer_layer_0/query"
    assert not np.allclose(everything[first], norms[first], rtol=1e-3)


def test_calibration_batches_are_a_seeded_sample():
    mask = (np.arange(6)[None, :] < np.arange(1, 11)[:, None]).astype("int32")
    split = Split(
        "train",
        {"token_ids": np.arange(60).reshape(10, 6), "padding_mask": mask},
        np.zeros(10),
    )
    batches = calibration_batches(split, 7, seed=0, batch_size=3)
    assert [len(b["token_ids"]) for b in batches] == [3, 3, 1]
    ids = np.concatenate([b["token_ids"][:, 0] for b in batches]) // 6
    assert len(set(ids.tolist())) == 7  # distinct rows
    for batch in batches:  # each cut to its longest example
        assert batch["token_ids"].shape[1] == batch["padding_mask"].sum(1).max()
    again = calibration_batches(split, 7, seed=0, batch_size=3)
    assert all(
        np.array_equal(a["token_ids"], b["token_ids"])
        for a, b in zip(batches, again, strict=True)
    )
    everything = calibration_batches(split, 100, seed=0, batch_size=4)
    assert sum(len(b["token_ids"]) for b in everything) == 10  # all rows


@pytest.mark.parametrize("structure", [None, "2:4"])
def test_wanda_masks_are_smpcore_wanda_mask(structure, single_torch_thread):
    model = _two_layers(structure)
    batches = [np.random.default_rng(2).normal(size=(6, 8)).astype("float32")]
    for layer in model.layers:  # calibrate with the dense model
        layer.set_density(1.0)
    norms = activation_norms(model, batches)
    set_wanda_masks(model, norms, density=0.25)
    for name, layer in named_masked_layers(model).items():
        kernel = keras.ops.convert_to_numpy(layer.kernel)
        if layer.structure is not None:
            expected = smpcore.wanda_mask(kernel, norms[name], structure="2:4")
            assert smpcore.is_nm_mask(layer.mask(), 2, 4)
        else:
            expected = smpcore.wanda_mask(kernel, norms[name], 0.25)
        np.testing.assert_array_equal(layer.mask(), expected)
    with pytest.raises(ValueError, match="Missing"):
        set_wanda_masks(model, {"a": norms["a"]}, density=0.25)


def test_wanda_score_init_is_proportional_to_wanda_scores():
    model = _two_layers()
    norms = {"a": np.linspace(0.5, 4.0, 8), "b": np.linspace(3.0, 0.1, 8)}
    assert initialize_scores(model, "wanda", 2.0, input_norms=norms) == 2
    for name in ("a", "b"):
        layer = model.get_layer(name)
        s = smpcore.wanda_scores(_numpy(layer.kernel), norms[name])
        np.testing.assert_allclose(
            _numpy(layer.scores), 2.0 * s / np.std(s), rtol=1e-6
        )
    with pytest.raises(ValueError, match="input_norms.*Missing: \\['b'\\]"):
        initialize_scores(model, "wanda", input_norms={"a": norms["a"]})
