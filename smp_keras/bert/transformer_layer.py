"""`BertTransformerLayer`: one BERT encoder layer with prunable matrices.

A post-LayerNorm encoder layer (self-attention, then feed-forward, each
with a residual connection and LayerNorm) whose six weight matrices, named
by :data:`MATRIX_TYPES`, are :class:`~smp_keras.layers.MaskedDense` layers;
its LayerNorms are frozen. The numerics follow Hugging Face's PyTorch
`BertModel` (the test oracle): LayerNorm epsilon 1e-12, the exact (erf) GELU
by default, attention softmax in float32 and, like its default SDPA
attention, an all-zero context for an example whose keys are all padding.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from smp_keras.bert.layer_utils import (
    activation_fn,
    check_activation,
    truncated_normal,
)
from smp_keras.layers.masked_dense import MaskedDense
from smpcore import check_structure

__all__ = ["BertTransformerLayer", "MATRIX_TYPES"]

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
_MASK_PENALTY = -1e9  # added to the float32 scores of padded keys


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
        structure: N:M structure of every `MaskedDense` (``"2:4"`` or
            ``(2, 4)``; saved as ``"n:m"``), or None (unstructured). The
            masks start full (density 1) either way.
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
        structure: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.activation = check_activation(activation)
        self.pruning_method = pruning_method
        self.kernel_trainable = kernel_trainable
        self.initializer_range = initializer_range
        self.structure = None
        if structure is not None:
            self.structure = "{}:{}".format(*check_structure(structure))
        self._activation_fn = activation_fn(activation)
        self.supports_masking = False

    def _masked_dense(self, units: int, name: str) -> MaskedDense:
        layer = MaskedDense(
            units,
            pruning_method=self.pruning_method,
            kernel_trainable=self.kernel_trainable,
            kernel_initializer=truncated_normal(self.initializer_range),
            dtype=self.dtype_policy,
            matrix_type=name,
            structure=self.structure,
            density=1.0,  # full masks (an N:M layer would start at n/m)
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
            "structure": self.structure,
        }
