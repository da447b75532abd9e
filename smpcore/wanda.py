"""Wanda: pruning by weights and activations, as pure NumPy functions.

Wanda (Sun, Liu, Bair, Kolter, "A Simple and Effective Pruning Approach for
Large Language Models", ICLR 2024, arXiv:2306.11695, section 3) scores each
weight by its magnitude times the norm of the input feature it multiplies,

.. math::

    S_{ij} = |W_{ij}| \\cdot \\lVert X_j \\rVert_2 ,

where :math:`W_{ij}` connects input `j` to output `i` (the paper's
``(out, in)`` layout; a Keras ``(in_features, out_features)`` kernel holds
it at ``[j, i]``) and :math:`X_j` collects input feature `j` over every
calibration token. It keeps the largest scores *within each output unit*
(the paper's per-output comparison group: a column of a Keras kernel),
without any weight update.

**Relation to the reference code** (``locuslab/wanda``, ``lib/prune.py`` and
``lib/layerwrapper.py``). It accumulates ``scaler_row``, the sum over
tokens of :math:`x_j^2` divided by the number :math:`N` of calibration
*sequences* (a running mean), and scores
:math:`|W_{ij}| \\sqrt{\\text{scaler\\_row}_j} = S_{ij} / \\sqrt{N}`.
The factor is the same for every weight of a matrix, so the per-output and
per-matrix rankings are those of :math:`S` (up to rounding). Two details
differ on purpose, to follow this library's rules: the reference prunes
``int(in_features * sparsity)`` per unit (a floor, with the float trap
:func:`smpcore.topk_count` describes) where this module keeps
``topk_count(in_features, density)``, and its stable ascending sort prunes
the lowest index first among equal scores, where this module keeps the
lowest index first. Its N:M variant prunes `n` per group of `m`; here `n`
is the number *kept* (the usual reading of "2:4"); for 2:4 and 4:8, the
only structures it offers, the two agree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from smpcore.masks import _checked_scores, _topk_rows, topk_count, topk_mask
from smpcore.structured import _nm_mask, check_structure
from smpcore.validation import check_choice, check_density, type_error

__all__ = [
    "activation_norms",
    "wanda_mask",
    "wanda_scores",
]


def _checked_norms(input_norms: Any, size: int) -> np.ndarray:
    """Checks a 1-D array of `size` finite norms >= 0."""
    norms = _checked_scores(input_norms, "input_norms")
    if norms.shape != (size,):
        raise ValueError(
            f"`input_norms` must have shape (in_features,) = ({size},), one "
            f"norm per kernel row. Received: input_norms with "
            f"shape={norms.shape}"
        )
    if np.any(norms < 0):
        raise ValueError(
            "`input_norms` must be >= 0. Received: input_norms with "
            f"{int(np.count_nonzero(norms < 0))} negative value(s)"
        )
    return norms


def wanda_scores(kernel: Any, input_norms: Any) -> np.ndarray:
    """Wanda's importance of each weight: ``|W_ij| * ||X_j||_2``.

    Computed in float64 (an exact conversion of float16/32 inputs), so the
    product creates no ties that rounding to the kernel's dtype would.

    Args:
        kernel: Array-like of floating dtype, shape ``(in_features,
            out_features)`` (a Keras ``Dense`` kernel).
        input_norms: Array-like of floating dtype, shape ``(in_features,)``:
            the L2 norm of each input feature over the calibration tokens,
            e.g. from :func:`activation_norms`; finite and >= 0.

    Returns:
        A float64 array of shape ``(in_features, out_features)``:
        ``abs(kernel) * input_norms[:, None]``.

    Raises:
        TypeError: If an argument does not have a floating dtype.
        ValueError: If `kernel` is not 2-D, an argument holds NaN or
            infinity, `input_norms` has the wrong shape or a negative
            value, or a product overflows float64.

    Example:
        >>> wanda_scores(np.array([[1.0, -2.0], [0.5, 4.0]]), [3.0, 0.5])
        array([[3.  , 6.  ],
               [0.25, 2.  ]])
    """
    kernel = _checked_scores(kernel, "kernel")
    if kernel.ndim != 2:
        raise ValueError(
            "`kernel` must be 2-D (in_features, out_features). Received: "
            f"kernel with shape={kernel.shape}"
        )
    norms = _checked_norms(input_norms, kernel.shape[0])
    with np.errstate(over="ignore"):
        scores = (
            np.abs(kernel, dtype=np.float64) * norms.astype(np.float64)[:, None]
        )
    if not np.isfinite(scores).all():
        raise ValueError(
            "`kernel` * `input_norms` must be finite in float64. Received: "
            "values whose product overflows"
        )
    return scores


def wanda_mask(
    kernel: Any,
    input_norms: Any,
    density: float | None = None,
    *,
    per: str = "output",
    structure: tuple[int, int] | str | None = None,
) -> np.ndarray:
    """Keeps the weights with the largest Wanda scores.

    With `density`, each output unit (kernel column) keeps exactly
    ``topk_count(in_features, density)`` weights (``per="output"``, the
    paper's choice), or the whole matrix keeps ``topk_count(kernel.size,
    density)`` (``per="matrix"``). With `structure` ``(n, m)`` instead,
    every group of `m` consecutive inputs of each output unit keeps `n`
    (:func:`smpcore.nm_mask` on the scores, axis 0). Ties go to the lowest
    index (in the column, the matrix or the group).

    Args:
        kernel: Floating array of shape ``(in_features, out_features)``.
        input_norms: Floating array of shape ``(in_features,)``, >= 0.
        density: Fraction of weights kept, in ``[0, 1]``. Give exactly one
            of `density` and `structure`.
        per: ``"output"`` (rank within each column) or ``"matrix"``.
        structure: An ``(n, m)`` pair or a string such as ``"2:4"``; then
            ``in_features`` must be a multiple of `m` and `per` must be
            ``"output"``.

    Returns:
        A bool array of shape ``(in_features, out_features)``.

    Raises:
        TypeError: If an argument has the wrong type or dtype.
        ValueError: If an argument is out of range, both or neither of
            `density` and `structure` are given, or as
            :func:`wanda_scores`.

    Example:
        >>> kernel = np.array([[1.0, 1.0], [2.0, 1.0], [3.0, 1.0]])
        >>> wanda_mask(kernel, [3.0, 1.0, 0.5], 2 / 3).astype(int)
        array([[1, 1],
               [1, 1],
               [0, 0]])
    """
    per = check_choice(per, "per", ("output", "matrix"))
    if (density is None) == (structure is None):
        raise ValueError(
            "Exactly one of `density` and `structure` must be given. "
            f"Received: density={density!r}, structure={structure!r}"
        )
    if structure is not None:
        n, m = check_structure(structure)
        if per != "output":
            raise ValueError(
                "`per` must be 'output' with an N:M `structure`. "
                f"Received: per={per!r}, structure={structure!r}"
            )
        return _nm_mask(
            wanda_scores(kernel, input_norms), n, m, 0, False, "kernel"
        )
    density = check_density(density)
    scores = wanda_scores(kernel, input_norms)
    if per == "matrix":
        return topk_mask(scores, density)
    kept = _topk_rows(scores.T, topk_count(scores.shape[0], density))
    return np.ascontiguousarray(kept.T)


def _batch_squares(batch: Any, index: int, width: int | None) -> np.ndarray:
    """Sum of squares per feature of one batch, in float64."""
    name = f"batches[{index}]"
    array = _checked_scores(batch, name)
    if array.ndim == 0 or (width is not None and array.shape[-1] != width):
        expected = "(..., in_features)" if width is None else f"(..., {width})"
        raise ValueError(
            f"`{name}` must have shape {expected}. Received: {name} with "
            f"shape={array.shape}"
        )
    rows = array.reshape(math.prod(array.shape[:-1]), array.shape[-1])
    rows = rows.astype(np.float64)
    return np.einsum("ij,ij->j", rows, rows)


def activation_norms(batches: Any) -> np.ndarray:
    """The L2 norm of each input feature over all rows of all batches.

    ``||X_j||_2 = sqrt(sum over rows r of x_rj^2)``, with the squares summed
    in float64: the `input_norms` of :func:`wanda_scores`. Every row counts,
    so **the caller must leave out padding tokens** (e.g. pass
    ``hidden[attention_mask.astype(bool)]``): their activations are not
    zero (a padding token still gets an embedding), and the reference
    calibrates on unpadded windows of text. Batches may hold different
    numbers of rows; how they are split does not change the result beyond
    rounding.

    Args:
        batches: An iterable of floating arrays of shape ``(...,
            in_features)``, all with the same last dimension; a single
            array is taken as one batch.

    Returns:
        A float64 array of shape ``(in_features,)``, finite and >= 0.

    Raises:
        TypeError: If `batches` is not iterable or a batch is not a floating
            array.
        ValueError: If `batches` is empty, a batch is 0-d, holds NaN or
            infinity or has another last dimension, or a sum overflows.

    Example:
        >>> activation_norms([np.array([[3.0, 0.0]]), np.array([[4.0, 1.0]])])
        array([5., 1.])
    """
    if isinstance(batches, np.ndarray):
        batches = [batches]
    if not isinstance(batches, Iterable) or isinstance(batches, str | bytes):
        raise type_error("batches", "an iterable of arrays", batches)
    total: np.ndarray | None = None
    with np.errstate(over="ignore"):
        for index, batch in enumerate(batches):
            width = None if total is None else total.size
            squares = _batch_squares(batch, index, width)
            total = squares if total is None else total + squares
    if total is None:
        raise ValueError(
            "`batches` must hold at least one array. Received: no batches"
        )
    if not np.isfinite(total).all():
        raise ValueError(
            "`batches` sums of squares must be finite in float64. Received: "
            "activations whose squares overflow"
        )
    return np.sqrt(total)
