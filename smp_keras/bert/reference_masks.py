"""Exchange masks with the authors' reference format (kongds/SMP).

The reference stores a task's masks as one ``np.packbits`` array (``.npy``)
of the concatenated flattened masks of every prunable matrix, taken in
lexicographically sorted PyTorch parameter-name order
(``bert.encoder.layer.0...``, ``layer.1``, ``layer.10``, ``layer.11``,
``layer.2``, ...), each in PyTorch's `(out, in)` layout. Keras kernels are
`(in, out)`, so masks are transposed on export and import.

The names follow the backbone's Hugging Face family
(``smp_keras.bert.convert_hf``): the authors' ``_roberta_`` runs name
``roberta.encoder.layer.0...``, which a backbone loaded from a RoBERTa
checkpoint uses; the other families use their own transformers names
(``distilbert.transformer.layer.0.attention.q_lin.weight``, ...).
"""

from __future__ import annotations

import os
from typing import Any

import keras

import smpcore
from smp_keras.bert.backbone import BertBackbone
from smp_keras.bert.convert_hf import family
from smp_keras.layers.masked_dense import MaskedDense
from smp_keras.model_utils import mask_mismatches

__all__ = [
    "export_reference_masks",
    "find_backbone",
    "import_reference_masks",
    "reference_parameter_names",
]


def find_backbone(model: Any) -> BertBackbone:
    """Returns `model` if it is a `BertBackbone`, else the one inside it.

    Raises:
        TypeError: if `model` is not a Keras model holding exactly one
            `BertBackbone`.
    """
    if isinstance(model, BertBackbone):
        return model
    found = []
    if isinstance(model, keras.Model):
        found = [x for x in model.layers if isinstance(x, BertBackbone)]
    if len(found) != 1:
        raise TypeError(
            "`model` must be a BertBackbone or a model built on exactly one "
            f"(e.g. by build_classifier). Received: {model!r} with "
            f"{len(found)} backbone(s)."
        )
    return found[0]


def reference_parameter_names(
    model: Any, model_type: str | None = None
) -> dict[str, MaskedDense]:
    """Maps reference (PyTorch) parameter names to the backbone's layers.

    Args:
        model: a :class:`BertBackbone`, or a model built on one.
        model_type: the Hugging Face family whose names to use (e.g.
            ``"roberta"`` for ``roberta.encoder.layer...``); None for the
            backbone's own `model_type`.

    Returns:
        `{name: MaskedDense}` in sorted name order, e.g.
        ``"bert.encoder.layer.0.attention.self.query.weight"``.

    Raises:
        ValueError: for an unknown `model_type` (named).

    Example:
        >>> backbone = BertBackbone(
        ...     vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=8,
        ...     intermediate_dim=12, max_sequence_length=16)
        >>> list(reference_parameter_names(backbone))[:2]
        ['bert.encoder.layer.0.attention.output.dense.weight', \
'bert.encoder.layer.0.attention.self.key.weight']
    """
    backbone = find_backbone(model)
    names = family(model_type or backbone.model_type)
    layers = {}
    for index, block in enumerate(backbone.transformer_layers):
        prefix = names.prefix + names.layer_name(index)
        for attribute, hf_name in names.matrices:
            layers[f"{prefix}.{hf_name}.weight"] = getattr(block, attribute)
    return dict(sorted(layers.items()))


def export_reference_masks(
    model: Any, path: str | os.PathLike, *, model_type: str | None = None
) -> None:
    """Writes the backbone's masks in the reference ``.npy`` format.

    Masks are transposed to `(out, in)` and packed by
    :func:`smpcore.save_reference_masks` (atomic write, no pickle).

    Args:
        model: a :class:`BertBackbone`, or a model built on one.
        path: destination file (used as given, e.g. ``mnli_0.10.npy``).
        model_type: whose parameter names order the masks (see
            :func:`reference_parameter_names`); None for the backbone's.
    """
    masks = {
        name: layer.mask().T
        for name, layer in reference_parameter_names(model, model_type).items()
    }
    smpcore.save_reference_masks(path, masks)


def import_reference_masks(
    model: Any, path: str | os.PathLike, *, model_type: str | None = None
) -> None:
    """Loads a reference ``.npy`` mask file into the backbone's layers.

    The file's bit count must match the backbone's prunable weights exactly
    (:func:`smpcore.load_reference_masks`). Masks are transposed to
    `(in, out)` and assigned like :func:`smp_keras.model_utils.load_masks`
    does (``"topk"``: scores 1/0 and `kept` = the mask's count). Every
    layer is checked before any is assigned.

    Args:
        model: a :class:`BertBackbone`, or a model built on one.
        path: a file written by :func:`export_reference_masks` or the
            reference code.
        model_type: whose parameter names order the masks (see
            :func:`reference_parameter_names`); None for the backbone's.

    Raises:
        ValueError: if the file's size does not match the backbone, or a
            layer cannot take a mask (``"magnitude"``).
    """
    layers = reference_parameter_names(model, model_type)
    shapes = {
        name: tuple(int(d) for d in reversed(layer.kernel.shape))
        for name, layer in layers.items()
    }
    loaded = smpcore.load_reference_masks(path, shapes)
    masks = {name: mask.T for name, mask in loaded.items()}
    problems = mask_mismatches(layers, masks)
    if problems:
        raise ValueError(
            f"The masks in {os.fspath(path)!r} cannot be loaded; nothing was "
            "assigned:\n  " + "\n  ".join(problems)
        )
    for name, layer in layers.items():
        layer.set_mask(masks[name])
