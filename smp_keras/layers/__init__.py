"""Keras layers of `smp_keras`."""

from smp_keras.layers.masked_dense import PRUNING_METHODS, MaskedDense
from smp_keras.layers.masked_einsum_dense import (
    MaskedEinsumDense,
    einsum_matrix_shape,
)
from smp_keras.layers.sparse_dense import (
    SPARSE_MAX_DENSITY,
    SparseDense,
    sparse_pays,
)

__all__ = [
    "PRUNING_METHODS",
    "SPARSE_MAX_DENSITY",
    "MaskedDense",
    "MaskedEinsumDense",
    "SparseDense",
    "einsum_matrix_shape",
    "sparse_pays",
]
