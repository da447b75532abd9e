"""The sigmoid-L1 score regulariser of SMP and its gradient.

SMP (Jiang et al., ACL 2023, arXiv:2210.06210, section 3.3) adds
``λ_t · R(S)`` to the task loss, with

.. math::

    R(S) = \\frac{1}{|\\mathcal{W}|} \\sum_{W \\in \\mathcal{W}}
           \\frac{1}{n_W} \\sum_{i} \\sigma(S_{W,i}),

the L1 norm of the sigmoid of the scores, averaged within each prunable
matrix and then over the matrices. The same per-matrix mean of σ(S/p) is the
statistic SMP-S allocates its budget by (:func:`mean_sigmoid_scores`).

The sigmoid here is evaluated in float64 in a form that never overflows:
``σ(x) = 1 / (1 + e^{-|x|})`` for ``x >= 0`` and ``e^{-|x|} / (1 + e^{-|x|})``
otherwise, so ``|x| ~ 1e4`` gives exactly 0 or 1 without warnings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from smpcore.validation import (
    as_float_array,
    check_finite_array,
    check_mapping,
    check_real,
)

__all__ = [
    "mean_sigmoid_scores",
    "sigmoid",
    "sigmoid_l1",
    "sigmoid_l1_grad",
    "sigmoid_l1_total",
]


def _exp_neg_abs(x: np.ndarray) -> np.ndarray:
    """Returns ``exp(-|x|)`` in float64; underflow to 0 is silent."""
    with np.errstate(under="ignore"):
        return np.exp(-np.abs(x.astype(np.float64, copy=False)))


def sigmoid(x: Any) -> np.ndarray:
    """Numerically stable logistic sigmoid, evaluated in float64.

    Args:
        x: Array-like of floating dtype. ``±inf`` map to 1 and 0; NaN maps
            to NaN, as in any NumPy ufunc (the score functions below reject
            NaN instead).

    Returns:
        A float64 array with the shape of `x`, values in ``[0, 1]`` (or
        NaN where `x` is NaN).

    Raises:
        TypeError: If `x` does not have a floating dtype.

    Example:
        >>> sigmoid(np.array([-1e4, 0.0, 1e4])).tolist()
        [0.0, 0.5, 1.0]
    """
    x = as_float_array(x, "x")
    e = _exp_neg_abs(x)
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _checked_nonempty(scores: Any, name: str = "scores") -> np.ndarray:
    """Returns `scores` as a finite, non-empty float array."""
    array = check_finite_array(as_float_array(scores, name), name)
    if array.size == 0:
        raise ValueError(
            f"`{name}` must have at least one entry. Received: {name} with "
            f"shape={array.shape}"
        )
    return array


def sigmoid_l1(scores: Any) -> float:
    """Mean sigmoid of one score matrix: ``Σ σ(S) / n``.

    Args:
        scores: Non-empty array-like of floating dtype, finite values.

    Returns:
        A Python float in ``[0, 1]``.

    Raises:
        TypeError: If `scores` does not have a floating dtype.
        ValueError: If `scores` is empty or holds NaN or infinity.

    Example:
        >>> sigmoid_l1(np.zeros((2, 3)))
        0.5
    """
    scores = _checked_nonempty(scores)
    return float(np.mean(sigmoid(scores)))


def sigmoid_l1_grad(scores: Any) -> np.ndarray:
    """Gradient of :func:`sigmoid_l1`: ``σ(S) (1 - σ(S)) / n``.

    Computed as ``e / (1 + e)^2 / n`` with ``e = exp(-|S|)``, which is exact
    in symmetry and never overflows.

    Args:
        scores: Non-empty array-like of floating dtype, finite values.

    Returns:
        A float64 array with the shape of `scores`.

    Raises:
        TypeError: If `scores` does not have a floating dtype.
        ValueError: If `scores` is empty or holds NaN or infinity.

    Example:
        >>> sigmoid_l1_grad(np.zeros(4)).tolist()
        [0.0625, 0.0625, 0.0625, 0.0625]
    """
    scores = _checked_nonempty(scores)
    e = _exp_neg_abs(scores)
    return e / np.square(1.0 + e) / scores.size


def _checked_score_mapping(scores: Any) -> Mapping[str, Any]:
    """Checks a non-empty mapping of names to score arrays."""
    scores = check_mapping(scores, "scores")
    if not scores:
        raise ValueError("`scores` must hold at least one matrix. Received: {}")
    return scores


def sigmoid_l1_total(scores: Mapping[str, Any]) -> float:
    """The paper's regulariser ``R(S)``: mean of :func:`sigmoid_l1` over
    matrices.

    Every matrix counts once, whatever its size (section 3.3 of the paper).

    Args:
        scores: Non-empty mapping of matrix names to score arrays.

    Returns:
        A Python float in ``[0, 1]``.

    Raises:
        TypeError: If `scores` is not a mapping or a score array does not have
            a floating dtype.
        ValueError: If `scores` is empty, or an array is empty or non-finite.

    Example:
        >>> sigmoid_l1_total({"a": np.zeros(3), "b": np.full(100, 1e4)})
        0.75
    """
    scores = _checked_score_mapping(scores)
    values = [
        float(np.mean(sigmoid(_checked_nonempty(s, f"scores[{name!r}]"))))
        for name, s in scores.items()
    ]
    return float(np.mean(values))


def mean_sigmoid_scores(
    scores: Mapping[str, Any], *, temperature: float = 1.0
) -> dict[str, float]:
    """Per-matrix ``a = mean(σ(S / p))``, the statistic SMP-S allocates by.

    SMP-S (section 3.2) gives each matrix a share of its type's budget
    proportional to ``a``; feed the result to
    :func:`smpcore.smp_s_densities`. Reference temperatures: ``p = 1``;
    ``p = 4`` when 70% or more remains.

    Args:
        scores: Non-empty mapping of matrix names to score arrays.
        temperature: The temperature ``p``, a finite real ``> 0``.

    Returns:
        A dict with the keys of `scores` (same order) and values in
        ``[0, 1]``.

    Raises:
        TypeError: If `scores` is not a mapping or an array has the wrong
            dtype.
        ValueError: If `scores` is empty, an array is empty or non-finite, or
            `temperature <= 0`.

    Example:
        >>> mean_sigmoid_scores({"q": np.zeros(4)}, temperature=2.0)
        {'q': 0.5}
    """
    scores = _checked_score_mapping(scores)
    p = check_real(temperature, "temperature", low=0.0, low_open=True)
    result = {}
    for name, s in scores.items():
        array = _checked_nonempty(s, f"scores[{name!r}]").astype(np.float64)
        with np.errstate(over="ignore"):  # S / p = ±inf has σ = 1 or 0
            result[name] = float(np.mean(sigmoid(array / p)))
    return result
