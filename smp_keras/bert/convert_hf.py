"""Hugging Face checkpoints -> :class:`~smp_keras.bert.BertBackbone`.

Two pure pieces, in the keras-hub converter style:
:func:`convert_backbone_config` maps a ``config.json`` dict to backbone
arguments, and :func:`convert_weights` ports one weight per line from a
weight loader (PyTorch names, PyTorch layouts, no base-model prefix such as
``bert.``; see :mod:`smp_keras.bert.loader`) into a built backbone. PyTorch
linear weights are `(out, in)` and Keras kernels `(in, out)`, hence the
transposes.

Besides BERT, other Hugging Face encoder families load: RoBERTa and
XLM-RoBERTa (``model_type`` ``"roberta"``, ``"xlm-roberta"``), DistilBERT
(``"distilbert"``) and ELECTRA (``"electra"``, discriminator or
generator). They share BERT's post-LayerNorm encoder layer and differ in
what :class:`~smp_keras.bert.BertBackbone`'s options express:

- RoBERTa / XLM-RoBERTa: position ids counted from ``pad_token_id + 1``
  with padding tokens at ``pad_token_id`` (`position_padding_idx`), one
  token type, the MLM head always with the exact GELU;
- DistilBERT: no token type embeddings (`num_segments=0`), no pooler;
- ELECTRA: embeddings narrower than the encoder, projected up
  (`embedding_dim`), no pooler; the generator's MLM head maps to the
  embedding width;

and in their weight names, which :class:`Family` lists once for this
converter, the exporter (:mod:`smp_keras.bert.export`) and the
reference-mask names (:mod:`smp_keras.bert.reference_masks`).
:func:`converter` returns the converter of a ``model_type``; the
module-level :func:`convert_weights`, :func:`has_mlm_head` and
:func:`has_pooler` are BERT's.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from smp_keras.bert.checkpoint_readers import WeightLoader

__all__ = [
    "FAMILIES",
    "Family",
    "HFConverter",
    "MODEL_TYPES",
    "convert_backbone_config",
    "convert_weights",
    "converter",
    "family",
    "has_mlm_head",
    "has_pooler",
]

# === Families ===

_BERT_MATRICES = (
    ("query_dense", "attention.self.query"),
    ("key_dense", "attention.self.key"),
    ("value_dense", "attention.self.value"),
    ("attention_output_dense", "attention.output.dense"),
    ("intermediate_dense", "intermediate.dense"),
    ("output_dense", "output.dense"),
)
_BERT_LAYER_NORMS = (
    ("attention_layer_norm", "attention.output.LayerNorm"),
    ("output_layer_norm", "output.LayerNorm"),
)


@dataclasses.dataclass(frozen=True)
class Family:
    """The Hugging Face names of one encoder family.

    Attributes:
        model_type: the ``config.json`` `model_type`.
        prefix: the base model's name prefix in task checkpoints
            (``"bert."``), which the readers strip.
        layer: the name of encoder layer ``index`` (a format string).
        matrices: `(attribute, name)` of the six prunable matrices, in
            `MATRIX_TYPES` order; `attribute` is the
            :class:`~smp_keras.bert.BertTransformerLayer` sublayer.
        layer_norms: `(attribute, name)` of the two layer LayerNorms.
        embedding_norm: the embeddings' LayerNorm.
        mlm_dense: the MLM transform's dense layer.
        mlm_layer_norm: the MLM transform's LayerNorm.
        mlm_bias: the MLM output bias.
        mlm_decoder: the MLM decoder matrix (tied to the word embeddings).
        mlm_gelu: whether the MLM transform is always the exact GELU
            (else it is the encoder's activation).
    """

    model_type: str
    prefix: str
    layer: str
    matrices: tuple[tuple[str, str], ...]
    layer_norms: tuple[tuple[str, str], ...]
    embedding_norm: str
    mlm_dense: str
    mlm_layer_norm: str
    mlm_bias: str
    mlm_decoder: str
    mlm_gelu: bool

    def layer_name(self, index: int) -> str:
        """The name prefix of encoder layer `index`."""
        return self.layer.format(index=index)

    @property
    def mlm_prefixes(self) -> tuple[str, ...]:
        """Name prefixes of the MLM head's weights."""
        names = (self.mlm_dense, self.mlm_layer_norm, self.mlm_bias)
        names += (self.mlm_decoder,)
        return tuple(dict.fromkeys(n.rsplit(".", 1)[0] + "." for n in names))


_BERT = Family(
    model_type="bert",
    prefix="bert.",
    layer="encoder.layer.{index}",
    matrices=_BERT_MATRICES,
    layer_norms=_BERT_LAYER_NORMS,
    embedding_norm="embeddings.LayerNorm",
    mlm_dense="cls.predictions.transform.dense",
    mlm_layer_norm="cls.predictions.transform.LayerNorm",
    mlm_bias="cls.predictions.bias",
    mlm_decoder="cls.predictions.decoder.weight",
    mlm_gelu=False,
)
_ROBERTA = dataclasses.replace(
    _BERT,
    model_type="roberta",
    prefix="roberta.",
    mlm_dense="lm_head.dense",
    mlm_layer_norm="lm_head.layer_norm",
    mlm_bias="lm_head.bias",
    mlm_decoder="lm_head.decoder.weight",
    mlm_gelu=True,
)
_DISTILBERT = Family(
    model_type="distilbert",
    prefix="distilbert.",
    layer="transformer.layer.{index}",
    matrices=(
        ("query_dense", "attention.q_lin"),
        ("key_dense", "attention.k_lin"),
        ("value_dense", "attention.v_lin"),
        ("attention_output_dense", "attention.out_lin"),
        ("intermediate_dense", "ffn.lin1"),
        ("output_dense", "ffn.lin2"),
    ),
    layer_norms=(
        ("attention_layer_norm", "sa_layer_norm"),
        ("output_layer_norm", "output_layer_norm"),
    ),
    embedding_norm="embeddings.LayerNorm",
    mlm_dense="vocab_transform",
    mlm_layer_norm="vocab_layer_norm",
    mlm_bias="vocab_projector.bias",
    mlm_decoder="vocab_projector.weight",
    mlm_gelu=False,
)
_ELECTRA = dataclasses.replace(
    _BERT,
    model_type="electra",
    prefix="electra.",
    mlm_dense="generator_predictions.dense",
    mlm_layer_norm="generator_predictions.LayerNorm",
    mlm_bias="generator_lm_head.bias",
    mlm_decoder="generator_lm_head.weight",
    mlm_gelu=True,
)

#: Every supported family, by `model_type`.
FAMILIES = {
    f.model_type: f
    for f in (
        _BERT,
        _ROBERTA,
        dataclasses.replace(_ROBERTA, model_type="xlm-roberta"),
        _DISTILBERT,
        _ELECTRA,
    )
}
#: The supported ``config.json`` `model_type` values.
MODEL_TYPES = tuple(FAMILIES)


def family(model_type: str) -> Family:
    """Returns the :class:`Family` of a ``config.json`` `model_type`.

    Raises:
        ValueError: for a `model_type` not in `MODEL_TYPES` (named).

    Example:
        >>> family("roberta").prefix
        'roberta.'
    """
    if model_type not in FAMILIES:
        raise ValueError(
            f"`model_type` must be one of {MODEL_TYPES}. Received: "
            f"model_type={model_type!r}"
        )
    return FAMILIES[model_type]


# === Configs ===

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
    """Maps a Hugging Face ``config.json`` to `BertBackbone` arguments.

    Args:
        hf_config: the parsed ``config.json``; its `model_type` must be one
            of `MODEL_TYPES` (``"bert"``, ``"roberta"``, ``"xlm-roberta"``,
            ``"distilbert"``, ``"electra"``).

    Returns:
        Keyword arguments for :class:`~smp_keras.bert.BertBackbone`
        (with `model_type` unless it is ``"bert"``, the default).

    Raises:
        ValueError: if `model_type` is not supported (the message names
            it), or a field is missing or unsupported.

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
    if model_type not in MODEL_TYPES:
        raise ValueError(
            "Only the encoder families BERT, RoBERTa, XLM-RoBERTa, DistilBERT "
            f"and ELECTRA are supported (config.json `model_type` must be one "
            f"of {MODEL_TYPES}). Received: model_type={model_type!r}"
        )
    if model_type == "distilbert":
        return _distilbert_config(hf_config)
    config = config_fields_to_backbone(hf_config)
    if model_type != "bert":  # BERT keeps the backbone's defaults
        config["model_type"] = model_type
    if model_type in ("roberta", "xlm-roberta"):
        pad = hf_config.get("pad_token_id", 1)
        if isinstance(pad, bool) or not isinstance(pad, int) or pad < 0:
            raise ValueError(
                "RoBERTa's position ids need a non-negative int "
                f"`pad_token_id`. Received: pad_token_id={pad!r}"
            )
        config["num_segments"] = int(hf_config.get("type_vocab_size", 1))
        config["position_padding_idx"] = pad
        config["mlm_activation"] = "gelu"
    elif model_type == "electra":
        embedding = int(hf_config.get("embedding_size", config["hidden_dim"]))
        if embedding != config["hidden_dim"]:
            config["embedding_dim"] = embedding
        config["mlm_activation"] = "gelu"
    return config


def _distilbert_config(hf_config: dict[str, Any]) -> dict[str, Any]:
    """DistilBERT's own field names (`dim`, `n_layers`, ...)."""
    renamed = {
        "model_type": "distilbert",
        "vocab_size": hf_config.get("vocab_size"),
        "num_hidden_layers": hf_config.get("n_layers"),
        "num_attention_heads": hf_config.get("n_heads"),
        "hidden_size": hf_config.get("dim"),
        "intermediate_size": hf_config.get("hidden_dim"),
        "max_position_embeddings": hf_config.get("max_position_embeddings"),
        "hidden_act": hf_config.get("activation", "gelu"),
        "hidden_dropout_prob": hf_config.get("dropout"),
        "layer_norm_eps": 1e-12,  # fixed in DistilBERT
    }
    missing = [
        name
        for name, key in (
            ("vocab_size", "vocab_size"),
            ("n_layers", "num_hidden_layers"),
            ("n_heads", "num_attention_heads"),
            ("dim", "hidden_size"),
            ("hidden_dim", "intermediate_size"),
        )
        if renamed[key] is None
    ]
    if missing:
        raise ValueError(
            f"The DistilBERT config is missing field(s) {missing}. Received "
            f"keys: {sorted(hf_config)}"
        )
    config = config_fields_to_backbone(
        {key: value for key, value in renamed.items() if value is not None}
    )
    config["num_segments"] = 0
    config["model_type"] = "distilbert"
    return config


def _transpose(value: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    del shape
    return np.transpose(value)


class HFConverter:
    """Ports the weights of one Hugging Face encoder family.

    Args:
        model_type: one of `MODEL_TYPES`.

    Raises:
        ValueError: for another `model_type` (named).
    """

    def __init__(self, model_type: str) -> None:
        self.family: Family = family(model_type)

    def has_mlm_head(self, loader: WeightLoader) -> bool:
        """Whether the checkpoint holds the pre-trained MLM head."""
        return f"{self.family.mlm_dense}.weight" in loader

    def has_pooler(self, loader: WeightLoader) -> bool:
        """Whether the checkpoint holds the pooler (BERT, RoBERTa)."""
        return "pooler.dense.weight" in loader

    def convert_weights(
        self, backbone: Any, loader: WeightLoader, *, strict: bool = False
    ) -> None:
        """Copies the checkpoint into a built `BertBackbone`.

        All weights are checked (names, shapes) before any is assigned.

        Args:
            backbone: the :class:`~smp_keras.bert.BertBackbone` to fill.
            loader: the checkpoint, as opened by :mod:`smp_keras.bert.loader`.
            strict: if True, checkpoint weights the backbone does not use
                raise an error; otherwise they are listed in a warning.

        Raises:
            ValueError: listing missing weights, naming a weight whose shape
                does not match, or for an untied MLM decoder.
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
        if embeddings.token_type_embeddings is not None:
            port(
                embeddings.token_type_embeddings.embeddings,
                "embeddings.token_type_embeddings.weight",
            )
        norm = self.family.embedding_norm
        port(embeddings.layer_norm.gamma, f"{norm}.weight")
        port(embeddings.layer_norm.beta, f"{norm}.bias")
        if embeddings.embedding_projection is not None:
            projection = embeddings.embedding_projection
            port(projection.kernel, "embeddings_project.weight", _transpose)
            port(projection.bias, "embeddings_project.bias")
        for index in range(backbone.num_layers):
            self._port_layer(backbone, loader, index)
        if backbone.with_pooler:
            pooler = backbone.get_layer("pooler")
            port(pooler.kernel, "pooler.dense.weight", _transpose)
            port(pooler.bias, "pooler.dense.bias")
        else:
            loader.skip_prefix("pooler.")
        if backbone.with_mlm_head:
            self._port_mlm_head(backbone, loader)
        else:
            for prefix in self.family.mlm_prefixes:
                loader.skip_prefix(prefix)
        loader.commit(strict=strict)

    def _port_layer(
        self, backbone: Any, loader: WeightLoader, index: int
    ) -> None:
        port = loader.port_weight
        block = backbone.get_layer(f"transformer_layer_{index}")
        prefix = self.family.layer_name(index)
        for attribute, name in self.family.matrices:
            dense = getattr(block, attribute)
            port(dense.kernel, f"{prefix}.{name}.weight", _transpose)
            port(dense.bias, f"{prefix}.{name}.bias")
        for attribute, name in self.family.layer_norms:
            norm = getattr(block, attribute)
            port(norm.gamma, f"{prefix}.{name}.weight")
            port(norm.beta, f"{prefix}.{name}.bias")

    def _port_mlm_head(self, backbone: Any, loader: WeightLoader) -> None:
        port = loader.port_weight
        head = backbone.get_layer("mlm_head")
        names = self.family
        port(head.dense.kernel, f"{names.mlm_dense}.weight", _transpose)
        port(head.dense.bias, f"{names.mlm_dense}.bias")
        port(head.layer_norm.gamma, f"{names.mlm_layer_norm}.weight")
        port(head.layer_norm.beta, f"{names.mlm_layer_norm}.bias")
        bias = names.mlm_bias
        tied_bias = names.mlm_decoder.rsplit(".", 1)[0] + ".bias"
        if bias not in loader and tied_bias in loader:
            bias = tied_bias  # RoBERTa: `lm_head.bias` saved as the decoder's
        port(head.bias, bias)
        _check_tied_decoder(loader, names.mlm_decoder)


def _check_tied_decoder(loader: WeightLoader, name: str) -> None:
    """The decoder must be tied to the word embeddings (as in all BERTs)."""
    if name not in loader or "embeddings.word_embeddings.weight" not in loader:
        return
    decoder = loader.get(name)
    embeddings = loader.get("embeddings.word_embeddings.weight")
    if decoder.shape != embeddings.shape or not np.array_equal(
        decoder, embeddings
    ):
        raise ValueError(
            f"{loader.source}: {name!r} differs from the word embeddings; "
            "only checkpoints with a tied MLM decoder are supported."
        )


_CONVERTERS = {
    model_type: HFConverter(model_type) for model_type in MODEL_TYPES
}


def converter(model_type: str) -> HFConverter:
    """Returns the weight converter of a ``config.json`` `model_type`.

    Raises:
        ValueError: for a `model_type` not in `MODEL_TYPES` (named).
    """
    family(model_type)
    return _CONVERTERS[model_type]


def has_mlm_head(loader: WeightLoader) -> bool:
    """Whether a BERT checkpoint holds the pre-trained MLM head."""
    return _CONVERTERS["bert"].has_mlm_head(loader)


def has_pooler(loader: WeightLoader) -> bool:
    """Whether the checkpoint holds the pooler (BertForMaskedLM has none)."""
    return _CONVERTERS["bert"].has_pooler(loader)


def convert_weights(
    backbone: Any, loader: WeightLoader, *, strict: bool = False
) -> None:
    """Copies a Hugging Face BERT checkpoint into a built `BertBackbone`.

    See :meth:`HFConverter.convert_weights`.
    """
    _CONVERTERS["bert"].convert_weights(backbone, loader, strict=strict)
