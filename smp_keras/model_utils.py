"""Model-level helpers: find masked layers, report, save/load masks.

(:func:`bake`, the inverse of :func:`smp_keras.mask_model`, lives in
:mod:`smp_keras.transform` and is importable from here too.)

Every `MaskedDense` of a model gets a stable name, the `/`-joined names of
the layers that lead to it from the model (the model's own name excluded),
e.g. `"bert_backbone/transformer_layer_0/query"`. These names key the
sparsity report and the mask artifact (:func:`smpcore.save_masks_file`).
Name your layers: auto-generated names such as `masked_dense_3` depend on
how many layers the Python session created before.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np

import smpcore
from smp_keras.layers.masked_dense import MaskedDense
from smp_keras.transform import bake
from smpcore.validation import check_density

__all__ = [
    "bake",
    "format_sparsity_report",
    "load_masks",
    "mask_mismatches",
    "masked_layers",
    "named_masked_layers",
    "override_masks",
    "save_masks",
    "sparsity_report",
]


def _check_layer(model: Any) -> None:
    if not isinstance(model, keras.layers.Layer):
        raise TypeError(
            "`model` must be a keras.Model or keras.layers.Layer. "
            f"Received: model={model!r} of type {type(model).__name__}"
        )


def named_masked_layers(model: keras.layers.Layer) -> dict[str, MaskedDense]:
    """Returns `{stable name: layer}` for every `MaskedDense` in `model`.

    Layers are visited depth-first in the order they were attached to
    their parents (the order of `model.layers`); a layer reachable twice is
    listed once, under its first name. `model` itself is included when it
    is a `MaskedDense` (under its own name).

    Args:
        model: A Keras model or layer.

    Returns:
        An insertion-ordered dict of names to layers.

    Raises:
        TypeError: If `model` is not a Keras layer or model.
        ValueError: If two different layers get the same name.

    Example:
    >>> model = keras.Sequential([MaskedDense(4, name="a")])
    >>> list(named_masked_layers(model))
    ['a']
    """
    _check_layer(model)
    found: dict[str, MaskedDense] = {}
    seen: set[int] = set()

    def visit(layer: keras.layers.Layer, prefix: str) -> None:
        if id(layer) in seen:
            return
        seen.add(id(layer))
        if isinstance(layer, MaskedDense):
            name = prefix + layer.name
            if name in found:
                raise ValueError(
                    f"Two MaskedDense layers share the name {name!r}: give "
                    "the layers unique names."
                )
            found[name] = layer
        inner = "" if layer is model else prefix + layer.name + "/"
        for child in getattr(layer, "_layers", []):
            visit(child, inner)

    visit(model, "")
    return found


def masked_layers(model: keras.layers.Layer) -> list[MaskedDense]:
    """Returns every `MaskedDense` in `model`, in a stable order.

    The order and the names are those of :func:`named_masked_layers`.

    Args:
        model: A Keras model or layer.

    Returns:
        A list of layers.

    Raises:
        TypeError: If `model` is not a Keras layer or model.

    Example:
    >>> model = keras.Sequential([MaskedDense(4), keras.layers.Dense(2)])
    >>> len(masked_layers(model))
    1
    """
    return list(named_masked_layers(model).values())


def _masks(model: keras.layers.Layer) -> dict[str, np.ndarray]:
    return {name: layer.mask() for name, layer in _built(model).items()}


def _built(model: keras.layers.Layer) -> dict[str, MaskedDense]:
    layers = named_masked_layers(model)
    unbuilt = [name for name, layer in layers.items() if not layer.built]
    if unbuilt:
        raise RuntimeError(
            f"MaskedDense layers {unbuilt} are not built: call the model on "
            "an input (or build it) first."
        )
    return layers


def sparsity_report(model: keras.layers.Layer) -> dict[str, Any]:
    """Counts the kept weights of every `MaskedDense` of `model`.

    Args:
        model: A built Keras model or layer.

    Returns:
        The dict of :func:`smpcore.sparsity_report`, keyed by the names of
        :func:`named_masked_layers`.

    Raises:
        TypeError: If `model` is not a Keras layer or model.
        RuntimeError: If a masked layer is not built.

    Example:
    >>> layer = MaskedDense(2, density=0.5)
    >>> model = keras.Sequential([keras.Input((4,)), layer])
    >>> sparsity_report(model)["total"]
    {'kept': 4, 'size': 8, 'density': 0.5}
    """
    return smpcore.sparsity_report(_masks(model))


def format_sparsity_report(model_or_report: Any) -> str:
    """Renders the sparsity report of a model (or a report) as a table.

    Args:
        model_or_report: A built Keras model/layer, or the output of
            :func:`sparsity_report`.

    Returns:
        The fixed-width table of :func:`smpcore.format_sparsity_report`.
    """
    report = model_or_report
    if isinstance(model_or_report, keras.layers.Layer):
        report = sparsity_report(model_or_report)
    return smpcore.format_sparsity_report(report)


def save_masks(model: keras.layers.Layer, path: str | os.PathLike) -> None:
    """Writes the masks of every `MaskedDense` of `model` to `path`.

    The file is the versioned, checksummed artifact of
    :func:`smpcore.save_masks_file` (written atomically), keyed by the
    names of :func:`named_masked_layers`, masks in the Keras `(in, out)`
    layout.

    Args:
        model: A built Keras model or layer.
        path: Destination file (suggested extension `.smpmask`).

    Raises:
        TypeError: If `model` is not a Keras layer or model.
        RuntimeError: If a masked layer is not built.
    """
    smpcore.save_masks_file(path, _masks(model))


def mask_mismatches(
    layers: dict[str, MaskedDense], masks: dict[str, np.ndarray]
) -> list[str]:
    """Every reason `masks` cannot be loaded into `layers`, one line each.

    Names missing on either side, shapes that differ, magnitude layers
    (which take no mask), masks that are not N:M for a layer with a
    `structure` (all-ones masks excepted) and sigmoid-threshold masks below
    the layer's floor. An empty list means :meth:`MaskedDense.set_mask`
    accepts every mask.

    Args:
        layers: `{name: MaskedDense}`, e.g. :func:`named_masked_layers`.
        masks: `{name: boolean array}`.
    """
    problems = [f"missing from file: {n!r}" for n in layers if n not in masks]
    problems += [f"not in model: {n!r}" for n in masks if n not in layers]
    for name in [name for name in layers if name in masks]:
        layer, mask = layers[name], masks[name]
        shape = tuple(layer.kernel.shape)
        if mask.shape != shape:
            problems.append(
                f"shape of {name!r}: model {shape}, file {mask.shape}"
            )
        elif layer.pruning_method == "magnitude":
            problems.append(
                f"{name!r} uses pruning_method='magnitude', whose mask "
                "follows from the kernel and cannot be assigned"
            )
        elif (
            layer.structure is not None
            and not mask.all()
            and not smpcore.is_nm_mask(
                mask.reshape(layer.matrix_shape), *layer.structure
            )
        ):
            problems.append(
                f"{name!r} has structure='{layer.structure[0]}:"
                f"{layer.structure[1]}' and the file's mask is not "
                f"{layer.structure[0]}:{layer.structure[1]} along its inputs"
            )
        elif layer.pruning_method == "sigmoid_threshold":
            kept = int(np.count_nonzero(mask))
            floor = smpcore.topk_count(mask.size, layer.min_density)
            if kept < floor:
                problems.append(
                    f"{name!r} keeps {kept} weights, fewer than its "
                    f"min_density={layer.min_density} floor of {floor}"
                )
    return problems


def load_masks(model: keras.layers.Layer, path: str | os.PathLike) -> None:
    """Loads masks saved by :func:`save_masks` into the layers of `model`.

    Every name and shape is checked first; on any mismatch nothing is
    assigned and one `ValueError` lists every problem. A mask is assigned
    by setting the layer's scores so that its own mask function reproduces
    it exactly: for `"topk"` the scores become 1.0 where kept and 0.0
    elsewhere and `kept` becomes the mask's count (`density` = count /
    size); for the threshold methods the scores are set well above or
    below the layer's threshold. A `"sigmoid_threshold"` mask must keep at
    least the layer's `min_density` floor; `"magnitude"` layers cannot take
    a mask.

    Args:
        model: A built Keras model or layer.
        path: A file written by :func:`save_masks` (or
            :func:`smpcore.save_masks_file`).

    Raises:
        TypeError: If `model` is not a Keras layer or model.
        RuntimeError: If a masked layer is not built.
        ValueError: If the file is invalid, or its names or shapes do not
            match the model.
    """
    layers = _built(model)
    masks = smpcore.load_masks_file(path)
    problems = mask_mismatches(layers, masks)
    if problems:
        raise ValueError(
            f"The masks in {os.fspath(path)!r} do not match the model "
            f"({len(problems)} problem(s)); nothing was loaded:\n  "
            + "\n  ".join(problems)
        )
    for name, layer in layers.items():
        layer.set_mask(masks[name])


@contextlib.contextmanager
def override_masks(
    model: keras.layers.Layer, masks: str | float
) -> Iterator[int]:
    """Temporarily gives every `MaskedDense` of `model` another mask.

    - `"dense"`: every weight kept (e.g. to embed label words with the
      dense model);
    - a density `d` in `[0, 1]`: each matrix keeps its `round(d · n)`
      largest `|W|` (the magnitude mask, the zero-order baseline); a layer
      with an N:M `structure` keeps the `n` largest `|W|` of every group
      of `m` inputs, and `d` must then be its `n / m` (or 1.0).

    Masks are set through the layers' own :meth:`MaskedDense.set_mask`
    (magnitude layers: `set_density`; a sigmoid-threshold floor is lifted
    meanwhile), and every layer's :meth:`MaskedDense.mask_state` is
    restored on exit, even after an error.

    Args:
        model: A built Keras model or layer.
        masks: `"dense"` or a density.

    Yields:
        The number of weights kept.

    Raises:
        ValueError: For any other `masks`, or a density that an N:M layer
            cannot take (nothing is changed then).

    Example:
        >>> model = keras.Sequential([keras.Input((4,)), MaskedDense(4)])
        >>> model.layers[0].set_density(0.25)
        >>> with override_masks(model, "dense") as kept:
        ...     print(kept, model.layers[0].mask().sum())
        16 16
        >>> int(model.layers[0].mask().sum())
        4
    """
    _check_layer(model)
    dense = isinstance(masks, str) and masks == "dense"
    if not dense:
        if isinstance(masks, str):
            raise ValueError(
                "`masks` must be 'dense' or a density in [0, 1]. Received: "
                f"masks={masks!r}"
            )
        density = check_density(masks, "masks")
        wrong = [
            f"{layer.name} ({layer.structure[0]}:{layer.structure[1]})"
            for layer in masked_layers(model)
            if layer.structure is not None
            and density != 1.0
            and not math.isclose(
                density, layer.structure[0] / layer.structure[1], rel_tol=1e-6
            )
        ]
        if wrong:
            raise ValueError(
                "N:M layers keep exactly n/m of their weights, so `masks` "
                f"must be their n/m or 1.0. Received: masks={masks!r} for "
                f"layers {wrong}"
            )
    saved = []
    kept = 0
    try:
        for layer in masked_layers(model):
            saved.append((layer, layer.mask_state()))
            if layer.pruning_method == "magnitude":
                layer.set_density(1.0 if dense else density)
                kept += layer.kept
                continue
            shape = tuple(layer.kernel.shape)
            if dense or density == 1.0:
                mask = np.ones(shape, bool)
            elif layer.structure is not None:
                kernel = keras.ops.convert_to_numpy(layer.kernel)
                mask = smpcore.nm_mask(
                    np.abs(kernel.astype("float32")).reshape(
                        layer.matrix_shape
                    ),
                    *layer.structure,
                ).reshape(shape)
            else:
                kernel = keras.ops.convert_to_numpy(layer.kernel)
                mask = smpcore.magnitude_mask(kernel.astype("float32"), density)
            layer.set_min_density(0.0)
            layer.set_mask(mask)
            kept += int(np.count_nonzero(mask))
        yield kept
    finally:
        for layer, state in reversed(saved):
            layer.restore_mask_state(state)
