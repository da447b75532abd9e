"""Keras layers of `smp_keras`."""

from smp_keras.layers.masked_dense import PRUNING_METHODS, MaskedDense

__all__ = ["PRUNING_METHODS", "MaskedDense"]
