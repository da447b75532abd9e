"""`MaskedEinsumDense`: `EinsumDense` with a frozen kernel pruned by a mask."""

from __future__ import annotations

import math
import re
from typing import Any

import keras
from keras import ops as kops
from keras.layers import InputSpec

from smp_keras.layers.masked_dense import MaskedDense

__all__ = ["MaskedEinsumDense", "einsum_matrix_shape"]

_EQUATION = re.compile(
    r"^(?P<lhs>\.\.\.)?(?P<x>[a-zA-Z]+)(?P<rhs>\.\.\.)?,(?P<k>[a-zA-Z]+)->"
    r"(?:\.\.\.)?(?P<y>[a-zA-Z]+)(?:\.\.\.)?$"
)


def _check_equation(equation: Any) -> str:
    if not isinstance(equation, str) or not _EQUATION.match(equation):
        raise ValueError(
            "`equation` must be an EinsumDense equation '[X],[Y]->[Z]', "
            "'...[X],[Y]->...[Z]' or '[X]...,[Y]->[Z]...'. Received: "
            f"equation={equation!r}"
        )
    return equation


def einsum_matrix_shape(
    equation: str, kernel_shape: tuple[int, ...]
) -> tuple[int, int] | None:
    """The kernel of an `EinsumDense` seen as one `(inputs, outputs)` matrix.

    The view exists when the kernel's axes are the contracted axes, in the
    order they end the input, followed by the output axes: then
    `kernel.reshape(inputs, outputs)` keeps every entry in place and the
    layer computes `x.reshape(-1, inputs) @ matrix` (up to the output's
    axis order). The attention projections of Keras's `MultiHeadAttention`
    have it: `"abc,cde->abde"` (kernel `(hidden, heads, head_dim)`, matrix
    `(hidden, heads * head_dim)`) and `"abcd,cde->abe"` (kernel
    `(heads, head_dim, hidden)`, matrix `(heads * head_dim, hidden)`).

    Args:
        equation: The layer's einsum equation.
        kernel_shape: The kernel's shape.

    Returns:
        `(inputs, outputs)`, or None where the kernel has no such view
        (N:M masks and Wanda need one; the unstructured masks do not).

    Example:
    >>> einsum_matrix_shape("abc,cde->abde", (8, 2, 4))
    (8, 8)
    >>> einsum_matrix_shape("abc,dce->abde", (2, 8, 4)) is None
    True
    """
    match = _EQUATION.match(_check_equation(equation))
    assert match is not None
    x, k, y = match["x"], match["k"], match["y"]
    contracted = [a for a in k if a in x and a not in y]
    if not contracted or match["rhs"]:
        return None
    count = len(contracted)
    if "".join(contracted) != k[:count] or x[-count:] != k[:count]:
        return None
    rows = math.prod(kernel_shape[:count])
    return int(rows), int(math.prod(kernel_shape) // rows)


@keras.saving.register_keras_serializable(package="smp_keras")
class MaskedEinsumDense(MaskedDense):
    """`keras.layers.EinsumDense` whose frozen kernel is pruned by a mask.

    The layer computes `activation(einsum(equation, x, kernel * M) + bias)`
    with a trainable score tensor `S` of the kernel's shape and the mask
    semantics of :class:`MaskedDense`, which it extends: exact top-k over
    the kernel's entries (ties to the lowest row-major index), the
    threshold and magnitude methods, the straight-through gradient,
    :meth:`~MaskedDense.set_density`, :meth:`~MaskedDense.set_mask`, the
    SMP regulariser and score statistic, so :class:`smp_keras.SparsityScheduler`
    (SMP-L, SMP-S, global), :func:`smp_keras.save_masks`,
    :func:`smp_keras.load_masks` and the sparsity report treat it as any
    masked layer. Masks have the kernel's shape (e.g.
    `(hidden, heads, head_dim)` for an attention query).

    This is the layer of the attention projections of Keras's
    `MultiHeadAttention` (and so of keras-hub's encoders):
    :func:`smp_keras.mask_model` swaps them in with their weights.

    An N:M `structure` groups `m` consecutive inputs of each output, which
    needs the kernel's matrix view
    (:func:`smp_keras.einsum_matrix_shape`: the contracted axes
    first, in the order they end the input); equations without one take
    only unstructured masks.

    Args:
        equation: The einsum equation, as for `EinsumDense`
            (e.g. `"abc,cde->abde"`).
        output_shape: The output shape without the batch axis (an int or
            tuple; `None` for an axis inferred from the input).
        activation: Activation function (name or callable); default linear.
        bias_axes: Output axes (letters of `equation`) that get a bias, or
            None for no bias.
        pruning_method: As for :class:`MaskedDense`; so are
            `kernel_trainable`, `score_initializer`, `kernel_initializer`,
            `bias_initializer`, `density`, `threshold`, `min_density`,
            `matrix_type` and `structure`.
        **kwargs: Base layer arguments (`name`, `dtype`, ...).

    Raises:
        TypeError: As :class:`MaskedDense` for the mask arguments.
        ValueError: As :class:`MaskedDense` for the mask arguments; for an
            equation `EinsumDense` does not take; at build, for a
            `structure` without a matrix view.

    Example:
    >>> import numpy as np
    >>> layer = MaskedEinsumDense(
    ...     "abc,cde->abde", (None, 2, 4), density=0.5
    ... )
    >>> y = layer(np.ones((1, 3, 8), "float32"))
    >>> tuple(y.shape), layer.mask().shape, int(layer.mask().sum())
    ((1, 3, 2, 4), (8, 2, 4), 32)
    """

    def __init__(
        self,
        equation: str,
        output_shape: Any,
        activation: Any = None,
        bias_axes: str | None = None,
        pruning_method: str = "topk",
        kernel_trainable: bool = False,
        score_initializer: Any = "zeros",
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        density: float | None = None,
        threshold: float | None = None,
        min_density: float = 0.005,
        matrix_type: str | None = None,
        structure: Any = None,
        **kwargs: Any,
    ) -> None:
        self.equation = _check_equation(equation)
        # Checked by EinsumDense itself (the same messages as Keras's).
        probe = keras.layers.EinsumDense(
            equation, output_shape, bias_axes=bias_axes
        )
        self.partial_output_shape = probe.partial_output_shape
        self.bias_axes = bias_axes
        self._init_masking(
            activation=activation,
            use_bias=bias_axes is not None,
            pruning_method=pruning_method,
            kernel_trainable=kernel_trainable,
            score_initializer=score_initializer,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            density=density,
            threshold=threshold,
            min_density=min_density,
            matrix_type=matrix_type,
            structure=structure,
            **kwargs,
        )

    def _probe(self) -> keras.layers.EinsumDense:
        """An `EinsumDense` of this layer's equation, for its shape rules."""
        return keras.layers.EinsumDense(
            self.equation,
            self.partial_output_shape,
            bias_axes=self.bias_axes,
            kernel_initializer="zeros",
            dtype="float32",
        )

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        probe = self._probe()
        probe.build(input_shape)
        shape = tuple(int(d) for d in probe.kernel.shape)
        bias_shape = (
            None
            if probe.bias is None
            else tuple(int(d) for d in probe.bias.shape)
        )
        self._build_masking(
            shape,
            bias_shape,
            einsum_matrix_shape(self.equation, shape),
            input_shape,
        )
        self.input_spec = InputSpec(ndim=len(input_shape))

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        outputs = kops.einsum(self.equation, inputs, self.masked_kernel())
        if self.bias is not None:
            outputs = kops.add(outputs, self.bias)
        if self.activation is not None:
            outputs = self.activation(outputs)
        if training and self.scores is not None:
            self.add_loss(self.regularization_loss())
        return outputs

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return self._probe().compute_output_shape(input_shape)

    # === Export ===

    def bake(self) -> keras.layers.EinsumDense:  # type: ignore[override]
        """Returns a built `EinsumDense` with kernel `kernel * mask`.

        Same equation, output shape, bias axes, activation, name and dtype
        policy: it computes the same outputs as this layer.

        Raises:
            RuntimeError: If the layer is not built yet.
        """
        self._check_built("bake()")
        layer = self._einsum_dense(self.name, self.dtype_policy)
        layer.build(_input_shape(self))
        kernel = kops.convert_to_numpy(self.kernel) * self.mask()
        layer.kernel.assign(kernel)
        if self.bias is not None:
            layer.bias.assign(kops.convert_to_numpy(self.bias))
        return layer

    def _einsum_dense(self, name: str, dtype: Any) -> keras.layers.EinsumDense:
        return keras.layers.EinsumDense(
            self.equation,
            self.partial_output_shape,
            activation=self.activation,
            bias_axes=self.bias_axes,
            name=name,
            dtype=dtype,
        )

    @classmethod
    def from_einsum_dense(
        cls, layer: keras.layers.EinsumDense, **kwargs: Any
    ) -> MaskedEinsumDense:
        """Builds a `MaskedEinsumDense` carrying the weights of a built
        `EinsumDense` (equation, output shape, bias axes, activation and
        name from `layer`; `kwargs`, e.g. `density`, to the constructor).

        Raises:
            TypeError: If `layer` is not a `keras.layers.EinsumDense`.
            RuntimeError: If `layer` is not built.
        """
        if not isinstance(layer, keras.layers.EinsumDense):
            raise TypeError(
                "`layer` must be a keras.layers.EinsumDense. Received: "
                f"layer={layer!r} of type {type(layer).__name__}"
            )
        if not layer.built:
            raise RuntimeError(
                f"EinsumDense layer '{layer.name}' is not built: call it on "
                "an input or call `layer.build(input_shape)` first."
            )
        kwargs.setdefault("name", layer.name)
        kwargs.setdefault("activation", layer.activation)
        kwargs.setdefault("dtype", layer.dtype_policy)
        masked = cls(
            layer.equation,
            layer.partial_output_shape,
            bias_axes=layer.bias_axes,
            **kwargs,
        )
        masked.build(_input_shape(layer))
        masked.kernel.assign(kops.convert_to_numpy(layer.kernel))
        if layer.bias is not None:
            masked.bias.assign(kops.convert_to_numpy(layer.bias))
        return masked

    @classmethod
    def from_dense(cls, layer: Any, **kwargs: Any) -> MaskedDense:
        raise TypeError(
            "MaskedEinsumDense.from_dense does not exist: use "
            "MaskedDense.from_dense for a Dense layer, or "
            "MaskedEinsumDense.from_einsum_dense."
        )

    @classmethod
    def from_weights(
        cls, kernel: Any, bias: Any = None, **kwargs: Any
    ) -> MaskedDense:
        raise TypeError(
            "MaskedEinsumDense.from_weights does not exist (an einsum "
            "kernel needs its equation): use from_einsum_dense."
        )

    # === Config ===

    def get_config(self) -> dict[str, Any]:
        config = {
            "equation": self.equation,
            "output_shape": self.partial_output_shape,
            "bias_axes": self.bias_axes,
        }
        base = keras.layers.Layer.get_config(self)
        return {**base, **config, **self._masking_config()}


def _input_shape(layer: keras.layers.Layer) -> tuple[int | None, ...]:
    """The input shape a built layer was built with."""
    config = layer.get_build_config() or {}
    if "input_shape" in config:
        return tuple(config["input_shape"])
    raise RuntimeError(
        f"Cannot tell the input shape layer '{layer.name}' was built with: "
        "build it by calling it on an input."
    )
