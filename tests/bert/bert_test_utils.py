"""Helpers for `smp_keras.bert` tests: tiny random transformers BERTs.

The oracle is Hugging Face's PyTorch BERT. Each tiny model is saved in every
checkpoint format the loader reads; the writers below (HF TF ``.h5`` names,
Google TF checkpoint names) are written here, independently of the code
under test.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@dataclasses.dataclass(frozen=True)
class TinySpec:
    """A tiny BERT configuration and the transformers class to build."""

    name: str
    hidden: int
    heads: int
    intermediate: int
    layers: int
    type_vocab: int
    model_class: str  # BertForPreTraining (pooler + MLM) or BertForMaskedLM
    hidden_act: str = "gelu"
    vocab: int = 60
    max_positions: int = 24


SPECS = [
    # 3 heads of width 10, intermediate not 4H, 3 segment types.
    TinySpec("h30_3heads", 30, 3, 37, 2, 3, "BertForPreTraining"),
    # BertForMaskedLM: no pooler in the checkpoint.
    TinySpec("h16_4heads_mlm", 16, 4, 24, 1, 2, "BertForMaskedLM"),
    # A single head, wide intermediate, tanh-GELU.
    TinySpec(
        "h12_1head",
        12,
        1,
        64,
        2,
        2,
        "BertForPreTraining",
        hidden_act="gelu_new",
    ),
]


def build_hf_model(spec: TinySpec, seed: int = 0) -> Any:
    """A random transformers BERT in eval mode (sizeable weights)."""
    torch.manual_seed(seed)
    config = transformers.BertConfig(
        vocab_size=spec.vocab,
        hidden_size=spec.hidden,
        num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads,
        intermediate_size=spec.intermediate,
        max_position_embeddings=spec.max_positions,
        type_vocab_size=spec.type_vocab,
        hidden_act=spec.hidden_act,
        initializer_range=0.2,
    )
    model = getattr(transformers, spec.model_class)(config).eval()
    with torch.no_grad():  # non-trivial LayerNorm and bias parameters
        for name, parameter in model.named_parameters():
            if "LayerNorm" in name or name.endswith("bias"):
                parameter.add_(0.1 * torch.randn_like(parameter))
    return model


def state_arrays(model: Any) -> dict[str, np.ndarray]:
    """The model's saved weights as NumPy arrays (tied decoder dropped)."""
    skip = ("cls.predictions.decoder.weight", "cls.predictions.decoder.bias")
    return {
        name: value.detach().numpy().copy()
        for name, value in model.state_dict().items()
        if name not in skip
    }


def hf_tf_name(name: str) -> tuple[str, bool]:
    """HF TF-2 (`tf_model.h5`) name of a PyTorch weight, and transpose flag."""
    parts = name.split(".")
    if parts[0] == "bert":
        scope, parts = "bert", parts[1:]
    elif parts[:2] == ["cls", "predictions"]:
        scope, parts = "mlm___cls", parts[1:]
    else:  # cls.seq_relationship
        scope, parts = "nsp___cls", parts[1:]
    leaf = parts[-1]
    transpose = False
    if "LayerNorm" in parts:
        parts[-1] = "gamma" if leaf == "weight" else "beta"
    elif parts[-2] in ("position_embeddings", "token_type_embeddings"):
        parts[-1] = "embeddings"
    elif parts[-2] == "word_embeddings":
        parts[-1] = "weight"
    elif leaf == "weight":
        parts[-1], transpose = "kernel", True
    path = "/".join(parts).replace("encoder/layer/", "encoder/layer_._")
    return f"{scope}/{path}:0", transpose


def write_hf_h5(model: Any, path: str) -> None:
    """Writes `tf_model.h5` in the layout of transformers' TF classes."""
    import h5py

    arrays = state_arrays(model)
    scope_model = "tf_bert_for_pre_training"
    with h5py.File(path, "w") as handle:
        groups: dict[str, list[str]] = {}
        for name, value in arrays.items():
            if name.endswith("position_ids"):
                continue
            tf_name, transpose = hf_tf_name(name)
            top = tf_name.split("/")[0]
            full = f"{top}/{scope_model}/{tf_name}"
            handle.create_dataset(full, data=value.T if transpose else value)
            groups.setdefault(top, []).append(f"{scope_model}/{tf_name}")
        handle.attrs["layer_names"] = [g.encode() for g in groups]
        for top, names in groups.items():
            handle[top].attrs["weight_names"] = [n.encode() for n in names]


def google_name(name: str) -> tuple[str, bool]:
    """Original Google checkpoint name of a PyTorch weight (or skip)."""
    parts = name.split(".")
    transpose = False
    if parts[:2] == ["cls", "predictions"] and parts[2] == "bias":
        return "cls/predictions/output_bias", False
    if parts[:2] == ["cls", "seq_relationship"]:
        leaf = "output_weights" if parts[2] == "weight" else "output_bias"
        return f"cls/seq_relationship/{leaf}", False
    leaf = parts[-1]
    if "LayerNorm" in parts:
        parts[-1] = "gamma" if leaf == "weight" else "beta"
    elif "embeddings" in parts and parts[-2].endswith("_embeddings"):
        parts = parts[:-1]
    elif leaf == "weight":
        parts[-1], transpose = "kernel", True
    path = "/".join(parts)
    for i in range(100):
        path = path.replace(f"encoder/layer/{i}/", f"encoder/layer_{i}/")
    return path, transpose


def write_google_checkpoint(model: Any, folder: str) -> None:
    """Writes bert_config.json + bert_model.ckpt.* with tf.compat.v1."""
    import json

    import tensorflow as tf

    arrays = state_arrays(model)
    values = {}
    for name, value in arrays.items():
        if name.endswith("position_ids"):
            continue
        google, transpose = google_name(name)
        values[google] = value.T if transpose else value
    # Optimizer slots and the step counter, as in Google's releases.
    first = "bert/embeddings/word_embeddings"
    values[first + "/adam_m"] = np.zeros_like(values[first])
    values["global_step"] = np.array(7, dtype=np.int64)
    graph = tf.Graph()
    with graph.as_default():
        variables = {
            name: tf.compat.v1.Variable(value, name=name.replace("/", "_"))
            for name, value in values.items()
        }
        saver = tf.compat.v1.train.Saver(var_list=variables)
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            saver.save(session, os.path.join(folder, "bert_model.ckpt"))
    config = model.config
    bert_config = {
        "vocab_size": config.vocab_size,
        "hidden_size": config.hidden_size,
        "num_hidden_layers": config.num_hidden_layers,
        "num_attention_heads": config.num_attention_heads,
        "intermediate_size": config.intermediate_size,
        "hidden_act": config.hidden_act,
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": config.max_position_embeddings,
        "type_vocab_size": config.type_vocab_size,
        "initializer_range": 0.02,
    }
    with open(os.path.join(folder, "bert_config.json"), "w") as handle:
        json.dump(bert_config, handle)


def write_old_names(model: Any, folder: str) -> None:
    """A safetensors folder with old `gamma`/`beta` LayerNorm names."""
    from safetensors.numpy import save_file

    arrays = {}
    for name, value in state_arrays(model).items():
        if name.endswith("position_ids"):
            continue
        name = name.replace("LayerNorm.weight", "LayerNorm.gamma")
        arrays[name.replace("LayerNorm.bias", "LayerNorm.beta")] = value
    save_file(arrays, os.path.join(folder, "model.safetensors"))
    model.config.to_json_file(os.path.join(folder, "config.json"))


FORMATS = ("safetensors", "pytorch_bin", "tf_h5", "google", "old_names", "live")


def save_format(model: Any, fmt: str, folder: str) -> Any:
    """Saves `model` in format `fmt` under `folder`; returns the source."""
    os.makedirs(folder, exist_ok=True)
    if fmt == "live":
        return model
    if fmt == "safetensors":
        model.save_pretrained(folder)
    elif fmt == "pytorch_bin":
        torch.save(
            model.state_dict(), os.path.join(folder, "pytorch_model.bin")
        )
        model.config.to_json_file(os.path.join(folder, "config.json"))
    elif fmt == "tf_h5":
        write_hf_h5(model, os.path.join(folder, "tf_model.h5"))
        model.config.to_json_file(os.path.join(folder, "config.json"))
    elif fmt == "google":
        write_google_checkpoint(model, folder)
    elif fmt == "old_names":
        write_old_names(model, folder)
    return folder


def random_batch(
    spec: TinySpec, seed: int = 0, batch: int = 4, length: int = 9
) -> dict[str, np.ndarray]:
    """Token ids, segment ids and a padding mask with several pad patterns.

    Rows: no padding, trailing padding, heavy padding, and all padding (no
    valid key at all), so the masked-row handling is compared too.
    """
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(0, spec.vocab, (batch, length)).astype("int32")
    segment_ids = rng.integers(0, spec.type_vocab, (batch, length))
    padding = np.ones((batch, length), "int32")
    padding[1, length - 3 :] = 0
    padding[2, 2:] = 0
    padding[3, :] = 0
    return {
        "token_ids": token_ids,
        "segment_ids": segment_ids.astype("int32"),
        "padding_mask": padding,
    }


def hf_outputs(model: Any, batch: dict[str, np.ndarray]) -> dict[str, Any]:
    """Oracle outputs of a transformers model on `batch` (NumPy)."""
    with torch.no_grad():
        result = model(
            input_ids=torch.tensor(batch["token_ids"], dtype=torch.long),
            token_type_ids=torch.tensor(batch["segment_ids"], dtype=torch.long),
            attention_mask=torch.tensor(batch["padding_mask"]),
            output_hidden_states=True,
        )
        sequence = result.hidden_states[-1]
        bert = model.bert if hasattr(model, "bert") else model
        outputs = {"sequence_output": sequence.numpy()}
        if getattr(bert, "pooler", None) is not None:
            outputs["pooled_output"] = bert.pooler(sequence).numpy()
        if hasattr(result, "prediction_logits"):
            outputs["mlm_logits"] = result.prediction_logits.numpy()
        elif hasattr(result, "logits"):
            outputs["mlm_logits"] = result.logits.numpy()
    return outputs


def hf_linears(base: Any, index: int) -> list:
    """The six prunable `torch.nn.Linear` of block `index` of a transformers
    base model (a BERT-style `encoder`, or DistilBERT's `transformer`), in
    the order of `BertTransformerLayer.masked_layers()`."""
    if hasattr(base, "transformer"):  # DistilBERT
        block = base.transformer.layer[index]
        return [
            block.attention.q_lin,
            block.attention.k_lin,
            block.attention.v_lin,
            block.attention.out_lin,
            block.ffn.lin1,
            block.ffn.lin2,
        ]
    block = base.encoder.layer[index]
    return [
        block.attention.self.query,
        block.attention.self.key,
        block.attention.self.value,
        block.attention.output.dense,
        block.intermediate.dense,
        block.output.dense,
    ]
