"""Keras callbacks of `smp_keras`."""

from smp_keras.callbacks.sparsity_scheduler import (
    ALLOCATIONS,
    SparsityScheduler,
    matrix_group,
)

__all__ = ["ALLOCATIONS", "SparsityScheduler", "matrix_group"]
