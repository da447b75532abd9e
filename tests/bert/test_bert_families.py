"""Encoder families beyond BERT: RoBERTa, XLM-R, DistilBERT, ELECTRA.

The oracle is each family's own transformers PyTorch class, built with a
tiny random config and saved locally (no hub access).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from typing import Any

import numpy as np
import pytest
from bert_test_utils import hf_linears, torch, transformers
from keras import ops

from smp_keras.bert import (
    BertBackbone,
    build_classifier,
    compact,
    export_huggingface,
    from_pretrained,
    plain_keras_model,
)
from smp_keras.bert.convert_hf import convert_backbone_config

ATOL = 1e-5
VOCAB = 60
MAX_POSITIONS = 24
PAD = 1  # RoBERTa's pad id; positions start at PAD + 1


@dataclasses.dataclass(frozen=True)
class FamilySpec:
    """A tiny checkpoint of one family and the transformers class to build."""

    name: str
    model_class: str
    config: dict[str, Any]
    base: str  # attribute of the base model in the task model ("" if none)
    mlm: bool
    pooler: bool
    segments: int  # token type ids in the batches (0: none accepted)


_ROBERTA = dict(
    vocab_size=VOCAB,
    hidden_size=16,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=24,
    max_position_embeddings=MAX_POSITIONS,
    type_vocab_size=1,
    pad_token_id=PAD,
    layer_norm_eps=1e-5,
)
_DISTILBERT = dict(
    vocab_size=VOCAB,
    dim=16,
    n_layers=2,
    n_heads=4,
    hidden_dim=24,
    max_position_embeddings=MAX_POSITIONS,
    pad_token_id=0,
)
_ELECTRA = dict(
    vocab_size=VOCAB,
    embedding_size=8,
    hidden_size=16,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=24,
    max_position_embeddings=MAX_POSITIONS,
    type_vocab_size=2,
)
SPECS = [
    FamilySpec(
        "roberta_mlm", "RobertaForMaskedLM", _ROBERTA, "roberta", True, False, 1
    ),
    FamilySpec("roberta_model", "RobertaModel", _ROBERTA, "", False, True, 1),
    FamilySpec(
        "xlmr_mlm",
        "XLMRobertaForMaskedLM",
        {**_ROBERTA, "num_attention_heads": 2},
        "roberta",
        True,
        False,
        1,
    ),
    FamilySpec("xlmr_model", "XLMRobertaModel", _ROBERTA, "", False, True, 1),
    FamilySpec(
        "distilbert_mlm",
        "DistilBertForMaskedLM",
        _DISTILBERT,
        "distilbert",
        True,
        False,
        0,
    ),
    FamilySpec(
        "distilbert_relu",
        "DistilBertModel",
        {**_DISTILBERT, "activation": "relu", "n_heads": 2},
        "",
        False,
        False,
        0,
    ),
    FamilySpec(
        "electra_generator",
        "ElectraForMaskedLM",
        _ELECTRA,
        "electra",
        True,
        False,
        2,
    ),
    FamilySpec(
        "electra_discriminator",
        "ElectraForPreTraining",
        _ELECTRA,
        "electra",
        False,
        False,
        2,
    ),
    FamilySpec(
        "electra_same_width",
        "ElectraModel",
        {**_ELECTRA, "embedding_size": 16},
        "",
        False,
        False,
        2,
    ),
]
SPEC_BY_NAME = {spec.name: spec for spec in SPECS}
_CONFIGS = {
    "Roberta": "RobertaConfig",
    "XLMRoberta": "XLMRobertaConfig",
    "DistilBert": "DistilBertConfig",
    "Electra": "ElectraConfig",
}


def build_model(spec: FamilySpec, seed: int = 0) -> Any:
    """A random transformers model in eval mode (sizeable weights)."""
    torch.manual_seed(seed)
    prefix = next(p for p in _CONFIGS if spec.model_class.startswith(p))
    config = getattr(transformers, _CONFIGS[prefix])(
        initializer_range=0.2, **spec.config
    )
    model = getattr(transformers, spec.model_class)(config).eval()
    with torch.no_grad():  # non-trivial LayerNorm and bias parameters
        for name, parameter in model.named_parameters():
            if "norm" in name.lower() or name.endswith("bias"):
                parameter.add_(0.1 * torch.randn_like(parameter))
    return model


def base_model(spec: FamilySpec, model: Any) -> Any:
    return getattr(model, spec.base) if spec.base else model


def random_batch(
    spec: FamilySpec, seed: int = 0, batch: int = 4, length: int = 9
) -> dict[str, np.ndarray]:
    """Rows without padding, with trailing padding (of the pad id), heavy
    padding, and all padding; RoBERTa rows also hold the pad id mid-row."""
    rng = np.random.default_rng(seed)
    pad = spec.config.get("pad_token_id", 0)
    token_ids = rng.integers(2, VOCAB, (batch, length)).astype("int32")
    token_ids[0, 4] = pad  # a pad id the mask keeps: positions skip it
    padding = np.ones((batch, length), "int32")
    padding[1, length - 3 :] = 0
    padding[2, 2:] = 0
    padding[3, :] = 0
    token_ids[padding == 0] = pad
    segments = rng.integers(0, max(spec.segments, 1), (batch, length))
    return {
        "token_ids": token_ids,
        "segment_ids": segments.astype("int32"),
        "padding_mask": padding,
    }


def hf_outputs(spec: FamilySpec, model: Any, batch: dict) -> dict:
    """Oracle outputs of a transformers model on `batch` (NumPy)."""
    kwargs = {
        "input_ids": torch.tensor(batch["token_ids"], dtype=torch.long),
        "attention_mask": torch.tensor(batch["padding_mask"]),
        "output_hidden_states": True,
    }
    if spec.segments:
        kwargs["token_type_ids"] = torch.tensor(
            batch["segment_ids"], dtype=torch.long
        )
    with torch.no_grad():
        result = model(**kwargs)
        sequence = result.hidden_states[-1]
        outputs = {"sequence_output": sequence.numpy()}
        base = base_model(spec, model)
        if getattr(base, "pooler", None) is not None:
            outputs["pooled_output"] = base.pooler(sequence).numpy()
        if spec.mlm:
            outputs["mlm_logits"] = result.logits.numpy()
    return outputs


def _numpy(outputs: dict) -> dict:
    return {key: ops.convert_to_numpy(value) for key, value in outputs.items()}


def _max_diffs(ours: dict, expected: dict) -> dict:
    assert set(ours) == set(expected)
    return {k: float(np.max(np.abs(ours[k] - expected[k]))) for k in ours}


@pytest.fixture(scope="module")
def models() -> dict[str, Any]:
    return {spec.name: build_model(spec) for spec in SPECS}


@pytest.fixture(scope="module")
def folders(tmp_path_factory, models) -> dict[str, str]:
    saved = {}
    for spec in SPECS:
        folder = tmp_path_factory.mktemp(spec.name)
        models[spec.name].save_pretrained(str(folder))
        saved[spec.name] = str(folder)
    return saved


@pytest.mark.parametrize("source", ["safetensors", "live"])
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_full_masks_match_transformers(spec, source, models, folders):
    model = models[spec.name]
    loaded = folders[spec.name] if source == "safetensors" else model
    backbone = from_pretrained(loaded, strict=True)
    assert backbone.model_type == model.config.model_type
    assert backbone.with_mlm_head == spec.mlm
    assert backbone.with_pooler == spec.pooler
    batch = random_batch(spec)
    expected = hf_outputs(spec, model, batch)
    diffs = _max_diffs(_numpy(backbone(batch, training=False)), expected)
    assert max(diffs.values()) < ATOL, diffs
    assert np.abs(expected["sequence_output"]).max() > 0.5


def test_pytorch_bin_folder(models, tmp_path):
    spec = SPEC_BY_NAME["distilbert_mlm"]
    model = models[spec.name]
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    model.config.to_json_file(str(tmp_path / "config.json"))
    backbone = from_pretrained(tmp_path, strict=True)
    batch = random_batch(spec, seed=2)
    expected = hf_outputs(spec, model, batch)
    diffs = _max_diffs(_numpy(backbone(batch)), expected)
    assert max(diffs.values()) < ATOL, diffs


@pytest.mark.parametrize(
    "name", ["roberta_mlm", "distilbert_mlm", "electra_generator"]
)
def test_random_masks_match_masked_transformers(name, models, folders):
    spec = SPEC_BY_NAME[name]
    backbone = from_pretrained(folders[name])
    oracle = copy.deepcopy(models[name])
    rng = np.random.default_rng(1)
    for index, block in enumerate(backbone.transformer_layers):
        pairs = zip(
            block.masked_layers(),
            hf_linears(base_model(spec, oracle), index),
            strict=True,
        )
        for layer, linear in pairs:
            scores = rng.normal(size=tuple(layer.kernel.shape))
            layer.scores.assign(scores.astype("float32"))
            layer.set_density(float(rng.uniform(0.2, 0.8)))
            with torch.no_grad():
                mask = torch.tensor(layer.mask().T, dtype=torch.float32)
                linear.weight.mul_(mask)
    batch = random_batch(spec, seed=3)
    expected = hf_outputs(spec, oracle, batch)
    diffs = _max_diffs(_numpy(backbone(batch)), expected)
    assert max(diffs.values()) < ATOL, diffs
    unmasked = hf_outputs(spec, models[name], batch)
    gap = np.abs(unmasked["sequence_output"] - expected["sequence_output"])
    assert gap.max() > 1e-2


def test_roberta_positions_skip_pad_ids(models, folders):
    """A pad id inside a row shifts the positions after it, like RoBERTa."""
    spec = SPEC_BY_NAME["roberta_model"]
    backbone = from_pretrained(folders[spec.name])
    batch = random_batch(spec)
    assert batch["token_ids"][0, 4] == PAD and batch["padding_mask"][0, 4]
    other = batch["token_ids"].copy()
    other[0, 4] = 7
    outputs = []
    for token_ids in (batch["token_ids"], other):
        inputs = dict(batch, token_ids=token_ids)
        expected = hf_outputs(spec, models[spec.name], inputs)
        ours = ops.convert_to_numpy(backbone(inputs)["sequence_output"])
        np.testing.assert_allclose(ours, expected["sequence_output"], atol=ATOL)
        outputs.append(ours)
    # The tokens after it moved position: their outputs differ.
    assert np.abs(outputs[0][0, 5:] - outputs[1][0, 5:]).max() > 1e-2


def test_roberta_length_limit_counts_the_offset(folders):
    backbone = from_pretrained(folders["roberta_model"])
    limit = MAX_POSITIONS - PAD - 1
    ones = np.ones((1, limit), "int32")
    batch = {"token_ids": ones * 5, "segment_ids": 0 * ones}
    backbone({**batch, "padding_mask": ones})
    longer = np.ones((1, limit + 1), "int32")
    with pytest.raises(ValueError, match=f"at most {limit} tokens"):
        backbone(
            {
                "token_ids": longer * 5,
                "segment_ids": 0 * longer,
                "padding_mask": longer,
            }
        )


def test_config_mapping():
    roberta = convert_backbone_config(
        {"model_type": "roberta", **_ROBERTA, "hidden_act": "gelu"}
    )
    assert roberta["model_type"] == "roberta"
    assert roberta["position_padding_idx"] == PAD
    assert roberta["num_segments"] == 1
    assert roberta["layer_norm_epsilon"] == 1e-5
    assert roberta["mlm_activation"] == "gelu"
    distil = convert_backbone_config(
        {"model_type": "distilbert", **_DISTILBERT, "activation": "relu"}
    )
    assert distil["num_segments"] == 0
    assert (distil["hidden_dim"], distil["intermediate_dim"]) == (16, 24)
    assert (distil["num_layers"], distil["num_heads"]) == (2, 4)
    assert distil["activation"] == "relu"
    electra = convert_backbone_config({"model_type": "electra", **_ELECTRA})
    assert electra["embedding_dim"] == 8 and electra["hidden_dim"] == 16
    same = convert_backbone_config(
        {"model_type": "electra", **_ELECTRA, "embedding_size": 16}
    )
    assert "embedding_dim" not in same
    with pytest.raises(ValueError, match=r"missing field\(s\) \['n_heads'\]"):
        convert_backbone_config(
            {
                "model_type": "distilbert",
                **{k: v for k, v in _DISTILBERT.items() if k != "n_heads"},
            }
        )


@pytest.mark.parametrize("model_type", ["deberta-v2", "albert", None])
def test_unsupported_model_type_is_named(folders, tmp_path, model_type):
    with open(os.path.join(folders["roberta_model"], "config.json")) as f:
        config = json.load(f)
    config["model_type"] = model_type
    with open(tmp_path / "config.json", "w") as handle:
        json.dump(config, handle)
    with pytest.raises(ValueError, match=f"model_type={model_type!r}"):
        from_pretrained(tmp_path)


def test_tf_h5_of_other_families_is_refused(folders, tmp_path):
    source = folders["roberta_model"]
    with open(os.path.join(source, "config.json")) as handle:
        (tmp_path / "config.json").write_text(handle.read())
    (tmp_path / "tf_model.h5").write_bytes(b"")
    with pytest.raises(ValueError, match="BERT only.*save_pretrained"):
        from_pretrained(tmp_path)


def test_untied_decoder_is_refused(models, tmp_path):
    spec = SPEC_BY_NAME["roberta_mlm"]
    state = {k: v.clone() for k, v in models[spec.name].state_dict().items()}
    state["lm_head.decoder.weight"] = state["lm_head.decoder.weight"] + 1.0
    torch.save(state, tmp_path / "pytorch_model.bin")
    models[spec.name].config.to_json_file(str(tmp_path / "config.json"))
    with pytest.raises(ValueError, match="lm_head.decoder.weight"):
        from_pretrained(tmp_path)


@pytest.mark.parametrize(
    "name", ["roberta_mlm", "distilbert_mlm", "electra_generator"]
)
def test_config_round_trip_and_label_head(name, folders):
    """The new options survive get_config, and the label-word head reads
    the family's MLM head (the generator's maps to its embedding width)."""
    spec = SPEC_BY_NAME[name]
    backbone = from_pretrained(folders[name])
    again = BertBackbone.from_config(backbone.get_config())
    for key in ("position_padding_idx", "embedding_dim", "model_type"):
        assert getattr(again, key) == getattr(backbone, key)
    assert again.num_segments == backbone.num_segments
    label_ids = [7, 11, 13]
    model = build_classifier(backbone, label_ids, head="mlm")
    batch = random_batch(spec, seed=5)
    positions = np.array([3, 2, 1, 0], "int32")
    logits = ops.convert_to_numpy(model({**batch, "mask_positions": positions}))
    mlm = ops.convert_to_numpy(backbone(batch)["mlm_logits"])
    expected = mlm[np.arange(4), positions][:, label_ids]
    np.testing.assert_allclose(logits, expected, atol=ATOL)
    plain = plain_keras_model(model)
    again_logits = ops.convert_to_numpy(
        plain({**batch, "mask_positions": positions})
    )
    # Row 3 is all padding, where Keras' MultiHeadAttention (in the plain
    # model) attends uniformly instead of to nothing: compare the others.
    np.testing.assert_allclose(again_logits[:3], expected[:3], atol=ATOL)


def test_embeddings_head_needs_hidden_width_embeddings(folders):
    backbone = from_pretrained(folders["electra_discriminator"])
    with pytest.raises(ValueError, match="width 8.*width 16"):
        build_classifier(backbone, [3, 4], head="embeddings")


@pytest.mark.parametrize("name", [spec.name for spec in SPECS])
def test_export_huggingface_serves_pruned_model(name, folders, tmp_path):
    """The exported folder loads in the family's transformers class and
    reproduces the pruned backbone."""
    spec = SPEC_BY_NAME[name]
    backbone = from_pretrained(folders[name])
    rng = np.random.default_rng(4)
    for layer in backbone.masked_layers():
        layer.scores.assign(rng.normal(size=layer.kernel.shape))
        layer.set_density(0.5)
    folder = export_huggingface(backbone, tmp_path / "export")
    with open(os.path.join(folder, "config.json")) as handle:
        assert json.load(handle)["model_type"] == backbone.model_type
    auto = "AutoModelForMaskedLM" if spec.mlm else "AutoModel"
    served = getattr(transformers, auto).from_pretrained(folder).eval()
    served_spec = dataclasses.replace(spec, base=spec.base if spec.mlm else "")
    batch = random_batch(spec, seed=6)
    expected = hf_outputs(served_spec, served, batch)
    diffs = _max_diffs(_numpy(backbone(batch)), expected)
    assert max(diffs.values()) < ATOL, diffs


def test_export_refuses_what_the_family_cannot_hold(tmp_path):
    small = dict(
        vocabulary_size=30,
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=12,
        max_sequence_length=16,
    )
    cases = [
        ({"position_padding_idx": 1}, "position_padding_idx=1"),
        ({"num_segments": 0}, "num_segments=0"),
        ({"model_type": "distilbert"}, "num_segments=2"),
        ({"model_type": "roberta"}, "position_padding_idx=None"),
        ({"embedding_dim": 4}, "embedding_dim=4"),
        ({"mlm_activation": "relu"}, "mlm_activation='relu'"),
    ]
    for options, message in cases:
        backbone = BertBackbone(**small, **options)
        with pytest.raises(ValueError, match=message):
            export_huggingface(backbone, tmp_path / "refused")


@pytest.mark.parametrize(
    "name", ["roberta_model", "distilbert_mlm", "electra_generator"]
)
def test_compact_keeps_the_family_numerics(name, folders):
    """`compact` rebuilds the embeddings of each family (RoBERTa positions,
    no token types, ELECTRA's projection and narrow MLM transform)."""
    spec = SPEC_BY_NAME[name]
    backbone = from_pretrained(folders[name])
    rng = np.random.default_rng(7)
    for layer in backbone.masked_layers():
        layer.scores.assign(rng.normal(size=layer.kernel.shape))
        layer.set_density(0.4)
    compacted, _ = compact(backbone)
    batch = random_batch(spec, seed=8)
    ours = _numpy(compacted(batch))
    expected = _numpy(backbone(batch))
    diffs = _max_diffs(ours, expected)
    assert max(diffs.values()) < ATOL, diffs
