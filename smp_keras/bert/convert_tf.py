"""Original Google BERT TF checkpoints -> `BertBackbone`.

Google's release folders (``bert_config.json``, ``bert_model.ckpt.*``,
``vocab.txt``) name weights like ``bert/encoder/layer_0/attention/self/
query/kernel``; their dense kernels are already `(in, out)`, so nothing is
transposed. The MLM head lives under ``cls/predictions`` with the output bias
named ``output_bias``. Reading the checkpoint needs TensorFlow (see
:func:`smp_keras.bert.loader.from_pretrained`).
"""

from __future__ import annotations

from typing import Any

from smp_keras.bert.checkpoint_readers import WeightLoader
from smp_keras.bert.convert_hf import config_fields_to_backbone

__all__ = [
    "convert_backbone_config",
    "convert_weights",
    "has_mlm_head",
    "has_pooler",
]


def convert_backbone_config(bert_config: dict[str, Any]) -> dict[str, Any]:
    """Maps a Google ``bert_config.json`` to `BertBackbone` arguments.

    Args:
        bert_config: the parsed ``bert_config.json`` (it has no
            `model_type`; if one is present it must be ``"bert"``).

    Returns:
        Keyword arguments for :class:`~smp_keras.bert.BertBackbone`.

    Raises:
        ValueError: for a wrong `model_type`, a missing or unsupported field.

    Example:
        >>> convert_backbone_config({
        ...     "vocab_size": 100, "num_hidden_layers": 2,
        ...     "num_attention_heads": 2, "hidden_size": 8,
        ...     "intermediate_size": 12, "type_vocab_size": 2,
        ... })["num_layers"]
        2
    """
    if not isinstance(bert_config, dict):
        raise TypeError(
            "`bert_config` must be a dict (the parsed bert_config.json). "
            f"Received: bert_config of type {type(bert_config).__name__}"
        )
    model_type = bert_config.get("model_type", "bert")
    if model_type != "bert":
        raise ValueError(
            "Only BERT checkpoints are supported. Received: "
            f"model_type={model_type!r}"
        )
    return config_fields_to_backbone(bert_config)


def has_mlm_head(loader: WeightLoader) -> bool:
    """Whether the checkpoint holds the pre-trained MLM head."""
    return "cls/predictions/transform/dense/kernel" in loader


def has_pooler(loader: WeightLoader) -> bool:
    """Whether the checkpoint holds the pooler."""
    return "bert/pooler/dense/kernel" in loader


def convert_weights(
    backbone: Any, loader: WeightLoader, *, strict: bool = False
) -> None:
    """Copies a Google BERT checkpoint into a built `BertBackbone`.

    Args:
        backbone: the :class:`~smp_keras.bert.BertBackbone` to fill.
        loader: the opened checkpoint (Google names).
        strict: if True, unused checkpoint weights (other than optimizer
            slots, ``global_step`` and the NSP head) raise an error.

    Raises:
        ValueError: listing missing weights, or naming a shape mismatch.
    """
    port = loader.port_weight
    embeddings = backbone.get_layer("embeddings")
    prefix = "bert/embeddings"
    port(embeddings.word_embeddings.embeddings, f"{prefix}/word_embeddings")
    port(
        embeddings.position_embeddings.embeddings,
        f"{prefix}/position_embeddings",
    )
    port(
        embeddings.token_type_embeddings.embeddings,
        f"{prefix}/token_type_embeddings",
    )
    port(embeddings.layer_norm.gamma, f"{prefix}/LayerNorm/gamma")
    port(embeddings.layer_norm.beta, f"{prefix}/LayerNorm/beta")
    for i in range(backbone.num_layers):
        _port_transformer_layer(backbone, loader, i)
    if backbone.with_pooler:
        pooler = backbone.get_layer("pooler")
        port(pooler.kernel, "bert/pooler/dense/kernel")
        port(pooler.bias, "bert/pooler/dense/bias")
    else:
        loader.skip_prefix("bert/pooler/")
    if backbone.with_mlm_head:
        head = backbone.get_layer("mlm_head")
        port(head.dense.kernel, "cls/predictions/transform/dense/kernel")
        port(head.dense.bias, "cls/predictions/transform/dense/bias")
        port(head.layer_norm.gamma, "cls/predictions/transform/LayerNorm/gamma")
        port(head.layer_norm.beta, "cls/predictions/transform/LayerNorm/beta")
        port(head.bias, "cls/predictions/output_bias")
    else:
        loader.skip_prefix("cls/predictions/")
    loader.commit(strict=strict)


def _port_transformer_layer(
    backbone: Any, loader: WeightLoader, index: int
) -> None:
    port = loader.port_weight
    layer = backbone.get_layer(f"transformer_layer_{index}")
    prefix = f"bert/encoder/layer_{index}"
    attention = f"{prefix}/attention"
    port(layer.query_dense.kernel, f"{attention}/self/query/kernel")
    port(layer.query_dense.bias, f"{attention}/self/query/bias")
    port(layer.key_dense.kernel, f"{attention}/self/key/kernel")
    port(layer.key_dense.bias, f"{attention}/self/key/bias")
    port(layer.value_dense.kernel, f"{attention}/self/value/kernel")
    port(layer.value_dense.bias, f"{attention}/self/value/bias")
    port(
        layer.attention_output_dense.kernel, f"{attention}/output/dense/kernel"
    )
    port(layer.attention_output_dense.bias, f"{attention}/output/dense/bias")
    port(
        layer.attention_layer_norm.gamma, f"{attention}/output/LayerNorm/gamma"
    )
    port(layer.attention_layer_norm.beta, f"{attention}/output/LayerNorm/beta")
    port(layer.intermediate_dense.kernel, f"{prefix}/intermediate/dense/kernel")
    port(layer.intermediate_dense.bias, f"{prefix}/intermediate/dense/bias")
    port(layer.output_dense.kernel, f"{prefix}/output/dense/kernel")
    port(layer.output_dense.bias, f"{prefix}/output/dense/bias")
    port(layer.output_layer_norm.gamma, f"{prefix}/output/LayerNorm/gamma")
    port(layer.output_layer_norm.beta, f"{prefix}/output/LayerNorm/beta")
