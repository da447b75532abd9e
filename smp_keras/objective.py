"""The SMP training objective: score regulariser and knowledge distillation.

SMP (Jiang et al., ACL 2023, section 3.3) minimises

$$L = L_{task} + \\lambda_t R(S), \\qquad
R(S) = \\frac{1}{|\\mathcal{M}|} \\sum_{S \\in \\mathcal{M}}
       \\frac{1}{n_S} \\sum \\sigma(S),$$

the mean over the prunable matrices of the mean sigmoid of their scores.

**Wiring.** Every `MaskedDense` that has scores calls
`self.add_loss(regularization_weight * mean(sigmoid(scores)))` in `call`
when `training=True`. Keras adds `model.losses` to the compiled loss, so
`model.fit` optimises the objective unchanged on TensorFlow, JAX and
PyTorch, for Sequential, Functional and subclassed models. The term is
added only in training: `evaluate`/`predict` and calls without
`training=True` report the task loss alone, which is what the paper
reports. Each layer's weight is `λ_t / L` (L layers with scores), which
:class:`smp_keras.SparsityScheduler` (or :func:`set_regularization_weight`)
sets, so the sum of the added losses is `λ_t · R(S)`.

**Distillation.** The paper's `_kd` runs train on
`0.5 · CE + 0.5 · T² · KL(softmax(z_t / T) ‖ softmax(z_s / T))` with
`T = 2`. :func:`make_distiller` builds it from Keras's
`keras.distillation.Distiller` and `LogitsDistillation`; the returned
:class:`SMPDistiller` also adds the student's regulariser losses, which
the stock `Distiller.compute_loss` leaves out.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops as kops

from smp_keras.model_utils import masked_layers
from smpcore.validation import check_real

__all__ = [
    "SMPDistiller",
    "make_distiller",
    "regularization_term",
    "set_regularization_weight",
]


def _scored_layers(model: keras.layers.Layer) -> list[Any]:
    layers = [
        layer for layer in masked_layers(model) if layer.scores is not None
    ]
    if not layers:
        raise ValueError(
            "The model has no MaskedDense layer with scores "
            "(pruning_method='magnitude' layers have none)."
        )
    return layers


def set_regularization_weight(model: keras.layers.Layer, value: float) -> int:
    """Sets `λ`: every masked layer with scores gets weight `value / L`.

    Args:
        model: A built Keras model or layer.
        value: `λ`, a finite real `>= 0`.

    Returns:
        `L`, the number of layers set.

    Raises:
        TypeError: If `value` is not a real number.
        ValueError: If `value < 0` or the model has no scored layer.
    """
    value = check_real(value, "value", low=0.0)
    layers = _scored_layers(model)
    for layer in layers:
        layer.set_regularization_weight(value / len(layers))
    return len(layers)


def regularization_term(model: keras.layers.Layer) -> Any:
    """`R(S)`: mean over scored layers of `mean(sigmoid(scores))`.

    The unweighted regulariser, a scalar tensor (differentiable with
    respect to the scores), for custom training loops and reporting.

    Args:
        model: A built Keras model or layer.

    Returns:
        A float32 scalar tensor in `[0, 1]`.

    Raises:
        ValueError: If the model has no scored layer.
    """
    layers = _scored_layers(model)
    return kops.mean(kops.stack([layer.score_statistic() for layer in layers]))


class SMPDistiller(keras.distillation.Distiller):
    """`keras.distillation.Distiller` that also adds the model's losses.

    The stock `Distiller.compute_loss` returns
    `w · student_loss + (1 - w) · distillation_loss` and ignores
    `self.losses`, which hold the SMP regulariser of the student's
    `MaskedDense` layers; this subclass adds them.
    """

    def compute_loss(
        self,
        x: Any = None,
        y: Any = None,
        y_pred: Any = None,
        sample_weight: Any = None,
        training: bool = True,
    ) -> Any:
        total = super().compute_loss(
            x=x,
            y=y,
            y_pred=y_pred,
            sample_weight=sample_weight,
            training=training,
        )
        for loss in self.losses:
            total = total + self._aggregate_additional_loss(loss)
        return total


def make_distiller(
    student: keras.Model,
    teacher: keras.Model,
    *,
    temperature: float = 2.0,
    alpha: float = 0.5,
) -> SMPDistiller:
    """Builds the paper's knowledge-distillation model.

    The loss is `alpha · task_loss + (1 - alpha) · T² ·
    KL(softmax(z_teacher / T) ‖ softmax(z_student / T))` plus the student's
    regulariser; compile the result with the task loss (e.g.
    `SparseCategoricalCrossentropy(from_logits=True)`) and `fit` it on
    `(x, y)`. The teacher is frozen; both models must output logits.

    Args:
        student: The masked model being trained (a `keras.Model`).
        teacher: The fine-tuned dense model (a `keras.Model`).
        temperature: `T > 0`; 2 in the paper.
        alpha: Weight of the task loss, in `[0, 1]`; 0.5 in the paper.

    Returns:
        An :class:`SMPDistiller`; `distiller.student` is the trained model.

    Raises:
        TypeError: If `temperature` or `alpha` is not a real number.
        ValueError: If `temperature <= 0` or `alpha` is not in `[0, 1]`.
    """
    temperature = check_real(temperature, "temperature", low=0, low_open=True)
    alpha = check_real(alpha, "alpha", low=0.0, high=1.0)
    return SMPDistiller(
        teacher=teacher,
        student=student,
        distillation_losses=keras.distillation.LogitsDistillation(
            temperature=temperature
        ),
        student_loss_weight=alpha,
    )
