"""Label-word heads: task outputs from the frozen pre-trained MLM head.

SMP trains no task head (paper, section 3.3). A class is read from the MLM
logit of one **label word** (e.g. "great"/"terrible"), taken at the
``[MASK]`` position of a prompt, or at ``[CLS]``: the frozen MLM transform
(dense, GELU, LayerNorm) followed by the label-word rows of the tied decoder
and their output biases (:func:`smpcore.mlm_label_head`). For checkpoints
without an MLM head (all-MiniLM-L6-v2) the rows of the word embeddings are
used instead (:func:`smpcore.embedding_label_head`), which carries little
zero-shot signal and warns.

- :func:`build_classifier`: classification (one logit per label word) or
  regression (one label word: its logit is the prediction, STS-B).
- :func:`build_span_classifier`: SQuAD start/end logits at every token from
  two label words.

Every head weight is frozen: the models' trainable weights are the mask
scores of the backbone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

import smpcore
from smp_keras.bert.backbone import BertBackbone
from smp_keras.bert.layer_utils import check_activation

__all__ = [
    "HEADS",
    "LabelWordHead",
    "MaskedMeanPooling",
    "POOLINGS",
    "POSITIONS",
    "PositionGather",
    "build_classifier",
    "build_span_classifier",
    "masked_mean",
]

HEADS = ("auto", "mlm", "embeddings")
POSITIONS = ("mask", "cls")
POOLINGS = ("token", "mean")


@keras.saving.register_keras_serializable(package="smp_keras")
class LabelWordHead(keras.layers.Layer):
    """Frozen label-word head: optional MLM transform, then label rows.

    `logits = logit_scale * (T(h) @ kernel + bias)`, where `T` is the MLM
    transform `LayerNorm(act(h @ W + b))` (if `use_transform`) and
    `kernel`/`bias` are the label-word rows of the decoder. Accepts inputs
    of any rank `(..., hidden)`. Fill it with :meth:`from_backbone`.

    Args:
        num_labels: number of label words (output width).
        use_transform: whether to apply the MLM transform first.
        activation: transform activation, one of `ACTIVATIONS`.
        layer_norm_epsilon: transform LayerNorm epsilon.
        logit_scale: fixed factor multiplying the logits.
        label_ids: the label words' vocabulary ids (kept for reference).
        transform_dim: output width of the transform, None for the input
            width (ELECTRA's generator maps to its narrower embeddings).
        **kwargs: base layer arguments.
    """

    def __init__(
        self,
        num_labels: int,
        use_transform: bool = True,
        activation: str = "gelu",
        layer_norm_epsilon: float = 1e-12,
        logit_scale: float = 1.0,
        label_ids: Sequence[int] | None = None,
        transform_dim: int | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs["trainable"] = False
        super().__init__(**kwargs)
        self.activation = check_activation(activation)
        self.num_labels = int(num_labels)
        self.use_transform = bool(use_transform)
        self.layer_norm_epsilon = layer_norm_epsilon
        self.logit_scale = float(logit_scale)
        self.label_ids = (
            None if label_ids is None else [int(i) for i in label_ids]
        )
        self.transform_dim = (
            None if transform_dim is None else int(transform_dim)
        )

    def build(self, inputs_shape: tuple) -> None:
        hidden_dim = int(inputs_shape[-1])
        width = hidden_dim
        if self.use_transform:
            width = self.transform_dim or hidden_dim
            self.dense = keras.layers.Dense(
                width, trainable=False, name="dense"
            )
            self.dense.build((None, hidden_dim))
            self.layer_norm = keras.layers.LayerNormalization(
                epsilon=self.layer_norm_epsilon,
                trainable=False,
                name="layer_norm",
            )
            self.layer_norm.build((None, width))
        self.kernel = self.add_weight(
            name="kernel",
            shape=(width, self.num_labels),
            initializer="zeros",
            trainable=False,
        )
        self.bias = self.add_weight(
            name="bias",
            shape=(self.num_labels,),
            initializer="zeros",
            trainable=False,
        )
        self.built = True

    def call(self, inputs: Any) -> Any:
        x = inputs
        if self.use_transform:
            x = self.dense(x)
            if self.activation == "relu":
                x = ops.relu(x)
            else:
                approximate = self.activation == "gelu_approximate"
                x = ops.gelu(x, approximate=approximate)
            x = self.layer_norm(x)
        logits = ops.matmul(x, self.kernel) + self.bias
        return logits * self.logit_scale if self.logit_scale != 1.0 else logits

    def compute_output_shape(self, inputs_shape: tuple) -> tuple:
        return (*inputs_shape[:-1], self.num_labels)

    @classmethod
    def from_backbone(
        cls,
        backbone: BertBackbone,
        label_ids: Sequence[int],
        *,
        head: str = "auto",
        logit_scale: float = 1.0,
        name: str = "label_word_head",
    ) -> LabelWordHead:
        """Builds the head from a loaded backbone's frozen weights.

        Args:
            backbone: a loaded :class:`BertBackbone`.
            label_ids: vocabulary id of each label word (see
                :func:`smpcore.label_word_ids`).
            head: `"mlm"` (pre-trained MLM head; the backbone must have
                one), `"embeddings"` (word-embedding rows, no transform, zero
                bias) or `"auto"` (MLM if available, else embeddings with a
                warning).
            logit_scale: fixed factor multiplying the logits.
            name: layer name.

        Raises:
            ValueError: for an unknown `head`, `head="mlm"` without an MLM
                head, an embeddings head on embeddings narrower than the
                encoder (ELECTRA), or label ids out of the vocabulary.
        """
        head = _resolve_head(backbone, head)
        embeddings = ops.convert_to_numpy(
            backbone.get_layer("embeddings").word_embeddings.embeddings
        )
        width = int(embeddings.shape[1])
        if head != "mlm" and width != backbone.hidden_dim:
            raise ValueError(
                f"`head={head!r}` reads word-embedding rows of width {width} "
                f"against hidden states of width {backbone.hidden_dim} "
                "(embeddings projected up, as in ELECTRA); use a checkpoint "
                "with an MLM head (head='mlm') or a prototype head."
            )
        layer = cls(
            len(label_ids),
            use_transform=head == "mlm",
            activation=backbone.mlm_activation,
            layer_norm_epsilon=backbone.layer_norm_epsilon,
            logit_scale=logit_scale,
            label_ids=label_ids,
            transform_dim=width if width != backbone.hidden_dim else None,
            name=name,
        )
        layer.build((None, backbone.hidden_dim))
        if head == "mlm":
            mlm = backbone.get_layer("mlm_head")
            kernel, bias = smpcore.mlm_label_head(
                embeddings, ops.convert_to_numpy(mlm.bias), label_ids
            )
            layer.dense.set_weights(mlm.dense.get_weights())
            layer.layer_norm.set_weights(mlm.layer_norm.get_weights())
        else:
            kernel, bias = smpcore.embedding_label_head(
                embeddings, label_ids, warn=head != "embeddings"
            )
        layer.kernel.assign(kernel)
        layer.bias.assign(bias)
        return layer

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.pop("trainable", None)
        return {
            **config,
            "num_labels": self.num_labels,
            "use_transform": self.use_transform,
            "activation": self.activation,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "logit_scale": self.logit_scale,
            "label_ids": self.label_ids,
            "transform_dim": self.transform_dim,
        }


def _resolve_head(backbone: BertBackbone, head: str) -> str:
    if head not in HEADS:
        raise ValueError(
            f"`head` must be one of {HEADS}. Received: head={head!r}"
        )
    if head == "mlm" and not backbone.with_mlm_head:
        raise ValueError(
            "`head='mlm'` needs a backbone with an MLM head, but this "
            "checkpoint has none. Use head='embeddings' (or 'auto')."
        )
    if head == "auto":
        return "mlm" if backbone.with_mlm_head else "auto-embeddings"
    return head


@keras.saving.register_keras_serializable(package="smp_keras")
class PositionGather(keras.layers.Layer):
    """Picks one hidden state per example: `sequence[b, positions[b]]`.

    Called as `layer(sequence, positions)` with `sequence`
    `(batch, length, hidden)` and integer `positions` `(batch,)`.
    """

    def call(self, sequence: Any, positions: Any) -> Any:
        shape = ops.shape(sequence)
        flat = ops.reshape(sequence, (-1, shape[-1]))
        positions = ops.cast(positions, "int32")
        rows = ops.arange(ops.shape(positions)[0], dtype="int32")
        return ops.take(flat, rows * shape[1] + positions, axis=0)

    def compute_output_shape(
        self, sequence_shape: tuple, positions_shape: tuple
    ) -> tuple:
        return (sequence_shape[0], sequence_shape[-1])


def masked_mean(sequence: Any, padding_mask: Any) -> Any:
    """Mean of `sequence` `(batch, length, hidden)` over the tokens where
    `padding_mask` `(batch, length)` is set; zeros for an example without
    any. The one masked-mean pooling (:class:`MaskedMeanPooling`, the
    prototypes, the plain-Keras export), in `keras.ops`.

    Example:
        >>> x = ops.convert_to_tensor([[[1.0], [3.0], [9.0]]], "float32")
        >>> mask = ops.convert_to_tensor([[1, 1, 0]], "int32")
        >>> ops.convert_to_numpy(masked_mean(x, mask)).tolist()
        [[2.0]]
    """
    weights = ops.expand_dims(ops.cast(padding_mask, sequence.dtype), -1)
    total = ops.sum(sequence * weights, axis=1)
    return total / ops.maximum(ops.sum(weights, axis=1), 1.0)


@keras.saving.register_keras_serializable(package="smp_keras")
class MaskedMeanPooling(keras.layers.Layer):
    """Mean of the hidden states over non-padding tokens.

    Called as `layer(sequence, padding_mask)`; an example without any valid
    token gets zeros. This is the pooling all-MiniLM-L6-v2 was trained with.
    """

    def call(self, sequence: Any, padding_mask: Any) -> Any:
        return masked_mean(sequence, padding_mask)

    def compute_output_shape(
        self, sequence_shape: tuple, padding_mask_shape: tuple
    ) -> tuple:
        return (sequence_shape[0], sequence_shape[-1])


def _inputs(with_positions: bool) -> dict[str, Any]:
    names = ["token_ids", "segment_ids", "padding_mask"]
    inputs = {
        name: keras.Input(shape=(None,), dtype="int32", name=name)
        for name in names
    }
    if with_positions:
        inputs["mask_positions"] = keras.Input(
            shape=(), dtype="int32", name="mask_positions"
        )
    return inputs


def _check_choice(value: str, name: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(
            f"`{name}` must be one of {choices}. Received: {name}={value!r}"
        )


def build_classifier(
    backbone: BertBackbone,
    label_ids: Sequence[int],
    *,
    head: str = "auto",
    position: str = "mask",
    pooling: str = "token",
    logit_scale: float = 1.0,
    name: str = "bert_classifier",
) -> keras.Model:
    """A classifier (or regressor) reading label-word logits.

    The model's inputs are the backbone's (`token_ids`, `segment_ids`,
    `padding_mask`) plus `mask_positions` `(batch,)` int: the index of the
    `[MASK]` token of each example (0 = `[CLS]`). It is always an input, so
    data pipelines need not depend on the options; it is only read with
    `position="mask"` and `pooling="token"`. The output is
    `(batch, len(label_ids))` logits; with one label id it is the
    regression prediction `(batch, 1)`.

    Args:
        backbone: a loaded :class:`BertBackbone` (shared, not copied).
        label_ids: vocabulary id of each class's label word, in class order
            (:func:`smpcore.label_word_ids` maps words to ids and rejects
            words that are not a single token).
        head: `"auto"`, `"mlm"` or `"embeddings"` (see
            :meth:`LabelWordHead.from_backbone`).
        position: `"mask"` (hidden state at `mask_positions`) or `"cls"`
            (position 0), with `pooling="token"`.
        pooling: `"token"` (one position) or `"mean"` (masked mean over the
            non-padding tokens, ignoring `position`).
        logit_scale: fixed factor multiplying the logits.
        name: model name.

    Returns:
        A functional `keras.Model` whose only trainable weights are the
        backbone's mask scores.

    Raises:
        ValueError: for an unknown option, `head="mlm"` without an MLM head,
            or label ids out of the vocabulary.

    Example:
        >>> import numpy as np
        >>> backbone = BertBackbone(
        ...     vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=8,
        ...     intermediate_dim=12, max_sequence_length=16)
        >>> model = build_classifier(backbone, [7, 9])
        >>> out = model({
        ...     "token_ids": np.ones((2, 5), "int32"),
        ...     "segment_ids": np.zeros((2, 5), "int32"),
        ...     "padding_mask": np.ones((2, 5), "int32"),
        ...     "mask_positions": np.array([3, 0], "int32")})
        >>> tuple(out.shape)
        (2, 2)
    """
    _check_choice(position, "position", POSITIONS)
    _check_choice(pooling, "pooling", POOLINGS)
    label_head = LabelWordHead.from_backbone(
        backbone, _checked_ids(label_ids), head=head, logit_scale=logit_scale
    )
    return _pooled_model(backbone, label_head, pooling, position, name)


def build_span_classifier(
    backbone: BertBackbone,
    label_ids: Sequence[int],
    *,
    head: str = "auto",
    logit_scale: float = 1.0,
    name: str = "bert_span_classifier",
) -> keras.Model:
    """Extractive QA (SQuAD) head: start/end logits at every token.

    The label-word head is applied at every position; the logit of the
    first label word is the start logit, that of the second the end logit.
    Padding positions are not masked (mask them in the loss or decoding).

    Args:
        backbone: a loaded :class:`BertBackbone`.
        label_ids: two vocabulary ids (start word, end word).
        head: `"auto"`, `"mlm"` or `"embeddings"`.
        logit_scale: fixed factor multiplying the logits.
        name: model name.

    Returns:
        A functional `keras.Model` with the backbone's inputs and outputs
        `{"start_logits": (batch, length), "end_logits": (batch, length)}`.

    Raises:
        ValueError: if `label_ids` does not hold exactly two ids, or as
            :func:`build_classifier`.
    """
    ids = _checked_ids(label_ids)
    if len(ids) != 2:
        raise ValueError(
            "`label_ids` must hold two ids (start word, end word). Received: "
            f"label_ids={label_ids!r}"
        )
    label_head = LabelWordHead.from_backbone(
        backbone, ids, head=head, logit_scale=logit_scale
    )
    inputs = _inputs(with_positions=False)
    logits = label_head(_sequence_output(backbone, inputs))
    outputs = {"start_logits": logits[..., 0], "end_logits": logits[..., 1]}
    return keras.Model(inputs, outputs, name=name)


def _pooled_model(
    backbone: BertBackbone, head: Any, pooling: str, position: str, name: str
) -> keras.Model:
    """The classifier `head(pool(backbone(inputs)))` as a functional model:
    `pooling="mean"` (masked mean), else the `position` token."""
    inputs = _inputs(with_positions=True)
    sequence = _sequence_output(backbone, inputs)
    if pooling == "mean":
        pooled = MaskedMeanPooling(name="mean_pooling")(
            sequence, inputs["padding_mask"]
        )
    elif position == "cls":
        pooled = sequence[:, 0, :]
    else:
        pooled = PositionGather(name="mask_gather")(
            sequence, inputs["mask_positions"]
        )
    return keras.Model(inputs, head(pooled), name=name)


def _sequence_output(backbone: BertBackbone, inputs: dict[str, Any]) -> Any:
    if not isinstance(backbone, BertBackbone):
        raise TypeError(
            "`backbone` must be a smp_keras.bert.BertBackbone. Received: "
            f"backbone of type {type(backbone).__name__}"
        )
    features = {
        k: inputs[k] for k in ("token_ids", "segment_ids", "padding_mask")
    }
    return backbone(features)["sequence_output"]


def _checked_ids(label_ids: Any) -> list[int]:
    ids = np.asarray(label_ids)
    if (
        ids.ndim != 1
        or ids.size == 0
        or not np.issubdtype(ids.dtype, np.integer)
    ):
        raise TypeError(
            "`label_ids` must be a non-empty 1-D sequence of ints (map words "
            "with smpcore.label_word_ids). Received: "
            f"label_ids={label_ids!r}"
        )
    return [int(i) for i in ids]
