"""`BertEmbeddings`: BERT's input embeddings (word + segment + position).

The sum of the word, segment (token type) and learned position embeddings,
followed by LayerNorm (epsilon 1e-12, as Hugging Face's PyTorch `BertModel`)
and dropout. It is the first layer of :class:`~smp_keras.bert.BertBackbone`
and holds no prunable matrix: the backbone freezes it.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from smp_keras.bert.layer_utils import truncated_normal

__all__ = ["BertEmbeddings"]


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
        init = truncated_normal(initializer_range)
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
