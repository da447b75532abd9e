"""Hugging Face BERT checkpoints -> :class:`~smp_keras.bert.BertBackbone`.

Two pure pieces, in the keras-hub converter style:
:func:`convert_backbone_config` maps a ``config.json`` dict to backbone
arguments, and :func:`convert_weights` ports one weight per line from a
weight loader (PyTorch names, PyTorch layouts, no ``bert.`` prefix; see
:mod:`smp_keras.bert.loader`) into a built backbone. PyTorch linear weights
are `(out, in)` and Keras kernels `(in, out)`, hence the transposes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from smp_keras.bert.checkpoint_readers import WeightLoader

__all__ = [
    "convert_backbone_config",
    "convert_weights",
    "has_mlm_head",
    "has_pooler",
]

_ACTIVATIONS = {
    "gelu": "gelu",
    "gelu_new": "gelu_approximate",
    "gelu_pytorch_tanh": "gelu_approximate",
    "relu": "relu",
}


def config_fields_to_backbone(config: dict[str, Any]) -> dict[str, Any]:
    """Maps the BERT config fields shared by HF and Google files.

    Raises:
        ValueError: for a missing field or an unsupported setting.
    """
    required = (
        "vocab_size",
        "num_hidden_layers",
        "num_attention_heads",
        "hidden_size",
        "intermediate_size",
    )
    missing = [key for key in required if key not in config]
    if missing:
        raise ValueError(
            f"The BERT config is missing field(s) {missing}. Received keys: "
            f"{sorted(config)}"
        )
    activation = config.get("hidden_act", "gelu")
    if activation not in _ACTIVATIONS:
        raise ValueError(
            f"`hidden_act` must be one of {sorted(_ACTIVATIONS)}. Received: "
            f"hidden_act={activation!r}"
        )
    position_type = config.get("position_embedding_type", "absolute")
    if position_type != "absolute":
        raise ValueError(
            "Only absolute position embeddings are supported. Received: "
            f"position_embedding_type={position_type!r}"
        )
    if config.get("is_decoder", False):
        raise ValueError(
            "Decoder (causal) BERT configs are not supported. Received: "
            "is_decoder=True"
        )
    return {
        "vocabulary_size": int(config["vocab_size"]),
        "num_layers": int(config["num_hidden_layers"]),
        "num_heads": int(config["num_attention_heads"]),
        "hidden_dim": int(config["hidden_size"]),
        "intermediate_dim": int(config["intermediate_size"]),
        "max_sequence_length": int(config.get("max_position_embeddings", 512)),
        "num_segments": int(config.get("type_vocab_size", 2)),
        "dropout": float(config.get("hidden_dropout_prob", 0.1)),
        "layer_norm_epsilon": float(config.get("layer_norm_eps", 1e-12)),
        "activation": _ACTIVATIONS[activation],
    }


def convert_backbone_config(hf_config: dict[str, Any]) -> dict[str, Any]:
    """Maps a Hugging Face BERT ``config.json`` to `BertBackbone` arguments.

    Args:
        hf_config: the parsed ``config.json``.

    Returns:
        Keyword arguments for :class:`~smp_keras.bert.BertBackbone`.

    Raises:
        ValueError: if `model_type` is not ``"bert"``, or a field is missing
            or unsupported.

    Example:
        >>> config = convert_backbone_config({
        ...     "model_type": "bert", "vocab_size": 100,
        ...     "num_hidden_layers": 2, "num_attention_heads": 2,
        ...     "hidden_size": 8, "intermediate_size": 12,
        ... })
        >>> config["hidden_dim"], config["num_segments"]
        (8, 2)
    """
    if not isinstance(hf_config, dict):
        raise TypeError(
            "`hf_config` must be a dict (the parsed config.json). Received: "
            f"hf_config of type {type(hf_config).__name__}"
        )
    model_type = hf_config.get("model_type")
    if model_type != "bert":
        raise ValueError(
            "Only BERT checkpoints are supported (config.json `model_type` "
            f'must be "bert"). Received: model_type={model_type!r}'
        )
    return config_fields_to_backbone(hf_config)


def has_mlm_head(loader: WeightLoader) -> bool:
    """Whether the checkpoint holds the pre-trained MLM head."""
    return "cls.predictions.transform.dense.weight" in loader


def has_pooler(loader: WeightLoader) -> bool:
    """Whether the checkpoint holds the pooler (BertForMaskedLM has none)."""
    return "pooler.dense.weight" in loader


def _transpose(value: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    del shape
    return np.transpose(value)


def convert_weights(
    backbone: Any, loader: WeightLoader, *, strict: bool = False
) -> None:
    """Copies a Hugging Face checkpoint into a built `BertBackbone`.

    All weights are checked (names, shapes) before any is assigned.

    Args:
        backbone: the :class:`~smp_keras.bert.BertBackbone` to fill.
        loader: the checkpoint, as opened by :mod:`smp_keras.bert.loader`.
        strict: if True, checkpoint weights the backbone does not use raise
            an error; otherwise they are listed in a warning.

    Raises:
        ValueError: listing missing weights, or naming a weight whose shape
            does not match.
    """
    port = loader.port_weight
    embeddings = backbone.get_layer("embeddings")
    port(
        embeddings.word_embeddings.embeddings,
        "embeddings.word_embeddings.weight",
    )
    port(
        embeddings.position_embeddings.embeddings,
        "embeddings.position_embeddings.weight",
    )
    port(
        embeddings.token_type_embeddings.embeddings,
        "embeddings.token_type_embeddings.weight",
    )
    port(embeddings.layer_norm.gamma, "embeddings.LayerNorm.weight")
    port(embeddings.layer_norm.beta, "embeddings.LayerNorm.bias")
    for i in range(backbone.num_layers):
        _port_transformer_layer(backbone, loader, i)
    if backbone.with_pooler:
        pooler = backbone.get_layer("pooler")
        port(pooler.kernel, "pooler.dense.weight", _transpose)
        port(pooler.bias, "pooler.dense.bias")
    else:
        loader.skip_prefix("pooler.")
    if backbone.with_mlm_head:
        _port_mlm_head(backbone, loader)
    else:
        loader.skip_prefix("cls.predictions.")
    loader.commit(strict=strict)


def _port_transformer_layer(
    backbone: Any, loader: WeightLoader, index: int
) -> None:
    port = loader.port_weight
    layer = backbone.get_layer(f"transformer_layer_{index}")
    prefix = f"encoder.layer.{index}"
    attention = f"{prefix}.attention"
    port(layer.query_dense.kernel, f"{attention}.self.query.weight", _transpose)
    port(layer.query_dense.bias, f"{attention}.self.query.bias")
    port(layer.key_dense.kernel, f"{attention}.self.key.weight", _transpose)
    port(layer.key_dense.bias, f"{attention}.self.key.bias")
    port(layer.value_dense.kernel, f"{attention}.self.value.weight", _transpose)
    port(layer.value_dense.bias, f"{attention}.self.value.bias")
    port(
        layer.attention_output_dense.kernel,
        f"{attention}.output.dense.weight",
        _transpose,
    )
    port(layer.attention_output_dense.bias, f"{attention}.output.dense.bias")
    port(
        layer.attention_layer_norm.gamma, f"{attention}.output.LayerNorm.weight"
    )
    port(layer.attention_layer_norm.beta, f"{attention}.output.LayerNorm.bias")
    port(
        layer.intermediate_dense.kernel,
        f"{prefix}.intermediate.dense.weight",
        _transpose,
    )
    port(layer.intermediate_dense.bias, f"{prefix}.intermediate.dense.bias")
    port(layer.output_dense.kernel, f"{prefix}.output.dense.weight", _transpose)
    port(layer.output_dense.bias, f"{prefix}.output.dense.bias")
    port(layer.output_layer_norm.gamma, f"{prefix}.output.LayerNorm.weight")
    port(layer.output_layer_norm.beta, f"{prefix}.output.LayerNorm.bias")


def _port_mlm_head(backbone: Any, loader: WeightLoader) -> None:
    port = loader.port_weight
    head = backbone.get_layer("mlm_head")
    prefix = "cls.predictions"
    port(head.dense.kernel, f"{prefix}.transform.dense.weight", _transpose)
    port(head.dense.bias, f"{prefix}.transform.dense.bias")
    port(head.layer_norm.gamma, f"{prefix}.transform.LayerNorm.weight")
    port(head.layer_norm.beta, f"{prefix}.transform.LayerNorm.bias")
    port(head.bias, f"{prefix}.bias")
    _check_tied_decoder(loader)


def _check_tied_decoder(loader: WeightLoader) -> None:
    """The decoder must be tied to the word embeddings (as in all BERTs)."""
    name = "cls.predictions.decoder.weight"
    if name not in loader or "embeddings.word_embeddings.weight" not in loader:
        return
    decoder = loader.get(name)
    embeddings = loader.get("embeddings.word_embeddings.weight")
    if decoder.shape != embeddings.shape or not np.array_equal(
        decoder, embeddings
    ):
        raise ValueError(
            f"{loader.source}: {name!r} differs from the word embeddings; "
            "only BERT checkpoints with a tied MLM decoder are supported."
        )
