"""Keras callbacks of `smp_keras`."""

from smp_keras.callbacks.sparsity_scheduler import (
    ALLOCATIONS,
    SparsityScheduler,
    matrix_group,
)
from smp_keras.callbacks.step_callback import StepCallback, optimizer_step
from smp_keras.callbacks.threshold_scheduler import ThresholdScheduler

__all__ = [
    "ALLOCATIONS",
    "SparsityScheduler",
    "StepCallback",
    "ThresholdScheduler",
    "matrix_group",
    "optimizer_step",
]
