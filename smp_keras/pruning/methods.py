"""The pruning job's methods as one table (no Keras import).

Each method name of :class:`~smp_keras.pruning.PruneConfig` maps to a
:class:`Method` record that says how the job builds and trains it; the
config, the model builder and the training loop read its fields instead of
branching on names. Adding a method means one entry here plus, if it
needs one, its mask function in :class:`~smp_keras.layers.MaskedDense`
(as Keras resolves names through `keras.activations.get`).
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping

__all__ = ["METHOD_TABLE", "Method", "get_method"]


@dataclasses.dataclass(frozen=True)
class Method:
    """How the job builds and trains one method.

    Attributes:
        name: The `PruneConfig.method` name.
        layer_method: The `pruning_method` of every `MaskedDense`.
        allocation: The `SparsityScheduler` allocation of the density
            schedule; None: no schedule (dense to the end).
        trains_weights: Whether the pre-trained weights are trained too.
        scored: Whether the layers have scores (the regulariser applies
            where they train: not with `fixed_masks`, whose scores only
            hold the masks and are frozen).
        threshold_ramp: Whether the sigmoid threshold is ramped
            (`ThresholdScheduler` with :func:`smpcore.threshold_schedule`).
        needs_regularizer: Whether `regularization_weight` must be > 0 (the
            regulariser is what prunes).
        fixed_masks: Whether the masks are set once, before the first
            step, from Wanda's calibration pass over training examples,
            and never change: no density schedule, no trained scores (the
            whole run is at the final density).
        one_shot: Whether the run has no training step at all (the fixed
            masks are the result; Wanda). Implies `fixed_masks`.
        summary: One line for help texts.
    """

    name: str
    layer_method: str
    allocation: str | None
    trains_weights: bool
    scored: bool
    threshold_ramp: bool = False
    needs_regularizer: bool = False
    fixed_masks: bool = False
    one_shot: bool = False
    summary: str = ""

    def __post_init__(self) -> None:
        if self.one_shot and not self.fixed_masks:
            raise ValueError(
                f"Method {self.name!r}: a one-shot method sets fixed masks "
                "(one_shot=True needs fixed_masks=True)."
            )

    @property
    def dense(self) -> bool:
        """Whether the method keeps every weight (final density 1)."""
        return self.allocation is None

    @property
    def takes_structure(self) -> bool:
        """Whether an N:M `structure` applies: the same count in every
        matrix (uniform allocation) and a count-based layer mask (the
        `MaskedDense` methods that take a structure)."""
        return self.allocation == "uniform" and self.layer_method in (
            "topk",
            "magnitude",
        )


_METHODS = (
    Method(
        "smp-s",
        "topk",
        "smp_s",
        trains_weights=False,
        scored=True,
        summary="SMP with the budget shared across layers (section 3.2)",
    ),
    Method(
        "smp-l",
        "topk",
        "uniform",
        trains_weights=False,
        scored=True,
        summary="SMP with the same fraction kept in every matrix",
    ),
    Method(
        "magnitude",
        "magnitude",
        "uniform",
        trains_weights=True,
        scored=False,
        summary="keep the largest weights, fine-tuning them",
    ),
    Method(
        "movement",
        "topk",
        "uniform",
        trains_weights=True,
        scored=True,
        summary="top-k of learned scores while fine-tuning the weights",
    ),
    Method(
        "soft-movement",
        "sigmoid_threshold",
        "uniform",
        trains_weights=True,
        scored=True,
        threshold_ramp=True,
        needs_regularizer=True,
        summary="sigmoid threshold; the regulariser sets the density",
    ),
    Method(
        "wanda",
        "topk",
        "uniform",
        trains_weights=False,
        scored=True,
        fixed_masks=True,
        one_shot=True,
        summary="one shot, no training: largest |W| * ||X|| per output unit "
        "(Sun et al., 2024)",
    ),
    Method(
        "wanda-fine-tune",
        "topk",
        "uniform",
        trains_weights=True,
        scored=True,
        fixed_masks=True,
        summary="Wanda's one-shot masks, fixed, with the kept weights "
        "fine-tuned under them",
    ),
    Method(
        "fine-tune",
        "magnitude",
        None,
        trains_weights=True,
        scored=False,
        summary="dense fine-tuning (the baseline to match)",
    ),
)

#: Method name -> :class:`Method`, in the order of the help texts.
METHOD_TABLE: Mapping[str, Method] = types.MappingProxyType(
    {method.name: method for method in _METHODS}
)


def get_method(name: str) -> Method:
    """The :class:`Method` called `name`.

    Raises:
        ValueError: For an unknown name (the message lists the methods).

    Example:
        >>> get_method("smp-s").allocation
        'smp_s'
    """
    if name not in METHOD_TABLE:
        raise ValueError(
            f"`method` must be one of {tuple(METHOD_TABLE)}. Received: "
            f"method={name!r}"
        )
    return METHOD_TABLE[name]
