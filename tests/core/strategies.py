"""Hypothesis strategies shared by the smpcore tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

FLOAT_DTYPES = (np.float16, np.float32, np.float64)
_WIDTHS = {np.float16: 16, np.float32: 32, np.float64: 64}

densities = st.floats(min_value=0.0, max_value=1.0)
small_shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6)


def float_elements(
    dtype: type, bound: float | None = None
) -> st.SearchStrategy[float]:
    """Finite floats of `dtype`, often small integers and signed zeros so
    that ties are common; within ``[-bound, bound]`` if given (then float16
    values without subnormals, exact in every dtype and in products)."""
    floats = (
        st.floats(allow_nan=False, allow_infinity=False, width=_WIDTHS[dtype])
        if bound is None
        else st.floats(-bound, bound, allow_subnormal=False, width=16)
    )
    return st.one_of(
        st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, 2.0]),
        st.integers(-3, 3).map(float),
        floats,
    )


@st.composite
def score_arrays(
    draw: st.DrawFn,
    shape: st.SearchStrategy = small_shapes,
    bound: float | None = None,
) -> np.ndarray:
    """Finite float16/32/64 arrays of small shapes, with many ties."""
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    elements = float_elements(dtype, bound)
    return draw(hnp.arrays(dtype, draw(shape), elements=elements))


@st.composite
def bool_masks(draw: st.DrawFn, max_side: int = 40) -> np.ndarray:
    """Bool arrays of any density (sparse, dense, all-ones, all-zeros)."""
    shape = draw(
        hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=max_side)
    )
    density = draw(st.sampled_from([0.0, 0.01, 0.05, 0.3, 0.5, 0.9, 0.99, 1.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    return np.random.default_rng(seed).random(shape) < density


def stable_topk_oracle(scores: np.ndarray, k: int) -> np.ndarray:
    """Independent top-k: a stable full sort of ``-scores``."""
    flat = np.asarray(scores).ravel()
    mask = np.zeros(flat.size, dtype=bool)
    mask[np.argsort(-flat, kind="stable")[:k]] = True
    return mask.reshape(np.shape(scores))


@st.composite
def nm_structures(draw: st.DrawFn, max_m: int = 8) -> tuple[int, int]:
    """Pairs ``(n, m)`` with ``1 <= n <= m <= max_m``."""
    m = draw(st.integers(1, max_m))
    return draw(st.integers(1, m)), m


@st.composite
def nm_masks(draw: st.DrawFn, max_m: int = 8) -> tuple[np.ndarray, int, int]:
    """Exact N:M bool masks along axis 0, built without `nm_mask`: a random
    ranking of every group keeps its `n` first entries. Returns
    ``(mask, n, m)``."""
    n, m = draw(nm_structures(max_m))
    groups = draw(st.integers(0, 5))
    rest = draw(
        hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=5)
    )
    seed = draw(st.integers(0, 2**32 - 1))
    keys = np.random.default_rng(seed).random((groups, m, *rest))
    ranks = keys.argsort(axis=1, kind="stable").argsort(axis=1, kind="stable")
    return (ranks < n).reshape(groups * m, *rest), n, m


def stable_nm_oracle(scores: np.ndarray, n: int, m: int) -> np.ndarray:
    """Independent N:M mask along axis 0: :func:`stable_topk_oracle` on each
    group of `m` rows of each column, in Python loops; a last group of
    ``r < m`` rows keeps ``min(n, r)``."""
    columns = scores.reshape(scores.shape[0], -1) if scores.size else None
    mask = np.zeros(scores.shape, dtype=bool)
    if columns is None:
        return mask
    flat = mask.reshape(columns.shape)
    for column in range(columns.shape[1]):
        for start in range(0, columns.shape[0], m):
            group = columns[start : start + m, column]
            kept = stable_topk_oracle(group, min(n, group.size))
            flat[start : start + m, column] = kept
    return mask
