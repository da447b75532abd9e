"""`BertEmbeddings`: BERT's input embeddings (word + segment + position).

The sum of the word, segment (token type) and learned position embeddings,
followed by LayerNorm (epsilon 1e-12, as Hugging Face's PyTorch `BertModel`)
and dropout. It is the first layer of :class:`~smp_keras.bert.BertBackbone`
and holds no prunable matrix: the backbone freezes it.

The other encoder families (``smp_keras.bert.convert_hf``) need three
options: RoBERTa's position ids (:func:`position_ids` with a
`position_padding_idx`), no token types (DistilBERT, `num_segments=0`) and
a projection from a narrower embedding width (ELECTRA, `embedding_dim`).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from smp_keras.bert.layer_utils import truncated_normal

__all__ = ["BertEmbeddings", "position_ids"]


def position_ids(token_ids: Any, padding_idx: int | None = None) -> Any:
    """The position id of every token, `(batch, length)` int32.

    With `padding_idx` None, BERT's `0 .. length - 1`. Otherwise RoBERTa's
    (transformers' `create_position_ids_from_input_ids`): the tokens that
    are not `padding_idx` are numbered from `padding_idx + 1` on, and the
    padding tokens get `padding_idx`. In `keras.ops` only, so the plain
    Keras export uses it too.

    Example:
        >>> ids = ops.convert_to_tensor([[0, 5, 6, 1, 1]], "int32")
        >>> ops.convert_to_numpy(position_ids(ids, padding_idx=1)).tolist()
        [[2, 3, 4, 1, 1]]
    """
    token_ids = ops.cast(token_ids, "int32")
    if padding_idx is None:
        return ops.cumsum(ops.ones_like(token_ids), axis=1) - 1
    keep = ops.cast(ops.not_equal(token_ids, padding_idx), "int32")
    return ops.cumsum(keep, axis=1) * keep + padding_idx


def position_offset(padding_idx: int | None) -> int:
    """How many position embeddings precede the first token's."""
    return 0 if padding_idx is None else padding_idx + 1


@keras.saving.register_keras_serializable(package="smp_keras")
class BertEmbeddings(keras.layers.Layer):
    """Word + segment + position embeddings, LayerNorm and dropout.

    Sublayers: `word_embeddings`, `token_type_embeddings` (None without
    segments), `position_embeddings` (`keras.layers.Embedding`),
    `layer_norm` and, when `embedding_dim` differs from `hidden_dim`,
    `embedding_projection` (`Dense` to `hidden_dim`, ELECTRA's
    ``embeddings_project``). Called as `layer(token_ids, segment_ids)`.

    Args:
        vocabulary_size: number of word pieces.
        hidden_dim: output width (the encoder's).
        max_sequence_length: number of position embeddings; longer inputs
            (counting the RoBERTa offset) raise a `ValueError`.
        num_segments: number of segment (token type) embeddings; 0 for
            none (DistilBERT), then `segment_ids` is ignored.
        dropout: dropout rate after the LayerNorm.
        layer_norm_epsilon: LayerNorm epsilon.
        initializer_range: stddev of the truncated-normal initializer.
        position_padding_idx: None for BERT's positions, or the padding
            token id for RoBERTa's (see ``position_ids`` in
            ``smp_keras.bert.embeddings``).
        embedding_dim: width of the embedding tables (ELECTRA's
            `embedding_size`), None for `hidden_dim`.
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
        position_padding_idx: int | None = None,
        embedding_dim: int | None = None,
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
        self.position_padding_idx = position_padding_idx
        self.embedding_dim = embedding_dim
        width = hidden_dim if embedding_dim is None else embedding_dim
        self.width = width
        if position_offset(position_padding_idx) >= max_sequence_length:
            raise ValueError(
                "`position_padding_idx` + 1 must be below "
                f"`max_sequence_length` ({max_sequence_length}). Received: "
                f"position_padding_idx={position_padding_idx!r}"
            )
        common = {"dtype": self.dtype_policy, "trainable": self.trainable}
        init = truncated_normal(initializer_range)
        self.word_embeddings = keras.layers.Embedding(
            vocabulary_size, width, init, name="word_embeddings", **common
        )
        self.token_type_embeddings = None
        if num_segments:
            self.token_type_embeddings = keras.layers.Embedding(
                num_segments,
                width,
                init,
                name="token_type_embeddings",
                **common,
            )
        self.position_embeddings = keras.layers.Embedding(
            max_sequence_length,
            width,
            init,
            name="position_embeddings",
            **common,
        )
        self.embedding_projection = None
        if width != hidden_dim:
            self.embedding_projection = keras.layers.Dense(
                hidden_dim,
                kernel_initializer=init,
                name="embedding_projection",
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
        if self.token_type_embeddings is not None:
            self.token_type_embeddings.build(token_ids_shape)
        self.position_embeddings.build((None,))
        self.layer_norm.build((*token_ids_shape, self.width))
        if self.embedding_projection is not None:
            self.embedding_projection.build((*token_ids_shape, self.width))
        self.built = True

    @property
    def max_input_length(self) -> int:
        """The longest input: the position embeddings after the offset."""
        offset = position_offset(self.position_padding_idx)
        return self.max_sequence_length - offset

    def call(
        self, token_ids: Any, segment_ids: Any, training: bool | None = None
    ) -> Any:
        length = ops.shape(token_ids)[1]
        limit = self.max_input_length
        if isinstance(length, int) and length > limit:
            raise ValueError(
                f"The input sequences have {length} tokens, more than the "
                f"model accepts ({limit}: `max_sequence_length` "
                f"{self.max_sequence_length} less the position offset). "
                f"Truncate them to at most {limit} tokens."
            )
        x = self.word_embeddings(token_ids)
        if self.num_segments == 1:
            # One token type (RoBERTa, XLM-R): every id is 0, so its row is
            # added without a lookup (a placeholder batch of ones, which
            # Keras's torch backend builds `fit` with, stays valid).
            table = ops.convert_to_tensor(self.token_type_embeddings.embeddings)
            x = x + ops.cast(table[0], x.dtype)
        elif self.token_type_embeddings is not None:
            x = x + self.token_type_embeddings(segment_ids)
        if self.position_padding_idx is None:
            table = ops.convert_to_tensor(self.position_embeddings.embeddings)
            x = x + ops.cast(table[:length], x.dtype)
        else:
            ids = position_ids(token_ids, self.position_padding_idx)
            x = x + ops.cast(self.position_embeddings(ids), x.dtype)
        x = self.dropout_layer(self.layer_norm(x), training=training)
        if self.embedding_projection is not None:
            x = self.embedding_projection(x)
        return x

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
            "position_padding_idx": self.position_padding_idx,
            "embedding_dim": self.embedding_dim,
        }
