"""Knowledge distillation for the pruning job (paper, section 4).

The teacher (a fine-tuned dense model) is frozen and, with dropout off,
deterministic, so its logits are computed once for every training row the
run will visit and packed into the targets: the loss is then exactly that
of online distillation (:func:`smp_keras.make_distiller`) without a
teacher forward pass per step, and a resumed run needs no teacher state.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import keras
import numpy as np
from keras import ops

from smp_keras.pruning import run_dir as rd
from smp_keras.pruning.config import KD_ALPHA, KD_TEMPERATURE, PruneConfig
from smp_keras.pruning.data import Split, batch_indices, select
from smp_keras.pruning.distribute import predict
from smp_keras.pruning.model import build_run_model

__all__ = ["DistillationLoss", "packed_accuracy", "teacher_logits"]


@keras.saving.register_keras_serializable(package="smp_keras")
class DistillationLoss(keras.losses.Loss):
    """`α · CE(y, z_s) + (1 - α) · T² · KL(softmax(z_t/T) ‖ softmax(z_s/T))`.

    `y_true` packs the label and the teacher's logits: `(batch, 1 + C)`,
    column 0 the label id, columns 1.. the teacher logits (precomputed: the
    teacher is frozen and deterministic, so this equals online
    distillation at a fraction of the cost). The formula is that of
    :func:`smp_keras.make_distiller` (paper: `T = 2`, `α = 0.5`).

    Example:
        >>> y = np.array([[1.0, 0.0, 0.0]], "float32")
        >>> z = np.array([[0.0, 0.0]], "float32")
        >>> round(float(DistillationLoss()(y, z)), 4)  # 0.5 · ln 2
        0.3466
    """

    def __init__(
        self,
        temperature: float = KD_TEMPERATURE,
        alpha: float = KD_ALPHA,
        name: str = "distillation",
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.temperature = float(temperature)
        self.alpha = float(alpha)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.cast(y_pred, "float32")
        labels = ops.cast(y_true[:, 0], "int32")
        ce = keras.losses.sparse_categorical_crossentropy(
            labels, y_pred, from_logits=True
        )
        t = self.temperature
        teacher = ops.softmax(y_true[:, 1:] / t, axis=-1)
        log_teacher = ops.log_softmax(y_true[:, 1:] / t, axis=-1)
        log_student = ops.log_softmax(y_pred / t, axis=-1)
        kl = ops.sum(teacher * (log_teacher - log_student), axis=-1)
        return self.alpha * ce + (1.0 - self.alpha) * t * t * kl

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "temperature": self.temperature,
            "alpha": self.alpha,
        }


def packed_accuracy(y_true: Any, y_pred: Any) -> Any:
    """Accuracy when `y_true` packs the label in column 0 (distillation)."""
    labels = ops.cast(y_true[:, 0], "int32")
    predicted = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
    return ops.cast(ops.equal(labels, predicted), "float32")


def teacher_logits(
    config: PruneConfig, tokenizer: Any, spec: Any, train: Split, total: int
) -> np.ndarray:
    """The teacher's logits on every training row the run will visit.

    `config.teacher` is a run directory of a ``fine-tune`` run (its
    ``model/`` weights, and its head settings, prototypes from its original
    model) or a fine-tuned model folder (head settings of this run).
    """
    folder = config.teacher
    run_config = rd.run_config_of(folder)
    if run_config is not None:
        weights: str | None = os.path.join(folder, rd.MODEL)
        if not os.path.isdir(weights):
            raise FileNotFoundError(
                f"The teacher run {folder!r} has no trained weights "
                f"({rd.MODEL}/): use a run of --method fine-tune."
            )
        settings = run_config
    else:
        # A fine-tuned model folder, read with this run's head settings.
        weights, settings = None, dataclasses.replace(config, model=folder)
    # Dense and frozen: magnitude masks at their default density of 1.
    teacher = build_run_model(
        settings, tokenizer, spec, weights, pruning_method="magnitude"
    )
    rows = np.unique(
        batch_indices(config.seed, train.size, config.batch_size, 0, total)
    )
    logits = np.full((train.size, spec.num_labels), np.nan, "float32")
    inputs, _ = select(train, rows)
    # Through the distribution-aware predict: uneven last batches and
    # multi-process jobs work too.
    logits[rows] = predict(teacher, inputs, batch_size=64)
    return logits
