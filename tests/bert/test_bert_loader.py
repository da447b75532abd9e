"""from_pretrained / tokenizer_from_pretrained: sources and clear errors."""

from __future__ import annotations

import json
import os
import shutil
import sys

import numpy as np
import pytest
from bert_test_utils import SPECS, state_arrays

from smp_keras.bert import from_pretrained, tokenizer_from_pretrained
from smp_keras.bert.convert_hf import convert_backbone_config
from smp_keras.bert.convert_tf import (
    convert_backbone_config as convert_google_config,
)

SPEC = SPECS[0]


def _copy(source, tmp_path, name="copy"):
    folder = tmp_path / name
    shutil.copytree(source, folder)
    return folder


def _rewrite_weights(folder, edit):
    """Rewrites model.safetensors with `edit(arrays)` applied."""
    from safetensors.numpy import load_file, save_file

    path = os.path.join(folder, "model.safetensors")
    arrays = load_file(path)
    edit(arrays)
    save_file(arrays, path, metadata={"format": "pt"})


def _edit_config(folder, **changes):
    path = os.path.join(folder, "config.json")
    with open(path) as handle:
        config = json.load(handle)
    config.update(changes)
    with open(path, "w") as handle:
        json.dump(config, handle)


def test_config_mapping():
    config = convert_backbone_config(
        {
            "model_type": "bert",
            "vocab_size": 99,
            "num_hidden_layers": 3,
            "num_attention_heads": 5,
            "hidden_size": 40,
            "intermediate_size": 70,
            "max_position_embeddings": 33,
            "type_vocab_size": 4,
            "hidden_dropout_prob": 0.2,
            "layer_norm_eps": 1e-7,
            "hidden_act": "gelu_new",
        }
    )
    assert config == {
        "vocabulary_size": 99,
        "num_layers": 3,
        "num_heads": 5,
        "hidden_dim": 40,
        "intermediate_dim": 70,
        "max_sequence_length": 33,
        "num_segments": 4,
        "dropout": 0.2,
        "layer_norm_epsilon": 1e-7,
        "activation": "gelu_approximate",
    }
    google = {k: v for k, v in config.items()}
    assert (
        convert_google_config(
            {
                "vocab_size": 99,
                "num_hidden_layers": 3,
                "num_attention_heads": 5,
                "hidden_size": 40,
                "intermediate_size": 70,
                "max_position_embeddings": 33,
                "type_vocab_size": 4,
                "hidden_dropout_prob": 0.2,
                "layer_norm_eps": 1e-7,
                "hidden_act": "gelu_new",
            }
        )
        == google
    )


def test_unknown_model_type(tiny_sources, tmp_path):
    folder = _copy(tiny_sources(SPEC.name, "safetensors"), tmp_path)
    _edit_config(folder, model_type="deberta-v2")  # not a supported family
    with pytest.raises(ValueError, match="model_type='deberta-v2'"):
        from_pretrained(folder)


def test_unsupported_settings():
    base = {
        "model_type": "bert",
        "vocab_size": 9,
        "num_hidden_layers": 1,
        "num_attention_heads": 1,
        "hidden_size": 4,
        "intermediate_size": 4,
    }
    with pytest.raises(ValueError, match="position_embedding_type"):
        convert_backbone_config({**base, "position_embedding_type": "rel"})
    with pytest.raises(ValueError, match="hidden_act='swish'"):
        convert_backbone_config({**base, "hidden_act": "swish"})
    with pytest.raises(ValueError, match="intermediate_size"):
        convert_backbone_config(
            {k: v for k, v in base.items() if k != "intermediate_size"}
        )


def test_missing_weights_are_all_listed(tiny_sources, tmp_path):
    folder = _copy(tiny_sources(SPEC.name, "safetensors"), tmp_path)
    gone = [
        "bert.encoder.layer.1.attention.self.key.weight",
        "bert.embeddings.LayerNorm.bias",
    ]
    _rewrite_weights(folder, lambda arrays: [arrays.pop(n) for n in gone])
    with pytest.raises(ValueError, match="missing 2 weight") as info:
        from_pretrained(folder)
    for name in gone:
        assert name.removeprefix("bert.") in str(info.value)


def test_unexpected_weights_warn_or_raise(tiny_sources, tmp_path):
    folder = _copy(tiny_sources(SPEC.name, "safetensors"), tmp_path)

    def add(arrays):
        arrays["bert.extra.weight"] = np.zeros(3, "float32")

    _rewrite_weights(folder, add)
    with pytest.warns(UserWarning, match="extra.weight"):
        from_pretrained(folder)
    with pytest.raises(ValueError, match="extra.weight"):
        from_pretrained(folder, strict=True)


def test_shape_mismatch_names_weight_and_shapes(tiny_sources, tmp_path):
    folder = _copy(tiny_sources(SPEC.name, "safetensors"), tmp_path)
    _edit_config(folder, intermediate_size=SPEC.intermediate + 1)
    expected = (
        r"encoder\.layer\.0\.intermediate\.dense\.weight.*"
        rf"\({SPEC.intermediate}, {SPEC.hidden}\).*"
        rf"expects \({SPEC.hidden}, {SPEC.intermediate + 1}\)"
    )
    with pytest.raises(ValueError, match=expected):
        from_pretrained(folder)


def test_mlm_head_requested_but_absent(tiny_models, tmp_path):
    model = tiny_models[SPEC.name]
    model.bert.save_pretrained(tmp_path / "bare")  # BertModel: no MLM head
    backbone = from_pretrained(tmp_path / "bare")
    assert not backbone.with_mlm_head and backbone.with_pooler
    with pytest.raises(ValueError, match="cls.predictions.transform"):
        from_pretrained(tmp_path / "bare", with_mlm_head=True)


def test_empty_folder_lists_what_was_looked_for(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json.*bert_config"):
        from_pretrained(tmp_path)


def test_config_without_weights(tiny_sources, tmp_path):
    folder = tmp_path / "config_only"
    folder.mkdir()
    shutil.copy(
        os.path.join(tiny_sources(SPEC.name, "safetensors"), "config.json"),
        folder,
    )
    with pytest.raises(
        FileNotFoundError, match="model.safetensors.*pytorch_model.bin"
    ):
        from_pretrained(folder)


def test_google_folder_without_checkpoint(tiny_sources, tmp_path):
    folder = tmp_path / "google"
    folder.mkdir()
    source = tiny_sources(SPEC.name, "google")
    shutil.copy(os.path.join(source, "bert_config.json"), folder)
    with pytest.raises(FileNotFoundError, match="bert_model.ckpt.index"):
        from_pretrained(folder)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupted_safetensors(tiny_sources, tmp_path, damage):
    folder = _copy(tiny_sources(SPEC.name, "safetensors"), tmp_path)
    path = os.path.join(folder, "model.safetensors")
    with open(path, "rb") as handle:
        data = handle.read()
    data = b"\x00garbage" * 10 if damage == "garbage" else data[:-100]
    with open(path, "wb") as handle:
        handle.write(data)
    with pytest.raises(ValueError, match="corrupted"):
        from_pretrained(folder)


def test_corrupted_pytorch_bin(tiny_sources, tmp_path):
    folder = _copy(tiny_sources(SPEC.name, "pytorch_bin"), tmp_path)
    with open(os.path.join(folder, "pytorch_model.bin"), "wb") as handle:
        handle.write(b"not a zip archive")
    with pytest.raises(ValueError, match="corrupted"):
        from_pretrained(folder)


def test_pytorch_bin_never_unpickles_objects(tmp_path, tiny_sources):
    torch = pytest.importorskip("torch")
    folder = _copy(tiny_sources(SPEC.name, "pytorch_bin"), tmp_path)
    torch.save(
        {"weights": {1, 2}, "payload": os.getcwd},  # not a state dict
        os.path.join(folder, "pytorch_model.bin"),
    )
    with pytest.raises(ValueError, match="corrupted or not a plain"):
        from_pretrained(folder)


def test_google_checkpoint_without_tensorflow(tiny_sources, monkeypatch):
    source = tiny_sources(SPEC.name, "google")
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    with pytest.raises(ImportError, match="pip install tensorflow"):
        from_pretrained(source)


def test_sharded_safetensors(tiny_models, tiny_sources, tmp_path):
    from safetensors.numpy import save_file

    model = tiny_models[SPEC.name]
    arrays = {
        k: v for k, v in state_arrays(model).items() if "position_ids" not in k
    }
    names = sorted(arrays)
    shards = {
        "model-1.safetensors": names[::2],
        "model-2.safetensors": names[1::2],
    }
    folder = tmp_path / "sharded"
    folder.mkdir()
    weight_map = {}
    for shard, keys in shards.items():
        save_file({k: arrays[k] for k in keys}, str(folder / shard))
        weight_map.update(dict.fromkeys(keys, shard))
    with open(folder / "model.safetensors.index.json", "w") as handle:
        json.dump({"metadata": {}, "weight_map": weight_map}, handle)
    model.config.to_json_file(folder / "config.json")
    sharded = from_pretrained(folder, strict=True)
    single = from_pretrained(tiny_sources(SPEC.name, "safetensors"))
    for a, b in zip(sharded.weights, single.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_hub_id_offline_and_not_cached(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match="huggingface-cli download"):
        from_pretrained("no-such-org/no-such-bert")


def test_not_a_source():
    with pytest.raises(TypeError, match="source"):
        from_pretrained(42)
    with pytest.raises(FileNotFoundError, match="No such folder"):
        from_pretrained("./does/not/exist")


def test_tokenizer_from_folders(tiny_sources, tmp_path):
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "great", "##ly"]
    folder = tmp_path / "uncased_L-2_H-30"
    shutil.copytree(tiny_sources(SPEC.name, "google"), folder)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = tokenizer_from_pretrained(folder)
    assert tokenizer.is_fast
    assert tokenizer("Greatly")["input_ids"] == [2, 5, 6, 3]


def test_tokenizer_from_live_model_is_refused(tiny_models):
    with pytest.raises(ValueError, match="Pass the folder"):
        tokenizer_from_pretrained(tiny_models[SPEC.name])


def test_tokenizer_missing(tiny_sources):
    with pytest.raises(ValueError, match="vocab.txt"):
        tokenizer_from_pretrained(tiny_sources(SPEC.name, "safetensors"))


@pytest.mark.parametrize("fmt", ["safetensors", "google"])
def test_parts_not_built_are_not_unexpected(tiny_sources, fmt):
    backbone = from_pretrained(
        tiny_sources(SPEC.name, fmt),
        with_mlm_head=False,
        with_pooler=False,
        strict=True,
    )
    assert not backbone.with_mlm_head and not backbone.with_pooler
