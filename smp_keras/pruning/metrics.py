"""Scoring a model on an encoded split with the task's metrics."""

from __future__ import annotations

from typing import Any

import numpy as np

from smp_keras.data import compute_metrics, postprocess_spans
from smp_keras.model_utils import masked_layers
from smp_keras.pruning.data import (
    Split,
    bucket_of,
    example_lengths,
    trim,
)
from smp_keras.pruning.distribute import predict

__all__ = ["density_of", "predict_split", "score_split"]

EVAL_BATCH_SIZE = 64


def predict_split(
    model: Any,
    inputs: dict[str, np.ndarray],
    batch_size: int = EVAL_BATCH_SIZE,
    buckets: tuple[int, ...] | None = None,
) -> Any:
    """`model`'s outputs on `inputs`, in input order.

    With `buckets` (see :func:`smp_keras.pruning.data.bucket_lengths`),
    the examples are grouped by the smallest bucket that holds them and
    each group is predicted with its inputs cut to that length: the same
    outputs up to float rounding (padding is masked), for fewer tokens.
    Models whose outputs have a sequence axis (span models) need
    `buckets=None`.
    """
    if not buckets:
        return predict(model, inputs, batch_size)
    lengths = example_lengths(inputs)
    groups = np.array([bucket_of(int(n), buckets) for n in lengths])
    outputs: np.ndarray | None = None
    for bucket in buckets:
        rows = np.flatnonzero(groups == bucket)
        if not len(rows):
            continue
        x = trim({k: v[rows] for k, v in inputs.items()}, bucket)
        part = np.asarray(predict(model, x, batch_size))
        if outputs is None:
            outputs = np.empty((len(lengths), *part.shape[1:]), part.dtype)
        outputs[rows] = part
    return outputs


def score_split(
    model: Any,
    spec: Any,
    split: Split,
    batch_size: int = EVAL_BATCH_SIZE,
    buckets: tuple[int, ...] | None = None,
) -> dict[str, float]:
    """The task's metrics of `model` on `split` (fractions in [0, 1]).

    Classification and regression read the logits / prediction; span tasks
    decode answers with :func:`smp_keras.data.postprocess_spans`.
    `buckets`: see :func:`predict_split` (ignored for span tasks).
    """
    if spec.kind == "span":
        buckets = None
    outputs = predict_split(model, split.inputs, batch_size, buckets)
    if spec.kind == "span":
        contexts = list(split.rows[spec.text_columns[1]][:])
        answers = postprocess_spans(
            np.asarray(outputs["start_logits"]),
            np.asarray(outputs["end_logits"]),
            split.features,
            contexts,
        )
        gold = list(split.rows[spec.label_column][:])
        return compute_metrics(spec, answers, gold)
    return compute_metrics(spec, np.asarray(outputs), split.targets)


def density_of(model: Any) -> dict[str, Any]:
    """`{"kept", "size", "density"}` of the model's current masks.

    Top-k and magnitude layers keep exactly `layer.kept` weights, so only
    threshold layers need their mask computed.
    """
    kept = size = 0
    for layer in masked_layers(model):
        size += layer.kernel_size
        if layer.pruning_method in ("topk", "magnitude"):
            kept += layer.kept
        else:
            kept += int(layer.mask().sum())
    return {"kept": kept, "size": size, "density": kept / size if size else 0.0}
