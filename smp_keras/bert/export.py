"""Export a pruned backbone for serving without this library.

- :func:`export_huggingface`: a plain Hugging Face ``transformers`` folder,
  the inverse of ``smp_keras.bert.convert_hf``. Every prunable kernel is
  written as ``kernel * mask`` in PyTorch's `(out, in)` layout, so the
  pruned model serves with ``transformers`` alone (`BertForMaskedLM` when
  the backbone has an MLM head, else `BertModel`; `RobertaForMaskedLM`,
  `DistilBertModel`, ... for a backbone of another family).
- :func:`plain_keras_model` / :func:`save_plain_keras`: a task model of
  this library (a :class:`~smp_keras.bert.BertBackbone` with a frozen
  label-word or prototype head) rebuilt from `keras.layers` (`Embedding`,
  `MultiHeadAttention`, `Dense`, `LayerNormalization`, `UnitNormalization`)
  and a few `keras.ops` calls, with every mask baked into its kernel. The
  ``.keras`` file loads with ``keras.saving.load_model`` in a Python that
  has Keras but not `smp_keras`. The zeros of the pruned kernels are stored
  densely: the file is as large as the dense model (sparse storage is the
  mask artifact's job).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any

import keras
import numpy as np
from keras import ops

import smpcore
from smp_keras.bert.backbone import BertBackbone
from smp_keras.bert.convert_hf import Family, family
from smp_keras.bert.embeddings import position_ids
from smp_keras.bert.heads import (
    LabelWordHead,
    MaskedMeanPooling,
    PositionGather,
    masked_mean,
)
from smp_keras.bert.layer_utils import activation_fn
from smp_keras.bert.prototype import PrototypeHead
from smp_keras.bert.reference_masks import find_backbone

__all__ = ["export_huggingface", "plain_keras_model", "save_plain_keras"]

_HF_ACTIVATIONS = {
    "gelu": "gelu",
    "gelu_approximate": "gelu_new",
    "relu": "relu",
}


def numpy_value(variable: Any) -> np.ndarray:
    """A variable's value as a float32 NumPy array (any backend)."""
    return np.asarray(ops.convert_to_numpy(variable), dtype=np.float32)


_ARCHITECTURES = {
    "bert": "Bert",
    "roberta": "Roberta",
    "xlm-roberta": "XLMRoberta",
    "distilbert": "DistilBert",
    "electra": "Electra",
}


def _check_exportable(backbone: Any) -> Family:
    """The backbone's family, if its layout can hold the backbone.

    Raises:
        ValueError: naming the backbone setting the family cannot express.
    """
    names = family(backbone.model_type)
    kind = backbone.model_type
    roberta = kind in ("roberta", "xlm-roberta")
    problems = []
    if roberta != (backbone.position_padding_idx is not None):
        problems.append(f"position_padding_idx={backbone.position_padding_idx}")
    if (kind == "distilbert") != (backbone.num_segments == 0):
        problems.append(f"num_segments={backbone.num_segments}")
    if kind != "electra" and backbone.embedding_dim not in (
        None,
        backbone.hidden_dim,
    ):
        problems.append(f"embedding_dim={backbone.embedding_dim}")
    if kind in ("distilbert", "electra") and backbone.with_pooler:
        problems.append("with_pooler=True")
    if kind == "distilbert" and backbone.layer_norm_epsilon != 1e-12:
        problems.append(f"layer_norm_epsilon={backbone.layer_norm_epsilon}")
    fixed = "gelu" if names.mlm_gelu else backbone.activation
    if backbone.with_mlm_head and backbone.mlm_activation != fixed:
        problems.append(f"mlm_activation={backbone.mlm_activation!r}")
    if problems:
        raise ValueError(
            f"A transformers {kind!r} model cannot hold this backbone's "
            f"settings: {', '.join(problems)} (model_type={kind!r})."
        )
    return names


def hf_config(backbone: Any) -> dict[str, Any]:
    """The ``config.json`` dict of `backbone` for ``transformers``.

    In the layout of the backbone's `model_type`
    (``smp_keras.bert.convert_hf``).

    Raises:
        ValueError: if that layout cannot express the backbone (the
            setting is named).
    """
    _check_exportable(backbone)
    kind = backbone.model_type
    head = "ForMaskedLM" if backbone.with_mlm_head else "Model"
    architecture = _ARCHITECTURES[kind] + head
    if kind == "distilbert":
        return {
            "architectures": [architecture],
            "model_type": kind,
            "vocab_size": backbone.vocabulary_size,
            "dim": backbone.hidden_dim,
            "n_layers": backbone.num_layers,
            "n_heads": backbone.num_heads,
            "hidden_dim": backbone.intermediate_dim,
            "activation": _HF_ACTIVATIONS[backbone.activation],
            "dropout": backbone.dropout,
            "attention_dropout": backbone.dropout,
            "max_position_embeddings": backbone.max_sequence_length,
            "initializer_range": backbone.initializer_range,
            "sinusoidal_pos_embds": False,
            "pad_token_id": 0,
            "tie_word_embeddings": True,
        }
    config = {
        "architectures": [architecture],
        "model_type": kind,
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
    if backbone.position_padding_idx is not None:
        config["pad_token_id"] = backbone.position_padding_idx
    if kind == "electra":
        config["embedding_size"] = backbone.embedding_dim or backbone.hidden_dim
    return config


def hf_state_dict(backbone: Any) -> dict[str, np.ndarray]:
    """Weights of `backbone` under Hugging Face names, masks applied.

    The names are those of the backbone's `model_type`; with an MLM head
    they are the masked-LM class's (base model under its prefix, e.g.
    ``bert.``), else the base model's.
    """
    names = _check_exportable(backbone)
    prefix = names.prefix if backbone.with_mlm_head else ""
    emb = backbone.get_layer("embeddings")
    state = {
        "embeddings.word_embeddings.weight": emb.word_embeddings.embeddings,
        "embeddings.position_embeddings.weight": (
            emb.position_embeddings.embeddings
        ),
        f"{names.embedding_norm}.weight": emb.layer_norm.gamma,
        f"{names.embedding_norm}.bias": emb.layer_norm.beta,
    }
    if emb.token_type_embeddings is not None:
        state["embeddings.token_type_embeddings.weight"] = (
            emb.token_type_embeddings.embeddings
        )
    state = {name: numpy_value(value) for name, value in state.items()}
    if emb.embedding_projection is not None:
        projection = emb.embedding_projection
        state["embeddings_project.weight"] = numpy_value(projection.kernel).T
        state["embeddings_project.bias"] = numpy_value(projection.bias)
    for index, block in enumerate(backbone.transformer_layers):
        state.update(_layer_state(block, names, index))
    if backbone.with_pooler:
        pooler = backbone.get_layer("pooler")
        state["pooler.dense.weight"] = numpy_value(pooler.kernel).T
        state["pooler.dense.bias"] = numpy_value(pooler.bias)
    state = {prefix + name: value for name, value in state.items()}
    if backbone.with_mlm_head:
        head = backbone.get_layer("mlm_head")
        state[f"{names.mlm_dense}.weight"] = numpy_value(head.dense.kernel).T
        state[f"{names.mlm_dense}.bias"] = numpy_value(head.dense.bias)
        state[f"{names.mlm_layer_norm}.weight"] = numpy_value(
            head.layer_norm.gamma
        )
        state[f"{names.mlm_layer_norm}.bias"] = numpy_value(
            head.layer_norm.beta
        )
        state[names.mlm_bias] = numpy_value(head.bias)
    return {k: np.ascontiguousarray(v) for k, v in state.items()}


def _layer_state(block: Any, names: Family, index: int) -> dict:
    prefix = names.layer_name(index)
    state = {}
    for attribute, name in names.matrices:
        layer = getattr(block, attribute)
        kernel = numpy_value(layer.kernel) * layer.mask()
        state[f"{prefix}.{name}.weight"] = kernel.T
        state[f"{prefix}.{name}.bias"] = numpy_value(layer.bias)
    for attribute, name in names.layer_norms:
        norm = getattr(block, attribute)
        state[f"{prefix}.{name}.weight"] = numpy_value(norm.gamma)
        state[f"{prefix}.{name}.bias"] = numpy_value(norm.beta)
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
    ``BertModel`` (for a backbone of another family, `model_type`, its
    classes: ``RobertaForMaskedLM``, ``ElectraModel``, ...). Every
    prunable kernel is stored as ``kernel * mask``.

    Args:
        model: a :class:`~smp_keras.bert.BertBackbone` or a model built on
            one (e.g. by :func:`~smp_keras.bert.build_classifier`).
        folder: destination folder (created if needed).
        tokenizer: optional ``transformers`` tokenizer, saved beside.

    Returns:
        The folder path, ready for ``AutoModel.from_pretrained``.

    Raises:
        ValueError: if the layout of the backbone's `model_type` cannot
            express one of its settings (named).
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


# === A plain Keras model ===


def baked_weights(layer: Any) -> tuple[np.ndarray, np.ndarray]:
    """A `MaskedDense`'s `(kernel * mask, bias)` as float32 arrays (zeros
    for a layer without a bias)."""
    kernel = numpy_value(layer.kernel) * layer.mask()
    if layer.bias is None:
        return kernel, np.zeros(kernel.shape[-1], np.float32)
    return kernel, numpy_value(layer.bias)


def plain_layer_norm(source: Any, name: str) -> keras.layers.LayerNormalization:
    """A built `keras.layers.LayerNormalization` with `source`'s weights
    (a node of the plain Keras graphs of export and compaction)."""
    layer = keras.layers.LayerNormalization(epsilon=source.epsilon, name=name)
    layer.build((None, None, int(source.gamma.shape[0])))
    layer.set_weights([numpy_value(source.gamma), numpy_value(source.beta)])
    return layer


def plain_embeddings(backbone: BertBackbone, inputs: dict[str, Any]) -> Any:
    """`backbone`'s embeddings (word, token type, position, LayerNorm and
    ELECTRA's projection) as plain Keras layers applied to the functional
    `inputs`; returns the embedded sequence."""
    source = backbone.get_layer("embeddings")
    tables = {
        "word_embeddings": source.word_embeddings,
        "token_type_embeddings": source.token_type_embeddings,
        "position_embeddings": source.position_embeddings,
    }
    layers = {}
    for name, table in tables.items():
        if table is None:  # no token types (DistilBERT)
            continue
        matrix = numpy_value(table.embeddings)
        layers[name] = keras.layers.Embedding(
            matrix.shape[0], matrix.shape[1], name=name
        )
        layers[name].build((None, None))
        layers[name].set_weights([matrix])
    token_ids = inputs["token_ids"]
    positions = position_ids(token_ids, source.position_padding_idx)
    x = layers["word_embeddings"](token_ids)
    if "token_type_embeddings" in layers:
        x = x + layers["token_type_embeddings"](inputs["segment_ids"])
    x = x + layers["position_embeddings"](positions)
    x = plain_layer_norm(source.layer_norm, "embeddings_layer_norm")(x)
    projection = source.embedding_projection
    if projection is not None:  # ELECTRA: embeddings narrower than hidden
        dense = keras.layers.Dense(
            backbone.hidden_dim, name="embeddings_project"
        )
        dense.build((None, int(projection.kernel.shape[0])))
        dense.set_weights(
            [numpy_value(projection.kernel), numpy_value(projection.bias)]
        )
        x = dense(x)
    return x


def _attention(block: Any, index: int, hidden: int) -> Any:
    heads = block.num_heads
    head_dim = hidden // heads
    attention = keras.layers.MultiHeadAttention(
        heads, head_dim, name=f"attention_{index}"
    )
    attention.build((None, None, hidden), (None, None, hidden))
    weights = []
    for dense in (block.query_dense, block.key_dense, block.value_dense):
        kernel, bias = baked_weights(dense)
        weights += [
            kernel.reshape(hidden, heads, head_dim),
            bias.reshape(heads, head_dim),
        ]
    kernel, bias = baked_weights(block.attention_output_dense)
    weights += [kernel.reshape(heads, head_dim, hidden), bias]
    attention.set_weights(weights)
    return attention


def _dense(source: Any, name: str) -> keras.layers.Dense:
    kernel, bias = baked_weights(source)
    layer = keras.layers.Dense(kernel.shape[1], name=name)
    layer.build((None, kernel.shape[0]))
    layer.set_weights([kernel, bias])
    return layer


def _encoder(backbone: BertBackbone, inputs: dict[str, Any]) -> Any:
    x = plain_embeddings(backbone, inputs)
    mask = ops.cast(ops.expand_dims(inputs["padding_mask"], 1), "bool")
    hidden = backbone.hidden_dim
    for i, block in enumerate(backbone.transformer_layers):
        attention = _attention(block, i, hidden)
        attended = attention(x, x, attention_mask=mask)
        x = plain_layer_norm(block.attention_layer_norm, f"attention_norm_{i}")(
            x + attended
        )
        h = _dense(block.intermediate_dense, f"intermediate_{i}")(x)
        h = activation_fn(block.activation)(h)
        y = _dense(block.output_dense, f"output_{i}")(h)
        x = plain_layer_norm(block.output_layer_norm, f"output_norm_{i}")(x + y)
    return x


def _head(model: keras.Model, features: Any) -> Any:
    """Applies the frozen head of `model` to pooled features."""
    for layer in model.layers:
        if isinstance(layer, PrototypeHead):
            x = keras.layers.UnitNormalization(name="normalize")(features)
            dense = keras.layers.Dense(
                layer.num_labels, use_bias=False, name="prototype_logits"
            )
            dense.build((None, int(layer.prototypes.shape[1])))
            dense.set_weights(
                [layer.logit_scale * numpy_value(layer.prototypes).T]
            )
            return dense(x)
        if isinstance(layer, LabelWordHead):
            x = features
            if layer.use_transform:
                transform = keras.layers.Dense(
                    int(layer.kernel.shape[0]), name="transform"
                )
                transform.build((None, int(layer.dense.kernel.shape[0])))
                transform.set_weights(layer.dense.get_weights())
                x = activation_fn(layer.activation)(transform(x))
                x = plain_layer_norm(layer.layer_norm, "transform_norm")(x)
            dense = keras.layers.Dense(layer.num_labels, name="label_logits")
            dense.build((None, int(layer.kernel.shape[0])))
            scale = layer.logit_scale
            dense.set_weights(
                [
                    scale * numpy_value(layer.kernel),
                    scale * numpy_value(layer.bias),
                ]
            )
            return dense(x)
    raise ValueError(
        "The model has no PrototypeHead or LabelWordHead: only task models "
        "built by smp_keras (build_classifier, build_prototype_classifier, "
        "the span variants) can be rebuilt from standard layers."
    )


def _pool(model: keras.Model, sequence: Any, inputs: dict[str, Any]) -> Any:
    kinds = {type(layer) for layer in model.layers}
    if MaskedMeanPooling in kinds:
        return masked_mean(sequence, inputs["padding_mask"])
    if PositionGather in kinds:
        index = ops.reshape(
            ops.cast(inputs["mask_positions"], "int32"), (-1, 1, 1)
        )
        return ops.squeeze(ops.take_along_axis(sequence, index, axis=1), 1)
    return sequence[:, 0, :]


def task_inputs(model: keras.Model) -> dict[str, Any]:
    """`keras.Input`s named like the inputs of the task model `model`."""
    names = [tensor.name for tensor in model.inputs]
    return {
        name: keras.Input(
            shape=(None,) if name != "mask_positions" else (),
            dtype="int32",
            name=name,
        )
        for name in (
            "token_ids",
            "segment_ids",
            "padding_mask",
            "mask_positions",
        )
        if any(n.startswith(name) for n in names)
    }


def task_outputs(model: keras.Model, sequence: Any, inputs: Any) -> Any:
    """The frozen head of task model `model` on the encoder's `sequence`."""
    if isinstance(model.output, dict):
        logits = _head(model, sequence)
        return {
            "start_logits": logits[..., 0],
            "end_logits": logits[..., 1],
        }
    return _head(model, _pool(model, sequence, inputs))


def plain_keras_model(model: keras.Model) -> keras.Model:
    """Rebuilds a pruned task model from standard Keras layers.

    Args:
        model: A task model of this library (classifier, regressor or span
            model on a :class:`~smp_keras.bert.BertBackbone`), with its
            masks set.

    Returns:
        A functional `keras.Model` with the same inputs and outputs and
        the masks baked into its kernels; it holds no `smp_keras` layer.

    Raises:
        TypeError: If `model` holds no backbone.
        ValueError: If its head is not one of this library's.
    """
    backbone = find_backbone(model)
    inputs = task_inputs(model)
    sequence = _encoder(backbone, inputs)
    outputs = task_outputs(model, sequence, inputs)
    return keras.Model(inputs, outputs, name=f"{model.name}_plain")


def check_keras_path(path: str) -> str:
    """Returns `path` if it ends in ``.keras``, else raises `ValueError`."""
    if not path.endswith(".keras"):
        raise ValueError(
            f"`keras_path` must end in '.keras'. Received: keras_path={path!r}"
        )
    return path


def save_keras_atomically(model: keras.Model, path: str) -> str:
    """`model.save` to a temporary file beside `path`, then renamed."""
    check_keras_path(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        staging = os.path.join(tmp, "model.keras")
        model.save(staging)
        with open(staging, "rb") as handle:
            data = handle.read()
    smpcore.atomic_write(path, lambda h: h.write(data))
    return path


def save_plain_keras(model: keras.Model, path: str) -> str:
    """Writes :func:`plain_keras_model` of `model` to a ``.keras`` file.

    Written to a temporary file and renamed into place.

    Args:
        model: A pruned task model of this library.
        path: Destination, ending in ``.keras``.

    Returns:
        `path`.

    Raises:
        ValueError: If `path` does not end in ``.keras``.
    """
    check_keras_path(path)
    return save_keras_atomically(plain_keras_model(model), path)
