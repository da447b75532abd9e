"""`BertBackbone`: BERT in backend-agnostic Keras 3, with prunable matrices.

A functional Keras model that stacks :class:`BertEmbeddings`
(:mod:`smp_keras.bert.embeddings`), the encoder layers
:class:`BertTransformerLayer` (:mod:`smp_keras.bert.transformer_layer`), a
pooler and :class:`BertMaskedLMHead` (:mod:`smp_keras.bert.masked_lm_head`).
The six weight matrices of every encoder layer (query, key, value, attention
output, intermediate, output) are :class:`~smp_keras.layers.MaskedDense`
layers; everything else (embeddings, LayerNorms, pooler, MLM head) is frozen.
The numerics follow Hugging Face's PyTorch `BertModel` (the test oracle);
the layers' modules say how. A few options express the other encoder
families of ``smp_keras.bert.convert_hf`` (RoBERTa, XLM-RoBERTa,
DistilBERT, ELECTRA), whose numerics follow their own transformers classes.
"""

from __future__ import annotations

from typing import Any

import keras

from smp_keras.bert.convert_hf import family
from smp_keras.bert.embeddings import BertEmbeddings
from smp_keras.bert.layer_utils import check_activation, truncated_normal
from smp_keras.bert.masked_lm_head import BertMaskedLMHead
from smp_keras.bert.transformer_layer import BertTransformerLayer
from smp_keras.layers.masked_dense import MaskedDense

__all__ = ["BertBackbone"]


@keras.saving.register_keras_serializable(package="smp_keras")
class BertBackbone(keras.Model):
    """BERT encoder whose encoder matrices are pruned by learned masks.

    A functional Keras model (keras-hub layout) with dict inputs
    `token_ids`, `segment_ids`, `padding_mask` (each `(batch, length)`,
    integer) and dict outputs `sequence_output` `(batch, length, hidden)`,
    `pooled_output` `(batch, hidden)` (if `with_pooler`) and `mlm_logits`
    `(batch, length, vocabulary)` (if `with_mlm_head`).

    Layers: `embeddings` (:class:`BertEmbeddings`), `transformer_layer_{i}`
    (:class:`BertTransformerLayer`, whose `query`, `key`, `value`,
    `attention_output`, `intermediate`, `output` are
    :class:`~smp_keras.layers.MaskedDense`), `pooler` (tanh `Dense` on the
    first token), `mlm_head` (:class:`BertMaskedLMHead`). All pre-trained
    weights are frozen; by default only the mask scores train
    (`kernel_trainable=True` also trains the encoder kernels and biases, for
    movement pruning or fine-tuning baselines).

    Load pre-trained weights with :func:`smp_keras.bert.from_pretrained`.

    Args:
        vocabulary_size: number of word pieces.
        num_layers: number of encoder layers.
        num_heads: number of attention heads; must divide `hidden_dim`.
        hidden_dim: hidden width.
        intermediate_dim: feed-forward width.
        max_sequence_length: longest accepted input (position embeddings).
        num_segments: number of segment (token type) ids; 0 for none
            (DistilBERT: `segment_ids` is then ignored).
        dropout: dropout rate everywhere (embeddings, attention, residuals).
        layer_norm_epsilon: LayerNorm epsilon.
        activation: feed-forward activation, one of `ACTIVATIONS`; `"gelu"`
            is the exact (erf) GELU of BERT.
        with_mlm_head: whether to build the MLM head (`mlm_logits`).
        with_pooler: whether to build the pooler (`pooled_output`).
        pruning_method: mask method of every `MaskedDense`.
        kernel_trainable: whether encoder kernels and biases train too.
        initializer_range: stddev of the truncated-normal initializers.
        structure: N:M structure of every `MaskedDense` (e.g. ``"2:4"``),
            or None (unstructured); the masks start full either way.
        dtype: dtype or dtype policy of every layer.
        position_padding_idx: None for BERT's position ids, or RoBERTa's
            padding token id: positions then count from
            `position_padding_idx + 1` and skip padding tokens
            (``smp_keras.bert.embeddings.position_ids``).
        embedding_dim: width of the embedding tables when it differs from
            `hidden_dim` (ELECTRA: projected up to `hidden_dim`); None for
            `hidden_dim`. The MLM transform maps to this width.
        mlm_activation: activation of the MLM transform; None for
            `activation` (RoBERTa and ELECTRA always use `"gelu"`).
        model_type: the Hugging Face family the weights come from, one of
            `MODEL_TYPES` of ``smp_keras.bert.convert_hf``; it names
            the weights on export and in reference masks.
        **kwargs: `keras.Model` arguments (`name`, `trainable`).

    Example:
        >>> import numpy as np
        >>> backbone = BertBackbone(
        ...     vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=8,
        ...     intermediate_dim=12, max_sequence_length=16)
        >>> out = backbone({
        ...     "token_ids": np.ones((2, 5), "int32"),
        ...     "segment_ids": np.zeros((2, 5), "int32"),
        ...     "padding_mask": np.ones((2, 5), "int32")})
        >>> tuple(out["mlm_logits"].shape)
        (2, 5, 50)
    """

    def __init__(
        self,
        vocabulary_size: int,
        num_layers: int,
        num_heads: int,
        hidden_dim: int,
        intermediate_dim: int,
        max_sequence_length: int = 512,
        num_segments: int = 2,
        dropout: float = 0.1,
        layer_norm_epsilon: float = 1e-12,
        activation: str = "gelu",
        with_mlm_head: bool = True,
        with_pooler: bool = True,
        pruning_method: str = "topk",
        kernel_trainable: bool = False,
        initializer_range: float = 0.02,
        dtype: Any = None,
        structure: Any = None,
        position_padding_idx: int | None = None,
        embedding_dim: int | None = None,
        mlm_activation: str | None = None,
        model_type: str = "bert",
        **kwargs: Any,
    ) -> None:
        _check_sizes(
            vocabulary_size=vocabulary_size,
            num_layers=num_layers,
            num_heads=num_heads,
            hidden_dim=hidden_dim,
            intermediate_dim=intermediate_dim,
            max_sequence_length=max_sequence_length,
        )
        _check_sizes(minimum=0, num_segments=num_segments)
        if embedding_dim is not None:
            _check_sizes(embedding_dim=embedding_dim)
        if position_padding_idx is not None:
            _check_sizes(minimum=0, position_padding_idx=position_padding_idx)
        family(model_type)
        if hidden_dim % num_heads:
            raise ValueError(
                f"`num_heads` must divide `hidden_dim` ({hidden_dim}). "
                f"Received: num_heads={num_heads}"
            )
        check_activation(activation)
        mlm_activation = check_activation(mlm_activation or activation)
        # === Layers ===
        embeddings = BertEmbeddings(
            vocabulary_size,
            hidden_dim,
            max_sequence_length=max_sequence_length,
            num_segments=num_segments,
            dropout=dropout,
            layer_norm_epsilon=layer_norm_epsilon,
            initializer_range=initializer_range,
            position_padding_idx=position_padding_idx,
            embedding_dim=embedding_dim,
            trainable=False,
            dtype=dtype,
            name="embeddings",
        )
        transformer_layers = [
            BertTransformerLayer(
                num_heads,
                intermediate_dim,
                dropout=dropout,
                layer_norm_epsilon=layer_norm_epsilon,
                activation=activation,
                pruning_method=pruning_method,
                kernel_trainable=kernel_trainable,
                initializer_range=initializer_range,
                structure=structure,
                dtype=dtype,
                name=f"transformer_layer_{i}",
            )
            for i in range(num_layers)
        ]
        pooler = keras.layers.Dense(
            hidden_dim,
            activation="tanh",
            kernel_initializer=truncated_normal(initializer_range),
            trainable=False,
            dtype=dtype,
            name="pooler",
        )

        # === Functional Model ===
        inputs = {
            name: keras.Input(shape=(None,), dtype="int32", name=name)
            for name in ("token_ids", "segment_ids", "padding_mask")
        }
        x = embeddings(inputs["token_ids"], inputs["segment_ids"])
        for layer in transformer_layers:
            x = layer(x, padding_mask=inputs["padding_mask"])
        outputs = {"sequence_output": x}
        if with_pooler:
            outputs["pooled_output"] = pooler(x[:, 0, :])
        if with_mlm_head:
            mlm_head = BertMaskedLMHead(
                embeddings.word_embeddings,
                activation=mlm_activation,
                layer_norm_epsilon=layer_norm_epsilon,
                initializer_range=initializer_range,
                dtype=dtype,
                name="mlm_head",
            )
            outputs["mlm_logits"] = mlm_head(x)
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.max_sequence_length = max_sequence_length
        self.num_segments = num_segments
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.activation = activation
        self.with_mlm_head = with_mlm_head
        self.with_pooler = with_pooler
        self.pruning_method = pruning_method
        self.kernel_trainable = kernel_trainable
        self.initializer_range = initializer_range
        self.structure = transformer_layers[0].structure  # "n:m" or None
        self.position_padding_idx = position_padding_idx
        self.embedding_dim = embedding_dim
        self.mlm_activation = mlm_activation
        self.model_type = model_type

    @property
    def transformer_layers(self) -> list[BertTransformerLayer]:
        """The encoder layers, in order."""
        return [
            self.get_layer(f"transformer_layer_{i}")
            for i in range(self.num_layers)
        ]

    def masked_layers(self) -> list[MaskedDense]:
        """All prunable matrices: layer by layer, in `MATRIX_TYPES` order."""
        return [m for t in self.transformer_layers for m in t.masked_layers()]

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "vocabulary_size": self.vocabulary_size,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "hidden_dim": self.hidden_dim,
            "intermediate_dim": self.intermediate_dim,
            "max_sequence_length": self.max_sequence_length,
            "num_segments": self.num_segments,
            "dropout": self.dropout,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "activation": self.activation,
            "with_mlm_head": self.with_mlm_head,
            "with_pooler": self.with_pooler,
            "pruning_method": self.pruning_method,
            "kernel_trainable": self.kernel_trainable,
            "initializer_range": self.initializer_range,
            "structure": self.structure,
            "position_padding_idx": self.position_padding_idx,
            "embedding_dim": self.embedding_dim,
            "mlm_activation": self.mlm_activation,
            "model_type": self.model_type,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BertBackbone:
        return cls(**config)


def _check_sizes(minimum: int = 1, **sizes: Any) -> None:
    kind = "a positive" if minimum == 1 else "a non-negative"
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(
                f"`{name}` must be {kind} int. Received: {name}={value!r}"
            )
        if value < minimum:
            raise ValueError(
                f"`{name}` must be {kind} int. Received: {name}={value!r}"
            )
