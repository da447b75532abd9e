"""Backend-specific test helpers: the only place that asks the backend.

Library code is backend-agnostic; the tests need a few things that are not
expressible in `keras.ops` (a gradient of a layer call, the compile mode that
traces once).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

BACKEND = keras.backend.backend()


def jit_compile_flag() -> bool:
    """`jit_compile` that traces `call` once: XLA on TF and JAX.

    Torch runs eagerly (`call` runs on every step; nothing to retrace).
    """
    return BACKEND in ("tensorflow", "jax")


def trainable_gradients(
    layer: keras.layers.Layer, x: np.ndarray, upstream: np.ndarray
) -> list[np.ndarray]:
    """Gradients of `sum(layer(x) * upstream)` w.r.t. trainable variables.

    Returned in the order of `layer.trainable_variables`.
    """
    x = np.asarray(x, "float32")
    upstream = np.asarray(upstream, "float32")
    if BACKEND == "tensorflow":
        import tensorflow as tf

        variables = [v.value for v in layer.trainable_variables]
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x) * upstream)
        return [g.numpy() for g in tape.gradient(loss, variables)]
    if BACKEND == "jax":
        import jax

        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]

        def loss_fn(values):
            y, _ = layer.stateless_call(values, non_trainable, x)
            return (y * upstream).sum()

        return [np.asarray(g) for g in jax.grad(loss_fn)(trainable)]
    if BACKEND == "torch":
        import torch

        for v in layer.trainable_variables:
            v.value.grad = None
        loss = torch.sum(layer(x) * torch.as_tensor(upstream))
        loss.backward()
        return [
            v.value.grad.detach().cpu().numpy()
            for v in layer.trainable_variables
        ]
    raise NotImplementedError(BACKEND)


def to_numpy(x: Any) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x))


def assert_straight_through(layer: Any, rng: np.random.Generator) -> Any:
    """Checks dL/dS = (x^T delta) * W for a `MaskedDense` of 8 inputs and
    6 units (whatever its mask); returns the score gradient."""
    x = rng.normal(size=(7, 8)).astype("float32")
    delta = rng.normal(size=(7, 6)).astype("float32")
    layer.build((8,))
    (grad,) = trainable_gradients(layer, x, delta)
    expected = (x.T @ delta) * to_numpy(layer.kernel)
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-5)
    return grad
