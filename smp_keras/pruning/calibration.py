"""Calibration: the input activations of every `MaskedDense`, for Wanda.

Wanda (Sun et al., ICLR 2024; :mod:`smpcore.wanda`) scores a weight by
`|W_ij| * ||X_j||_2`, where `||X_j||_2` is the L2 norm of input feature `j`
of the layer over the calibration tokens. :func:`activation_norms` measures
those norms for every `MaskedDense` of a model in one pass; both the
``wanda`` method (:func:`set_wanda_masks`) and ``score_init="wanda"``
(:func:`smp_keras.pruning.model.initialize_scores`) take them from here,
and the job picks its calibration examples with
:func:`calibration_batches`.

The pass runs the model eagerly (no `jit`), with each `MaskedDense`'s
`call` wrapped on the instance to read its input, so it is the same code
on TensorFlow, JAX and PyTorch; the wrappers are removed afterwards, even
after an error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

import keras
import numpy as np

import smpcore
from smp_keras.model_utils import named_masked_layers
from smp_keras.pruning.data import Split, batch_indices, select, trim

__all__ = ["activation_norms", "calibration_batches", "set_wanda_masks"]

#: The input that marks real tokens (1) and padding (0).
PADDING_MASK = "padding_mask"


@contextlib.contextmanager
def _recording(layers: dict[str, Any], record: Any) -> Iterator[None]:
    """Wraps each layer's `call` on the instance: `record(name, inputs)`
    sees every input before the layer computes; restored on exit."""
    saved = {}
    try:
        for name, layer in layers.items():
            saved[name] = layer.__dict__.get("call")
            original = layer.call

            def call(inputs, *args, _name=name, _original=original, **kw):
                record(_name, inputs)
                return _original(inputs, *args, **kw)

            layer.call = call
    except BaseException:
        _restore(layers, saved)
        raise
    try:
        yield
    finally:
        _restore(layers, saved)


def _restore(layers: dict[str, Any], saved: dict[str, Any]) -> None:
    for name, own in saved.items():
        layer = layers[name]
        if own is None:
            del layer.call  # the class's method again
        else:
            layer.call = own


def activation_norms(
    model: keras.layers.Layer,
    batches: Iterable[Any],
    *,
    token_mask: str | None = PADDING_MASK,
) -> dict[str, np.ndarray]:
    """The L2 norm of each input feature of every `MaskedDense` of `model`.

    Runs `model(batch, training=False)` eagerly on every batch and, for
    each `MaskedDense` (named as :func:`smp_keras.named_masked_layers`
    names them), gathers `||X_j||_2 = sqrt(sum of x_j^2)` over all rows of
    its input: :func:`smpcore.activation_norms` of each batch, combined
    across batches with :func:`smpcore.activation_norms` again (the norm of
    the per-batch norms), in float64. Only the sums per feature are kept,
    never the activations.

    Padding tokens are left out (their activations are not zero): when a
    batch is a dict holding `token_mask` (the BERT inputs'
    ``"padding_mask"``) and a layer's input has the shape `mask.shape +
    (features,)`, only the rows where the mask is true count. Inputs of
    another shape count every row.

    Args:
        model: A built Keras model (or layer) holding `MaskedDense` layers.
        batches: An iterable of model inputs (e.g. dicts of arrays), at
            least one.
        token_mask: The key of the padding mask in dict batches; None
            counts every row.

    Returns:
        `{layer name: float64 array of shape (input_dim,)}` for every
        `MaskedDense` the batches reached.

    Raises:
        TypeError: If `model` is not a Keras layer.
        ValueError: If `batches` is empty, or no `MaskedDense` saw an input.

    Example:
        >>> from smp_keras import MaskedDense
        >>> layer = MaskedDense(1, name="d")
        >>> model = keras.Sequential([keras.Input((2,)), layer])
        >>> activation_norms(model, [np.array([[3.0, 0.0], [4.0, 1.0]])])
        {'d': array([5., 1.])}
    """
    layers = named_masked_layers(model)
    seen: dict[str, list[np.ndarray]] = {name: [] for name in layers}
    current: dict[str, Any] = {"mask": None}

    def record(name: str, inputs: Any) -> None:
        x = keras.ops.convert_to_numpy(inputs)
        width = _input_width(layers[name])
        mask = current["mask"]
        if (
            mask is not None
            and x.ndim > mask.ndim
            and x.shape[: mask.ndim] == mask.shape
        ):
            x = x[mask]
        rows = x.reshape(-1, width)
        if rows.shape[0]:
            seen[name].append(smpcore.activation_norms(rows))

    count = 0
    with _recording(layers, record):
        for batch in batches:
            count += 1
            mask = None
            if token_mask is not None and isinstance(batch, dict):
                if token_mask in batch:
                    mask = np.asarray(batch[token_mask]).astype(bool)
            current["mask"] = mask
            model(batch, training=False)
    if not count:
        raise ValueError(
            "`batches` must hold at least one batch. Received: no batches"
        )
    norms = {
        name: smpcore.activation_norms(np.stack(parts))
        for name, parts in seen.items()
        if parts
    }
    if not norms:
        raise ValueError(
            "No MaskedDense layer of `model` received an input from "
            "`batches` (or every token was padding)."
        )
    return norms


def calibration_batches(
    split: Split, examples: int, seed: int, batch_size: int
) -> list[dict[str, np.ndarray]]:
    """The calibration inputs: a fixed seeded sample of training examples.

    The first `min(examples, split.size)` rows of the job's epoch-0
    permutation (:func:`smp_keras.pruning.data.batch_indices`), in batches
    of `batch_size`, each cut to its longest example (the padding is left
    out of the norms anyway, this saves the compute).

    Args:
        split: The training split.
        examples: How many examples, an int >= 1.
        seed: The run's seed.
        batch_size: Examples per batch.

    Returns:
        A list of model input dicts.
    """
    count = min(int(examples), split.size)
    rows = batch_indices(seed, split.size, count, 0, 1)[0]
    batches = []
    for start in range(0, count, batch_size):
        inputs, _ = select(split, rows[start : start + batch_size])
        length = int(
            np.asarray(inputs[PADDING_MASK]).astype(bool).sum(-1).max()
        )
        batches.append(trim(inputs, max(length, 1)))
    return batches


def set_wanda_masks(
    model: keras.layers.Layer,
    input_norms: dict[str, np.ndarray],
    density: float,
) -> int:
    """Gives every `MaskedDense` of `model` its Wanda mask.

    Each layer keeps, per output unit (kernel column), its
    `topk_count(input_dim, density)` largest `|W_ij| * ||X_j||_2`
    (:func:`smpcore.wanda_mask`, ``per="output"``, Wanda's default); a layer
    with an N:M `structure` keeps the `n` largest of every `m` inputs of
    each unit instead (its own structure; `density` is not used). Masks are set
    through :meth:`MaskedDense.set_mask`, so the layers must use
    `pruning_method="topk"` (or a threshold method).

    Args:
        model: A built Keras model or layer.
        input_norms: `{layer name: norms}` from :func:`activation_norms`.
        density: The fraction each unstructured layer keeps.

    Returns:
        The number of weights kept.

    Raises:
        ValueError: If a layer has no norms, or takes no mask.
    """
    layers = named_masked_layers(model)
    missing = [name for name in layers if name not in input_norms]
    if missing:
        raise ValueError(
            "`input_norms` must hold the norms of every MaskedDense layer "
            f"(a calibration pass). Missing: {missing}"
        )
    kept = 0
    for name, layer in layers.items():
        kernel = keras.ops.convert_to_numpy(layer.kernel)
        shape = kernel.shape
        _input_width(layer)
        kernel = kernel.reshape(layer.matrix_shape)
        if layer.structure is not None:
            mask = smpcore.wanda_mask(
                kernel, input_norms[name], structure=layer.structure
            )
        else:
            mask = smpcore.wanda_mask(kernel, input_norms[name], density)
        layer.set_mask(mask.reshape(shape))
        kept += int(np.count_nonzero(mask))
    return kept


def _input_width(layer: Any) -> int:
    """The number of input features of `layer`'s kernel matrix view (the
    trailing axes of its inputs that its kernel contracts)."""
    if layer.matrix_shape is None:
        raise ValueError(
            f"Wanda needs the kernel of layer '{layer.name}' as one "
            "(inputs, outputs) matrix, and its einsum equation "
            f"{getattr(layer, 'equation', None)!r} has no such view (see "
            "smp_keras.layers.einsum_matrix_shape)."
        )
    return layer.matrix_shape[0]
