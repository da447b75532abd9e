"""`BertMaskedLMHead`: BERT's masked-language-model head.

The frozen transform (dense, activation, LayerNorm) followed by a decoder
tied to the backbone's word embeddings, with one output bias per word
piece. SMP's label-word heads (:mod:`smp_keras.bert.heads`) read their
rows from it.
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

__all__ = ["BertMaskedLMHead"]


@keras.saving.register_keras_serializable(package="smp_keras")
class BertMaskedLMHead(keras.layers.Layer):
    """BERT's masked-language-model head, decoder tied to word embeddings.

    `logits = LayerNorm(act(h @ W_t + b_t)) @ E^T + b` where `E` is the word
    embedding matrix of `token_embedding` (shared, not copied). Sublayers:
    `dense` (to the embedding width), `layer_norm`; weight `bias`
    (vocabulary,). All frozen.

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
        self.activation = check_activation(activation)
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range
        self._activation_fn = activation_fn(activation)

    def build(self, inputs_shape: tuple) -> None:
        # The transform maps to the embedding width (ELECTRA's generator
        # has embeddings narrower than its encoder; for BERT they agree).
        self.dense = keras.layers.Dense(
            self.token_embedding.output_dim,
            kernel_initializer=truncated_normal(self.initializer_range),
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
        self.layer_norm.build(
            (*inputs_shape[:-1], self.token_embedding.output_dim)
        )
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
