"""Reference (authors') mask format: names, transposes, bit counts."""

from __future__ import annotations

import numpy as np
import pytest

from smp_keras.bert import (
    BertBackbone,
    build_classifier,
    export_reference_masks,
    import_reference_masks,
    reference_parameter_names,
)

SMALL = dict(
    vocabulary_size=30,
    num_layers=11,  # layer.10 sorts before layer.2
    num_heads=2,
    hidden_dim=4,
    intermediate_dim=6,
    max_sequence_length=8,
)
HF_SUFFIXES = [
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
]


@pytest.fixture(scope="module")
def backbone():
    return BertBackbone(**SMALL)


def _random_masks(backbone, seed):
    rng = np.random.default_rng(seed)
    for layer in backbone.masked_layers():
        layer.scores.assign(rng.normal(size=layer.kernel.shape))
        layer.set_density(float(rng.uniform(0.1, 0.9)))


def test_names_follow_pytorch(backbone):
    names = reference_parameter_names(backbone)
    expected = sorted(
        f"bert.encoder.layer.{i}.{suffix}.weight"
        for i in range(SMALL["num_layers"])
        for suffix in HF_SUFFIXES
    )
    assert list(names) == expected
    assert names["bert.encoder.layer.3.intermediate.dense.weight"] is (
        backbone.get_layer("transformer_layer_3").intermediate_dense
    )
    assert names["bert.encoder.layer.0.output.dense.weight"] is (
        backbone.get_layer("transformer_layer_0").output_dense
    )


def test_export_matches_independent_packing(backbone, tmp_path):
    _random_masks(backbone, 0)
    path = tmp_path / "task_0.50.npy"
    export_reference_masks(backbone, path)
    # Oracle: PyTorch layout (out, in), names sorted as strings, packbits.
    by_name = {}
    for i, block in enumerate(backbone.transformer_layers):
        layers = block.masked_layers()
        for suffix, layer in zip(HF_SUFFIXES, layers, strict=True):
            name = f"bert.encoder.layer.{i}.{suffix}.weight"
            by_name[name] = layer.mask().T
    bits = np.concatenate([by_name[n].ravel() for n in sorted(by_name)])
    np.testing.assert_array_equal(np.load(path), np.packbits(bits))


def test_round_trip_through_a_classifier(tmp_path):
    two_layers = {**SMALL, "num_layers": 2}
    backbone = BertBackbone(**two_layers)
    _random_masks(backbone, 1)
    path = tmp_path / "masks.npy"
    export_reference_masks(backbone, path)
    expected = [layer.mask() for layer in backbone.masked_layers()]
    other = BertBackbone(**two_layers)
    model = build_classifier(other, [1, 2])
    import_reference_masks(model, path)
    for layer, mask in zip(other.masked_layers(), expected, strict=True):
        np.testing.assert_array_equal(layer.mask(), mask)
        assert layer.kept == mask.sum()


def test_wrong_size_is_rejected(tmp_path):
    path = tmp_path / "short.npy"
    export_reference_masks(BertBackbone(**{**SMALL, "num_layers": 2}), path)
    smaller = BertBackbone(**{**SMALL, "num_layers": 1})
    with pytest.raises(ValueError, match="bits"):
        import_reference_masks(smaller, path)


def test_magnitude_layers_cannot_take_masks(tmp_path):
    two_layers = {**SMALL, "num_layers": 2}
    path = tmp_path / "masks.npy"
    export_reference_masks(BertBackbone(**two_layers), path)
    magnitude = BertBackbone(**two_layers, pruning_method="magnitude")
    with pytest.raises(ValueError, match="magnitude"):
        import_reference_masks(magnitude, path)


def test_not_a_bert_model():
    with pytest.raises(TypeError, match="BertBackbone"):
        reference_parameter_names(object())


def test_roberta_backbones_use_the_roberta_prefix(tmp_path):
    """The authors' `_roberta_` runs name `roberta.encoder.layer...`."""
    roberta = {**SMALL, "num_layers": 2, "model_type": "roberta"}
    backbone = BertBackbone(**roberta, position_padding_idx=1)
    names = list(reference_parameter_names(backbone))
    assert names[0] == "roberta.encoder.layer.0.attention.output.dense.weight"
    assert all(name.startswith("roberta.encoder.layer.") for name in names)
    _random_masks(backbone, 2)
    path = tmp_path / "mnli_roberta_0.10.npy"
    export_reference_masks(backbone, path)
    by_name = {}
    for i, block in enumerate(backbone.transformer_layers):
        layers = block.masked_layers()
        for suffix, layer in zip(HF_SUFFIXES, layers, strict=True):
            by_name[f"roberta.encoder.layer.{i}.{suffix}.weight"] = (
                layer.mask().T
            )
    bits = np.concatenate([by_name[n].ravel() for n in sorted(by_name)])
    np.testing.assert_array_equal(np.load(path), np.packbits(bits))
    other = BertBackbone(**roberta, position_padding_idx=1)
    import_reference_masks(build_classifier(other, [1, 2]), path)
    for layer, source in zip(
        other.masked_layers(), backbone.masked_layers(), strict=True
    ):
        np.testing.assert_array_equal(layer.mask(), source.mask())


def test_model_type_overrides_the_names(tmp_path):
    backbone = BertBackbone(**{**SMALL, "num_layers": 1})
    names = reference_parameter_names(backbone, model_type="xlm-roberta")
    assert next(iter(names)).startswith("roberta.encoder.layer.0.")
    distil = reference_parameter_names(backbone, model_type="distilbert")
    assert sorted(distil) == sorted(
        f"distilbert.transformer.layer.0.{suffix}.weight"
        for suffix in (
            "attention.q_lin",
            "attention.k_lin",
            "attention.v_lin",
            "attention.out_lin",
            "ffn.lin1",
            "ffn.lin2",
        )
    )
    # DistilBERT's names sort differently: the bits are another order.
    _random_masks(backbone, 3)
    export_reference_masks(
        backbone, tmp_path / "d.npy", model_type="distilbert"
    )
    other = BertBackbone(**{**SMALL, "num_layers": 1})
    import_reference_masks(other, tmp_path / "d.npy", model_type="distilbert")
    for layer, source in zip(
        other.masked_layers(), backbone.masked_layers(), strict=True
    ):
        np.testing.assert_array_equal(layer.mask(), source.mask())
    with pytest.raises(ValueError, match="model_type='gpt2'"):
        reference_parameter_names(backbone, model_type="gpt2")
