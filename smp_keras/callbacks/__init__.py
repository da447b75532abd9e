"""Keras callbacks of `smp_keras`."""

from smp_keras.callbacks.sparsity_scheduler import (
    ALLOCATIONS,
    SparsityScheduler,
    matrix_group,
)
from smp_keras.callbacks.threshold_scheduler import ThresholdScheduler

__all__ = [
    "ALLOCATIONS",
    "SparsityScheduler",
    "ThresholdScheduler",
    "matrix_group",
]
