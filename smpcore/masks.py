"""Binary masks from scores: top-k, magnitude and threshold masks.

SMP (Jiang et al., ACL 2023, arXiv:2210.06210, section 3) keeps, in every
prunable weight matrix, the weights whose learned scores are largest. This
module fixes the two details the reference implementation leaves open:

* the number of kept weights is ``k = round(density * n)``, computed in
  float64 with Python's `round` (half to even); see :func:`topk_count`;
* ties are broken by the **lowest flat (row-major) index**, so the NumPy core
  and every Keras backend produce the same mask, bit for bit.

:func:`topk_mask` runs in O(n): a selection (``np.partition``, introselect,
linear in the worst case) finds the k-th largest score, every score above it
is kept, and the lowest-index scores equal to it fill the remaining slots.
No full sort is done.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from smpcore.regularizers import sigmoid as _sigmoid
from smpcore.validation import (
    MAX_SIZE,
    as_float_array,
    check_density,
    check_finite_array,
    check_int,
    check_real,
)

__all__ = [
    "magnitude_mask",
    "threshold_mask",
    "topk_count",
    "topk_mask",
]


def topk_count(size: int, density: float) -> int:
    """Returns how many of `size` weights a mask of `density` keeps.

    The count is ``round(density * size)``, with the product taken in float64
    and Python's `round` (half to even). Flooring, as the reference does, is a
    float trap: ``int(0.29 * 100) == 28``. Beyond ``2**53`` weights the
    float64 product is itself rounded; the count is still clipped to
    ``size``, and density 1 keeps all of them.

    Args:
        size: Number of weights, an int in ``[0, 2**63 - 1]`` (the most
            entries an array can have).
        density: Fraction of weights kept, a finite real in ``[0, 1]``.

    Returns:
        An int in ``[0, size]``.

    Raises:
        TypeError: If `size` is not an int or `density` is not a real number.
        ValueError: If `size` is out of range or `density` is outside
            ``[0, 1]``.

    Example:
        >>> topk_count(100, 0.29)
        29
        >>> topk_count(10, 0.25)  # 2.5 rounds half to even
        2
    """
    size = check_int(size, "size", maximum=MAX_SIZE)
    density = check_density(density)
    if density == 1.0:  # float(size) rounds sizes beyond 2**53
        return size
    return min(round(density * size), size)


def _checked_scores(scores: Any, name: str = "scores") -> np.ndarray:
    """Converts `scores` to a float array and rejects non-finite values."""
    return check_finite_array(as_float_array(scores, name), name)


def _topk_flat(flat: np.ndarray, k: int) -> np.ndarray:
    """Top-`k` mask of a 1-D array, ties broken by lowest index."""
    n = flat.size
    if k == 0:
        return np.zeros(n, dtype=bool)
    if k == n:
        return np.ones(n, dtype=bool)
    threshold = np.partition(flat, n - k)[n - k]
    mask = flat > threshold
    # The k-th largest value is itself kept, so at least one tie is missing.
    missing = k - int(np.count_nonzero(mask))
    mask[np.flatnonzero(flat == threshold)[:missing]] = True
    return mask


def _topk_rows(rows: np.ndarray, k: int) -> np.ndarray:
    """Top-`k` mask of every row of a 2-D array, ties broken by lowest index.

    The row-wise form of :func:`_topk_flat`, vectorised over the rows: one
    selection along the rows finds each row's k-th largest score, and the
    lowest-index ties fill each row's remaining slots. Used by the N:M and
    Wanda masks, which rank within groups and within output units.
    """
    width = rows.shape[1]
    if k == 0 or k == width:
        return np.full(rows.shape, k > 0, dtype=bool)
    kth = np.partition(rows, width - k, axis=1)[:, width - k, None]
    mask = rows > kth
    missing = k - np.count_nonzero(mask, axis=1, keepdims=True)
    ties = rows == kth
    mask |= ties & (np.cumsum(ties, axis=1) <= missing)
    return mask


def topk_mask(scores: Any, density: float) -> np.ndarray:
    """Keeps the `density` fraction of entries with the largest scores.

    Exactly ``k = topk_count(scores.size, density)`` entries are `True`.
    Among equal scores, the ones with the lowest flat (row-major) index are
    kept first; ``-0.0`` and ``+0.0`` compare equal and therefore tie.
    Scores are ranked by their exact value in their own dtype (float16,
    float32 or float64); nothing is converted to a lower precision.

    Args:
        scores: Array-like of floating dtype, any shape (an empty array gives
            an empty mask). Integer and bool arrays are rejected: scores and
            weights are floating point, and a silent cast would hide a bug.
        density: Fraction of entries kept, in ``[0, 1]``. 0 keeps nothing and
            1 keeps everything.

    Returns:
        A bool array with the shape of `scores`.

    Raises:
        TypeError: If `scores` does not have a floating dtype.
        ValueError: If `scores` holds NaN or infinity, or `density` is not in
            ``[0, 1]``.

    Example:
        >>> scores = np.array([[0.1, 0.9, 0.5], [0.5, 0.2, 0.5]])
        >>> topk_mask(scores, 0.5)  # k = 3; two of the three 0.5 ties
        array([[False,  True,  True],
               [ True, False, False]])
    """
    scores = _checked_scores(scores)
    k = topk_count(scores.size, density)
    return _topk_flat(scores.ravel(), k).reshape(scores.shape)


def magnitude_mask(weights: Any, density: float) -> np.ndarray:
    """Keeps the `density` fraction of weights with the largest magnitude.

    The zero-order baseline of the paper (section 5): ``topk_mask(|W|, v)``,
    with the same exact count and lowest-index tie rule.

    Args:
        weights: Array-like of floating dtype, any shape.
        density: Fraction of weights kept, in ``[0, 1]``.

    Returns:
        A bool array with the shape of `weights`.

    Raises:
        TypeError: If `weights` does not have a floating dtype.
        ValueError: If `weights` holds NaN or infinity, or `density` is not
            in ``[0, 1]``.

    Example:
        >>> magnitude_mask(np.array([0.5, -2.0, 1.0, -0.5]), 0.5)
        array([False,  True,  True, False])
    """
    weights = _checked_scores(weights, "weights")
    k = topk_count(weights.size, density)
    return _topk_flat(np.abs(weights).ravel(), k).reshape(weights.shape)


def threshold_mask(
    scores: Any,
    threshold: float,
    *,
    sigmoid: bool = False,
    min_density: float = 0.0,
) -> np.ndarray:
    """Keeps the entries whose score (or its sigmoid) exceeds `threshold`.

    ``M = 1[S > τ]``, or ``M = 1[σ(S) > τ]`` with ``sigmoid=True`` (soft
    movement pruning; σ is evaluated in float64). Both comparisons are made
    in float64, whatever the dtype of `scores`. If fewer than
    ``topk_count(n, min_density)`` entries pass, the mask is replaced by
    ``topk_mask(scores, min_density)`` (top-k of the raw scores, as the
    reference does). Soft movement pruning keeps at least 0.5% of every
    matrix: pass ``min_density=0.005``.

    Args:
        scores: Array-like of floating dtype, any shape.
        threshold: A finite real; in ``(0, 1)`` when `sigmoid` is true.
        sigmoid: Whether to compare ``σ(scores)`` instead of `scores`.
        min_density: Smallest fraction kept, in ``[0, 1]``.

    Returns:
        A bool array with the shape of `scores`.

    Raises:
        TypeError: If `scores` does not have a floating dtype or an argument
            has the wrong type.
        ValueError: If `scores` holds NaN or infinity, or `threshold` or
            `min_density` is out of range.

    Example:
        >>> s = np.array([-3.0, 0.5, 2.0, 0.0])
        >>> threshold_mask(s, 0.0)
        array([False,  True,  True, False])
        >>> threshold_mask(s, 0.9, sigmoid=True, min_density=0.5)
        array([False,  True,  True, False])
    """
    scores = _checked_scores(scores)
    min_density = check_density(min_density, "min_density")
    if not isinstance(sigmoid, bool | np.bool_):
        raise TypeError(f"`sigmoid` must be a bool. Received: {sigmoid=!r}")
    if sigmoid:
        threshold = check_real(
            threshold, "threshold", low=0, high=1, low_open=True, high_open=True
        )
        mask = _sigmoid(scores) > threshold
    else:
        # A float64 threshold: a Python float would be rounded to the
        # scores' dtype (NumPy 2 promotion), misplacing float16/float32
        # scores next to it, and overflow for thresholds beyond its range.
        mask = scores > np.float64(check_real(threshold, "threshold"))
    if np.count_nonzero(mask) < topk_count(scores.size, min_density):
        return topk_mask(scores, min_density)
    return mask
