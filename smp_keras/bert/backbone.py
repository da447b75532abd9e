"""`BertBackbone`: BERT in backend-agnostic Keras 3, with prunable matrices.

The six weight matrices of every encoder layer (query, key, value, attention
output, intermediate, output) are :class:`~smp_keras.layers.MaskedDense`
layers; everything else (embeddings, LayerNorms, pooler, MLM head) is frozen.
The numerics follow Hugging Face's PyTorch `BertModel` (the test oracle):
exact (erf) GELU, LayerNorm epsilon 1e-12, attention softmax in float32 and,
like its default SDPA attention, an all-zero context for an example whose
keys are all padding.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from smp_keras.layers.masked_dense import MaskedDense

__all__ = [
    "ACTIVATIONS",
    "activation_fn",
    "BertBackbone",
    "BertEmbeddings",
    "BertMaskedLMHead",
    "BertTransformerLayer",
    "MATRIX_TYPES",
]

#: Names of the prunable matrices of one encoder layer, in HF order; each
#: MaskedDense carries its name as `layer.matrix_type` (SMP-S groups by it).
MATRIX_TYPES = (
    "query",
    "key",
    "value",
    "attention_output",
    "intermediate",
    "output",
)
#: Supported feed-forward activations.
ACTIVATIONS = ("gelu", "gelu_approximate", "relu")
_MASK_PENALTY = -1e9  # added to the float32 scores of padded keys


def activation_fn(name: str) -> Any:
    """The `keras.ops` function of a feed-forward activation name.

    The one dispatch from `ACTIVATIONS` names to functions (the backbone
    and the plain-Keras export both use it).

    Raises:
        ValueError: For a name not in `ACTIVATIONS`.
    """
    name = _check_activation(name)
    if name == "relu":
        return ops.relu
    return lambda x: ops.gelu(x, approximate=name == "gelu_approximate")


def _check_activation(activation: str) -> str:
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"`activation` must be one of {ACTIVATIONS}. Received: "
            f"activation={activation!r}"
        )
    return activation


def _initializer(stddev: float) -> keras.initializers.Initializer:
    return keras.initializers.TruncatedNormal(stddev=stddev)


@keras.saving.register_keras_serializable(package="smp_keras")
class BertEmbeddings(keras.layers.Layer):
    """Word + segment + position embeddings, LayerNorm and dropout.

    Sublayers: `word_embeddings`, `token_type_embeddings`,
    `position_embeddings` (`keras.layers.Embedding`) and `layer_norm`. Called
    as `layer(token_ids, segment_ids)`.

    Args:
        vocabulary_size: number of word pieces.
        hidden_dim: embedding width.
        max_sequence_length: number of position embeddings; longer inputs
            raise a `ValueError`.
        num_segments: number of segment (token type) embeddings.
        dropout: dropout rate after the LayerNorm.
        layer_norm_epsilon: LayerNorm epsilon.
        initializer_range: stddev of the truncated-normal initializer.
        **kwargs: base layer arguments.
    """

    def __init__(
        self,
        vocabulary_size: int,
        hidden_dim: int,
        max_sequence_length: int = 512,
        num_segments: int = 2,
        dropout: float = 0.1,
        layer_norm_epsilon: float = 1e-12,
        initializer_range: float = 0.02,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.vocabulary_size = vocabulary_size
        self.hidden_dim = hidden_dim
        self.max_sequence_length = max_sequence_length
        self.num_segments = num_segments
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range
        common = {"dtype": self.dtype_policy, "trainable": self.trainable}
        init = _initializer(initializer_range)
        self.word_embeddings = keras.layers.Embedding(
            vocabulary_size, hidden_dim, init, name="word_embeddings", **common
        )
        self.token_type_embeddings = keras.layers.Embedding(
            num_segments,
            hidden_dim,
            init,
            name="token_type_embeddings",
            **common,
        )
        self.position_embeddings = keras.layers.Embedding(
            max_sequence_length,
            hidden_dim,
            init,
            name="position_embeddings",
            **common,
        )
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, name="layer_norm", **common
        )
        self.dropout_layer = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="dropout"
        )

    def build(
        self, token_ids_shape: tuple, segment_ids_shape: tuple | None = None
    ) -> None:
        self.word_embeddings.build(token_ids_shape)
        self.token_type_embeddings.build(token_ids_shape)
        self.position_embeddings.build((None,))
        self.layer_norm.build((*token_ids_shape, self.hidden_dim))
        self.built = True

    def call(
        self, token_ids: Any, segment_ids: Any, training: bool | None = None
    ) -> Any:
        length = ops.shape(token_ids)[1]
        if isinstance(length, int) and length > self.max_sequence_length:
            raise ValueError(
                f"The input sequences have {length} tokens, more than the "
                f"model's `max_sequence_length` ({self.max_sequence_length}). "
                f"Truncate them to at most {self.max_sequence_length} tokens."
            )
        x = self.word_embeddings(token_ids)
        x = x + self.token_type_embeddings(segment_ids)
        positions = ops.convert_to_tensor(self.position_embeddings.embeddings)
        x = x + ops.cast(positions[:length], x.dtype)
        x = self.layer_norm(x)
        return self.dropout_layer(x, training=training)

    def compute_output_shape(
        self, token_ids_shape: tuple, segment_ids_shape: tuple | None = None
    ) -> tuple:
        return (*token_ids_shape, self.hidden_dim)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "hidden_dim": self.hidden_dim,
            "max_sequence_length": self.max_sequence_length,
            "num_segments": self.num_segments,
            "dropout": self.dropout,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "initializer_range": self.initializer_range,
        }


@keras.saving.register_keras_serializable(package="smp_keras")
class BertTransformerLayer(keras.layers.Layer):
    """One post-LayerNorm BERT encoder layer with prunable matrices.

    Sublayers (attribute: layer name): `query_dense`: `query`, `key_dense`:
    `key`, `value_dense`: `value`, `attention_output_dense`:
    `attention_output`, `intermediate_dense`: `intermediate`, `output_dense`:
    `output` (:class:`~smp_keras.layers.MaskedDense`, each with
    `matrix_type` set to its layer name) and the frozen
    `attention_layer_norm`, `output_layer_norm`. Called as
    `layer(x, padding_mask=mask)`.

    Attention scores are computed in float32; padded keys get -1e9 added
    before the softmax, and an example with no valid key gets a zero
    context (as PyTorch's scaled-dot-product attention returns).

    Args:
        num_heads: number of attention heads; must divide the input width.
        intermediate_dim: width of the feed-forward layer.
        dropout: dropout rate (attention probabilities and residual
            branches).
        layer_norm_epsilon: LayerNorm epsilon.
        activation: feed-forward activation, one of `ACTIVATIONS`.
        pruning_method: passed to every `MaskedDense`.
        kernel_trainable: whether the pre-trained kernels and biases train.
        initializer_range: stddev of the truncated-normal kernel initializer.
        **kwargs: base layer arguments.
    """

    def __init__(
        self,
        num_heads: int,
        intermediate_dim: int,
        dropout: float = 0.1,
        layer_norm_epsilon: float = 1e-12,
        activation: str = "gelu",
        pruning_method: str = "topk",
        kernel_trainable: bool = False,
        initializer_range: float = 0.02,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.activation = _check_activation(activation)
        self.pruning_method = pruning_method
        self.kernel_trainable = kernel_trainable
        self.initializer_range = initializer_range
        self._activation_fn = activation_fn(activation)
        self.supports_masking = False

    def _masked_dense(self, units: int, name: str) -> MaskedDense:
        layer = MaskedDense(
            units,
            pruning_method=self.pruning_method,
            kernel_trainable=self.kernel_trainable,
            kernel_initializer=_initializer(self.initializer_range),
            dtype=self.dtype_policy,
            matrix_type=name,
            name=name,
        )
        return layer

    def _layer_norm(self, name: str) -> keras.layers.LayerNormalization:
        return keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon,
            dtype=self.dtype_policy,
            trainable=False,
            name=name,
        )

    def build(
        self, inputs_shape: tuple, padding_mask_shape: tuple | None = None
    ) -> None:
        hidden_dim = int(inputs_shape[-1])
        if hidden_dim % self.num_heads:
            raise ValueError(
                f"`num_heads` must divide the hidden width {hidden_dim}. "
                f"Received: num_heads={self.num_heads}"
            )
        self.head_dim = hidden_dim // self.num_heads
        hidden_shape = (None, None, hidden_dim)
        for name in ("query", "key", "value", "attention_output"):
            layer = self._masked_dense(hidden_dim, name)
            layer.build(hidden_shape)
            setattr(self, f"{name}_dense", layer)
        self.intermediate_dense = self._masked_dense(
            self.intermediate_dim, "intermediate"
        )
        self.intermediate_dense.build(hidden_shape)
        self.output_dense = self._masked_dense(hidden_dim, "output")
        self.output_dense.build((None, None, self.intermediate_dim))
        self.attention_layer_norm = self._layer_norm("attention_layer_norm")
        self.attention_layer_norm.build(hidden_shape)
        self.output_layer_norm = self._layer_norm("output_layer_norm")
        self.output_layer_norm.build(hidden_shape)
        self.attention_dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="attention_dropout"
        )
        self.residual_dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="residual_dropout"
        )
        self.built = True

    def masked_layers(self) -> list[MaskedDense]:
        """The six prunable matrices, in `MATRIX_TYPES` order."""
        return [getattr(self, f"{name}_dense") for name in MATRIX_TYPES]

    def _split_heads(self, x: Any) -> Any:
        """(batch, length, hidden) -> (batch, heads, length, head_dim)."""
        x = ops.reshape(x, (ops.shape(x)[0], -1, self.num_heads, self.head_dim))
        return ops.transpose(x, (0, 2, 1, 3))

    def _attend(self, x: Any, padding_mask: Any, training: bool | None) -> Any:
        query = self._split_heads(self.query_dense(x))
        key = self._split_heads(self.key_dense(x))
        value = self._split_heads(self.value_dense(x))
        scores = ops.matmul(query, ops.transpose(key, (0, 1, 3, 2)))
        scores = ops.cast(scores, "float32") * (self.head_dim**-0.5)
        if padding_mask is not None:
            keep = ops.cast(padding_mask, "float32")[:, None, None, :]
            scores = scores + (1.0 - keep) * _MASK_PENALTY
        probs = ops.softmax(scores, axis=-1)
        probs = self.attention_dropout(
            ops.cast(probs, value.dtype), training=training
        )
        context = ops.matmul(probs, value)
        if padding_mask is not None:
            # An example without any valid key attends to nothing (SDPA).
            any_key = ops.max(keep, axis=-1, keepdims=True)
            context = context * ops.cast(any_key, context.dtype)
        context = ops.transpose(context, (0, 2, 1, 3))
        hidden_dim = self.num_heads * self.head_dim
        return ops.reshape(context, (ops.shape(x)[0], -1, hidden_dim))

    def call(
        self,
        inputs: Any,
        padding_mask: Any = None,
        training: bool | None = None,
    ) -> Any:
        context = self._attend(inputs, padding_mask, training)
        attended = self.residual_dropout(
            self.attention_output_dense(context), training=training
        )
        x = self.attention_layer_norm(attended + inputs)
        hidden = self._activation_fn(self.intermediate_dense(x))
        y = self.residual_dropout(self.output_dense(hidden), training=training)
        return self.output_layer_norm(y + x)

    def compute_output_shape(
        self, inputs_shape: tuple, padding_mask_shape: tuple | None = None
    ) -> tuple:
        return tuple(inputs_shape)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "activation": self.activation,
            "pruning_method": self.pruning_method,
            "kernel_trainable": self.kernel_trainable,
            "initializer_range": self.initializer_range,
        }


@keras.saving.register_keras_serializable(package="smp_keras")
class BertMaskedLMHead(keras.layers.Layer):
    """BERT's masked-language-model head, decoder tied to word embeddings.

    `logits = LayerNorm(act(h @ W_t + b_t)) @ E^T + b` where `E` is the word
    embedding matrix of `token_embedding` (shared, not copied). Sublayers:
    `dense`, `layer_norm`; weight `bias` (vocabulary,). All frozen.

    Args:
        token_embedding: the `keras.layers.Embedding` whose matrix is the
            decoder. Not serialized: the owning backbone rebuilds the tie.
        activation: one of `ACTIVATIONS`.
        layer_norm_epsilon: LayerNorm epsilon.
        initializer_range: stddev of the truncated-normal initializer.
        **kwargs: base layer arguments.
    """

    def __init__(
        self,
        token_embedding: keras.layers.Embedding | None = None,
        activation: str = "gelu",
        layer_norm_epsilon: float = 1e-12,
        initializer_range: float = 0.02,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        if not isinstance(token_embedding, keras.layers.Embedding):
            raise TypeError(
                "`token_embedding` must be the backbone's word "
                "keras.layers.Embedding. Received: token_embedding="
                f"{token_embedding!r}"
            )
        self.token_embedding = token_embedding
        self.activation = _check_activation(activation)
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range
        self._activation_fn = activation_fn(activation)

    def build(self, inputs_shape: tuple) -> None:
        hidden_dim = int(inputs_shape[-1])
        self.dense = keras.layers.Dense(
            hidden_dim,
            kernel_initializer=_initializer(self.initializer_range),
            dtype=self.dtype_policy,
            trainable=False,
            name="dense",
        )
        self.dense.build(inputs_shape)
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon,
            dtype=self.dtype_policy,
            trainable=False,
            name="layer_norm",
        )
        self.layer_norm.build(inputs_shape)
        self.bias = self.add_weight(
            name="bias",
            shape=(self.token_embedding.input_dim,),
            initializer="zeros",
            trainable=False,
        )
        self.built = True

    def transform(self, inputs: Any) -> Any:
        """The transform (dense, activation, LayerNorm) before the decoder."""
        return self.layer_norm(self._activation_fn(self.dense(inputs)))

    def call(self, inputs: Any) -> Any:
        embeddings = ops.cast(self.token_embedding.embeddings, inputs.dtype)
        logits = ops.matmul(self.transform(inputs), ops.transpose(embeddings))
        return logits + ops.cast(self.bias, logits.dtype)

    def compute_output_shape(self, inputs_shape: tuple) -> tuple:
        return (*inputs_shape[:-1], self.token_embedding.input_dim)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "activation": self.activation,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "initializer_range": self.initializer_range,
        }


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
        num_segments: number of segment (token type) ids.
        dropout: dropout rate everywhere (embeddings, attention, residuals).
        layer_norm_epsilon: LayerNorm epsilon.
        activation: feed-forward activation, one of `ACTIVATIONS`; `"gelu"`
            is the exact (erf) GELU of BERT.
        with_mlm_head: whether to build the MLM head (`mlm_logits`).
        with_pooler: whether to build the pooler (`pooled_output`).
        pruning_method: mask method of every `MaskedDense`.
        kernel_trainable: whether encoder kernels and biases train too.
        initializer_range: stddev of the truncated-normal initializers.
        dtype: dtype or dtype policy of every layer.
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
        **kwargs: Any,
    ) -> None:
        _check_sizes(
            vocabulary_size=vocabulary_size,
            num_layers=num_layers,
            num_heads=num_heads,
            hidden_dim=hidden_dim,
            intermediate_dim=intermediate_dim,
            max_sequence_length=max_sequence_length,
            num_segments=num_segments,
        )
        if hidden_dim % num_heads:
            raise ValueError(
                f"`num_heads` must divide `hidden_dim` ({hidden_dim}). "
                f"Received: num_heads={num_heads}"
            )
        _check_activation(activation)
        # === Layers ===
        embeddings = BertEmbeddings(
            vocabulary_size,
            hidden_dim,
            max_sequence_length=max_sequence_length,
            num_segments=num_segments,
            dropout=dropout,
            layer_norm_epsilon=layer_norm_epsilon,
            initializer_range=initializer_range,
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
                dtype=dtype,
                name=f"transformer_layer_{i}",
            )
            for i in range(num_layers)
        ]
        pooler = keras.layers.Dense(
            hidden_dim,
            activation="tanh",
            kernel_initializer=_initializer(initializer_range),
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
                activation=activation,
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
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BertBackbone:
        return cls(**config)


def _check_sizes(**sizes: Any) -> None:
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(
                f"`{name}` must be a positive int. Received: {name}={value!r}"
            )
        if value <= 0:
            raise ValueError(
                f"`{name}` must be a positive int. Received: {name}={value!r}"
            )
