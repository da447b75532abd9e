"""Scoring a model on an encoded split with the task's metrics."""

from __future__ import annotations

from typing import Any

import numpy as np

from smp_keras.data import compute_metrics, postprocess_spans
from smp_keras.model_utils import masked_layers
from smp_keras.pruning.data import Split
from smp_keras.pruning.distribute import predict

__all__ = ["density_of", "score_split"]

EVAL_BATCH_SIZE = 64


def score_split(
    model: Any, spec: Any, split: Split, batch_size: int = EVAL_BATCH_SIZE
) -> dict[str, float]:
    """The task's metrics of `model` on `split` (fractions in [0, 1]).

    Classification and regression read the logits / prediction; span tasks
    decode answers with :func:`smp_keras.data.postprocess_spans`.
    """
    outputs = predict(model, split.inputs, batch_size)
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
