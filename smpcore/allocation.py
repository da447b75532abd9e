"""How a density budget is shared between the prunable matrices of a model.

Three allocations from SMP (Jiang et al., ACL 2023, arXiv:2210.06210):

* :func:`uniform_densities` -- SMP-L, every matrix keeps the same fraction;
* :func:`smp_s_densities` -- SMP-S, each group of matrices (one matrix type
  across layers) shares its budget in proportion to the mean sigmoid score;
* :func:`global_densities` -- one top-k over all matrices together.

All three return a ``dict`` mapping matrix names to densities, to be passed
to :func:`smpcore.topk_mask` (or a layer's ``set_density``) per matrix.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from smpcore.masks import topk_count
from smpcore.validation import (
    MAX_SIZE,
    as_float_array,
    check_density,
    check_finite_array,
    check_int,
    check_mapping,
    check_real,
    check_same_keys,
)

__all__ = [
    "global_densities",
    "smp_s_densities",
    "uniform_densities",
]


def _checked_sizes(sizes: Any, minimum: int = 0) -> dict[str, int]:
    """Checks a mapping of matrix names to weight counts."""
    sizes = check_mapping(sizes, "sizes")
    return {
        name: check_int(
            size, f"sizes[{name!r}]", minimum=minimum, maximum=MAX_SIZE
        )
        for name, size in sizes.items()
    }


def uniform_densities(
    sizes: Mapping[str, int], density: float
) -> dict[str, float]:
    """SMP-L: every matrix keeps the same fraction `density`.

    Args:
        sizes: Mapping of matrix names to weight counts (ints ``>= 0``).
        density: Fraction kept, in ``[0, 1]``.

    Returns:
        A dict with the keys of `sizes`, in the same order, all `density`.

    Raises:
        TypeError: If `sizes` is not a mapping of names to ints.
        ValueError: If a size is negative or `density` is out of range.

    Example:
        >>> uniform_densities({"query": 16, "key": 16}, 0.25)
        {'query': 0.25, 'key': 0.25}
    """
    checked = _checked_sizes(sizes)
    density = check_density(density)
    return {name: density for name in checked}


def _water_fill(a: list[float], n: list[int], density: float) -> list[float]:
    """Densities ``v_i = c · a_i`` clipped to 1, with ``Σ v_i n_i = v Σ n``.

    Matrices whose share would exceed 1 are clipped, and the remaining budget
    is shared again among the others, in proportion to ``a``, until none
    exceeds 1. Each round clips at least one more matrix and raises the scale
    ``c``, so at most ``len(a)`` rounds run. The scores of the free matrices
    are divided by their largest one first, so neither ``Σ a_i n_i`` nor the
    scale overflows or underflows whatever the magnitude of ``a``.
    """
    clipped: set[int] = set()
    while True:
        free = [i for i in range(len(a)) if i not in clipped]
        top = max(a[i] for i in free)
        w = {i: a[i] / top for i in free}  # in [0, 1], the largest is 1
        budget = density * sum(n) - sum(n[i] for i in clipped)
        scale = max(budget, 0.0) / sum(w[i] * n[i] for i in free)
        over = {i for i in free if w[i] * scale > 1.0}
        if len(over) in (0, len(free)):  # all over: float error at density 1
            return [
                1.0 if i in clipped else min(w[i] * scale, 1.0)
                for i in range(len(a))
            ]
        clipped |= over


def _apportion(quotas: list[float], caps: list[int], total: int) -> list[int]:
    """Rounds `quotas` to ints in ``[0, caps]`` that sum to `total`.

    Largest-remainder (Hamilton) rounding: every count is the floor or the
    ceiling of its quota (up to float error); ties go to the earlier matrix.
    `total` is clipped to ``[0, sum(caps)]`` first (a float64 product can
    round past ``sum(caps)`` beyond 2**53 weights), so the loops end: each
    pass moves every count that can move by one.
    """
    total = min(max(total, 0), sum(caps))
    counts = [
        min(max(math.floor(q), 0), c) for q, c in zip(quotas, caps, strict=True)
    ]
    order = sorted(range(len(quotas)), key=lambda i: (counts[i] - quotas[i], i))
    rest = total - sum(counts)
    while rest > 0:
        for i in order:
            if rest > 0 and counts[i] < caps[i]:
                counts[i] += 1
                rest -= 1
    while rest < 0:
        for i in reversed(order):
            if rest < 0 and counts[i] > 0:
                counts[i] -= 1
                rest += 1
    return counts


def _group_densities(
    a: list[float], n: list[int], density: float, exact: bool
) -> list[float]:
    """SMP-S densities of the matrices of one group."""
    shares = _water_fill(a, n, density)
    if not exact:
        return shares
    total = round(density * sum(n))  # topk_count, for any total size
    counts = _apportion(
        [v * m for v, m in zip(shares, n, strict=True)], n, total
    )
    return [count / m for count, m in zip(counts, n, strict=True)]


def _checked_smp_s_inputs(
    mean_scores: Any, sizes: Any, groups: Any
) -> tuple[dict[str, float], dict[str, int], dict[str, str]]:
    """Checks the three mappings of :func:`smp_s_densities`."""
    check_mapping(mean_scores, "mean_scores")
    checked_sizes = _checked_sizes(sizes, minimum=1)
    check_mapping(groups, "groups")
    check_same_keys(mean_scores=mean_scores, sizes=sizes, groups=groups)
    scores = {
        name: check_real(a, f"mean_scores[{name!r}]", low=0.0, low_open=True)
        for name, a in mean_scores.items()
    }
    for name, group in groups.items():
        if not isinstance(group, str):
            raise TypeError(
                f"`groups` values must be str. Received: groups[{name!r}]="
                f"{group!r} of type {type(group).__name__}"
            )
    return scores, checked_sizes, dict(groups)


def smp_s_densities(
    mean_scores: Mapping[str, float],
    sizes: Mapping[str, int],
    groups: Mapping[str, str],
    density: float,
    *,
    exact: bool = True,
) -> dict[str, float]:
    """SMP-S: each group shares its budget in proportion to the scores.

    For a group ``g`` (one matrix type across the layers) with matrices
    ``l`` of ``n_l`` weights and mean sigmoid scores ``a_l`` (see
    :func:`smpcore.mean_sigmoid_scores`), the paper (section 3.2) sets
    ``v_l = a_l / Σ_l' a_l' · v · L``. This function uses the weight-count
    consistent form

    .. math::

        v_l = a_l \\cdot \\frac{v \\sum_{l'} n_{l'}}{\\sum_{l'} a_{l'} n_{l'}},

    which keeps ``v`` of the group's weights whatever the sizes, and equals
    the paper's formula when all ``n_l`` of a group are equal. Densities
    above 1 are clipped and the excess goes to the other matrices of the
    group in proportion to ``a`` (water-filling), so the budget is met
    rather than silently missed as in the reference.

    Guarantee with ``exact=True`` (the default): the shares are rounded to
    whole weights by largest remainder, each ``v_l`` is ``k_l / n_l`` with an
    int ``k_l`` in ``[0, n_l]``, ``topk_count(n_l, v_l) == k_l``, and
    ``Σ_l k_l == topk_count(Σ_l n_l, density)`` for every group: the group
    keeps exactly as many weights as one top-k over its matrices would (for
    groups of up to 2**53 weights, where float64 counts are exact). With
    ``exact=False`` the unrounded water-filled shares are returned.

    Args:
        mean_scores: Matrix name to ``a_l``, a finite real ``> 0``.
        sizes: Matrix name to ``n_l``, an int ``>= 1``.
        groups: Matrix name to its group label (a str, e.g. ``"query"``).
        density: Fraction kept in every group, in ``[0, 1]``.
        exact: Whether to round the shares to whole weights (see above).

    Returns:
        A dict with the keys of `mean_scores`, in the same order, and values
        in ``[0, 1]``.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If the three mappings do not have the same keys (the
            message lists the differing names), a score is not ``> 0``, a
            size is ``< 1``, or `density` is out of range.

    Example:
        >>> smp_s_densities(
        ...     {"l0/q": 0.2, "l1/q": 0.6, "l0/k": 0.5, "l1/k": 0.5},
        ...     {"l0/q": 100, "l1/q": 100, "l0/k": 100, "l1/k": 100},
        ...     {"l0/q": "q", "l1/q": "q", "l0/k": "k", "l1/k": "k"},
        ...     0.5,
        ... )
        {'l0/q': 0.25, 'l1/q': 0.75, 'l0/k': 0.5, 'l1/k': 0.5}
    """
    scores, checked_sizes, checked_groups = _checked_smp_s_inputs(
        mean_scores, sizes, groups
    )
    density = check_density(density)
    members: dict[str, list[str]] = {}
    for name in scores:
        members.setdefault(checked_groups[name], []).append(name)
    result: dict[str, float] = {}
    for names in members.values():
        values = _group_densities(
            [scores[m] for m in names],
            [checked_sizes[m] for m in names],
            density,
            bool(exact),
        )
        result.update(zip(names, values, strict=True))
    return {name: result[name] for name in scores}


def _checked_score_arrays(scores: Any) -> dict[str, np.ndarray]:
    """Checks a mapping of names to finite float arrays."""
    scores = check_mapping(scores, "scores")
    return {
        name: check_finite_array(
            as_float_array(s, f"scores[{name!r}]"), f"scores[{name!r}]"
        )
        for name, s in scores.items()
    }


def _kept_counts(arrays: list[np.ndarray], k: int) -> list[int]:
    """Per-array counts of one top-`k` over the concatenation of `arrays`."""
    flat = np.concatenate([a.ravel() for a in arrays])
    n = flat.size
    if k in (0, n):
        return [0 if k == 0 else a.size for a in arrays]
    flat.partition(n - k)
    threshold = flat[n - k]
    above = [int(np.count_nonzero(a > threshold)) for a in arrays]
    ties_left = k - sum(above)
    counts = []
    for a, count in zip(arrays, above, strict=True):
        taken = min(ties_left, int(np.count_nonzero(a == threshold)))
        ties_left -= taken
        counts.append(count + taken)
    return counts


def global_densities(
    scores: Mapping[str, Any], density: float
) -> dict[str, float]:
    """Densities of one top-k over all matrices together (global pruning).

    The matrices are flattened (row-major) and concatenated in the mapping's
    iteration order; ``k = topk_count(total size, density)`` entries with the
    largest scores are kept, ties going to the lowest index in that
    concatenation. The result gives each matrix its kept fraction
    ``kept / size``. Because ``topk_count(size, kept / size) == kept`` in
    float64, applying ``topk_mask(scores[name], result[name])`` to every
    matrix reproduces the global mask exactly: a matrix's kept entries are
    those above the global threshold plus its lowest-index ties. It runs in
    O(n) time (one selection) on one concatenated copy of all scores.

    Args:
        scores: Mapping of matrix names to score arrays of floating dtype
            (dtypes may differ; they are compared exactly).
        density: Fraction kept over all matrices, in ``[0, 1]``.

    Returns:
        A dict with the keys of `scores`, in the same order. An empty matrix
        gets `density` (any value keeps nothing of it).

    Raises:
        TypeError: If `scores` is not a mapping or an array does not have a
            floating dtype.
        ValueError: If an array holds NaN or infinity, or `density` is out of
            range.

    Example:
        >>> scores = {"a": np.array([3.0, 1.0]), "b": np.array([2.0, 0.0, 5.0])}
        >>> global_densities(scores, 0.4)  # k = 2 of 5: 5.0 in b, 3.0 in a
        {'a': 0.5, 'b': 0.3333333333333333}
    """
    arrays = _checked_score_arrays(scores)
    density = check_density(density)
    if not arrays:
        return {}
    total = sum(a.size for a in arrays.values())
    counts = _kept_counts(list(arrays.values()), topk_count(total, density))
    return {
        name: count / a.size if a.size else density
        for (name, a), count in zip(arrays.items(), counts, strict=True)
    }
