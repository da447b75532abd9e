"""Export a pruned backbone as a plain Hugging Face ``transformers`` folder.

The inverse of :mod:`smp_keras.bert.convert_hf`: every prunable kernel is
written as ``kernel * mask`` in PyTorch's `(out, in)` layout, so the pruned
model serves with ``transformers`` alone (`BertForMaskedLM` when the
backbone has an MLM head, else `BertModel`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any

import numpy as np
from keras import ops

import smpcore
from smp_keras.bert.reference_masks import find_backbone

__all__ = ["export_huggingface"]

_HF_ACTIVATIONS = {
    "gelu": "gelu",
    "gelu_approximate": "gelu_new",
    "relu": "relu",
}


def _numpy(variable: Any) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(variable), dtype=np.float32)


def hf_config(backbone: Any) -> dict[str, Any]:
    """The ``config.json`` dict of `backbone` for ``transformers``."""
    architecture = "BertForMaskedLM" if backbone.with_mlm_head else "BertModel"
    return {
        "architectures": [architecture],
        "model_type": "bert",
        "vocab_size": backbone.vocabulary_size,
        "hidden_size": backbone.hidden_dim,
        "num_hidden_layers": backbone.num_layers,
        "num_attention_heads": backbone.num_heads,
        "intermediate_size": backbone.intermediate_dim,
        "hidden_act": _HF_ACTIVATIONS[backbone.activation],
        "hidden_dropout_prob": backbone.dropout,
        "attention_probs_dropout_prob": backbone.dropout,
        "max_position_embeddings": backbone.max_sequence_length,
        "type_vocab_size": backbone.num_segments,
        "layer_norm_eps": backbone.layer_norm_epsilon,
        "initializer_range": backbone.initializer_range,
        "position_embedding_type": "absolute",
        "pad_token_id": 0,
        "tie_word_embeddings": True,
    }


def hf_state_dict(backbone: Any) -> dict[str, np.ndarray]:
    """Weights of `backbone` under Hugging Face names, masks applied."""
    prefix = "bert." if backbone.with_mlm_head else ""
    emb = backbone.get_layer("embeddings")
    state = {
        "embeddings.word_embeddings.weight": emb.word_embeddings.embeddings,
        "embeddings.position_embeddings.weight": (
            emb.position_embeddings.embeddings
        ),
        "embeddings.token_type_embeddings.weight": (
            emb.token_type_embeddings.embeddings
        ),
        "embeddings.LayerNorm.weight": emb.layer_norm.gamma,
        "embeddings.LayerNorm.bias": emb.layer_norm.beta,
    }
    state = {name: _numpy(value) for name, value in state.items()}
    for index, block in enumerate(backbone.transformer_layers):
        state.update(_layer_state(block, f"encoder.layer.{index}"))
    if backbone.with_pooler:
        pooler = backbone.get_layer("pooler")
        state["pooler.dense.weight"] = _numpy(pooler.kernel).T
        state["pooler.dense.bias"] = _numpy(pooler.bias)
    state = {prefix + name: value for name, value in state.items()}
    if backbone.with_mlm_head:
        head = backbone.get_layer("mlm_head")
        state["cls.predictions.transform.dense.weight"] = _numpy(
            head.dense.kernel
        ).T
        state["cls.predictions.transform.dense.bias"] = _numpy(head.dense.bias)
        state["cls.predictions.transform.LayerNorm.weight"] = _numpy(
            head.layer_norm.gamma
        )
        state["cls.predictions.transform.LayerNorm.bias"] = _numpy(
            head.layer_norm.beta
        )
        state["cls.predictions.bias"] = _numpy(head.bias)
    return {k: np.ascontiguousarray(v) for k, v in state.items()}


def _layer_state(block: Any, prefix: str) -> dict[str, np.ndarray]:
    dense = {
        "attention.self.query": block.query_dense,
        "attention.self.key": block.key_dense,
        "attention.self.value": block.value_dense,
        "attention.output.dense": block.attention_output_dense,
        "intermediate.dense": block.intermediate_dense,
        "output.dense": block.output_dense,
    }
    state = {}
    for name, layer in dense.items():
        kernel = _numpy(layer.kernel) * layer.mask()
        state[f"{prefix}.{name}.weight"] = kernel.T
        state[f"{prefix}.{name}.bias"] = _numpy(layer.bias)
    for name, norm in (
        ("attention.output.LayerNorm", block.attention_layer_norm),
        ("output.LayerNorm", block.output_layer_norm),
    ):
        state[f"{prefix}.{name}.weight"] = _numpy(norm.gamma)
        state[f"{prefix}.{name}.bias"] = _numpy(norm.beta)
    return state


def _save_tokenizer(tokenizer: Any, folder: str) -> None:
    """`tokenizer.save_pretrained` into a temporary folder, then each file
    renamed into `folder` (no tokenizer file is ever half-written)."""
    staging = tempfile.mkdtemp(dir=folder, prefix=".tokenizer.", suffix=".tmp")
    try:
        tokenizer.save_pretrained(staging)
        for name in sorted(os.listdir(staging)):
            source = os.path.join(staging, name)
            if os.path.isfile(source) and not os.path.islink(source):
                os.replace(source, os.path.join(folder, name))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def export_huggingface(
    model: Any, folder: str | os.PathLike, *, tokenizer: Any = None
) -> str:
    """Writes a ``transformers``-loadable folder with the masks baked in.

    Writes ``config.json`` and ``model.safetensors`` (each atomically, as
    are the tokenizer files):
    ``BertForMaskedLM`` layout when the backbone has an MLM head, else
    ``BertModel``. Every prunable kernel is stored as ``kernel * mask``.

    Args:
        model: a :class:`~smp_keras.bert.BertBackbone` or a model built on
            one (e.g. by :func:`~smp_keras.bert.build_classifier`).
        folder: destination folder (created if needed).
        tokenizer: optional ``transformers`` tokenizer, saved beside.

    Returns:
        The folder path, ready for ``AutoModel.from_pretrained``.
    """
    from safetensors.numpy import save

    backbone = find_backbone(model)
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    weights = save(hf_state_dict(backbone), metadata={"format": "pt"})
    smpcore.atomic_write(
        os.path.join(folder, "model.safetensors"), lambda f: f.write(weights)
    )
    config = json.dumps(hf_config(backbone), indent=2, sort_keys=True) + "\n"
    smpcore.atomic_write(
        os.path.join(folder, "config.json"),
        lambda f: f.write(config.encode("utf-8")),
    )
    if tokenizer is not None:
        _save_tokenizer(tokenizer, folder)
    return folder
