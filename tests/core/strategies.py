"""Hypothesis strategies shared by the smpcore tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

FLOAT_DTYPES = (np.float16, np.float32, np.float64)
_WIDTHS = {np.float16: 16, np.float32: 32, np.float64: 64}

densities = st.floats(min_value=0.0, max_value=1.0)
small_shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6)


def _elements(dtype: type) -> st.SearchStrategy[float]:
    """Finite floats of `dtype`, often small integers and signed zeros so
    that ties are common."""
    width = _WIDTHS[dtype]
    return st.one_of(
        st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, 2.0]),
        st.integers(-3, 3).map(float),
        st.floats(allow_nan=False, allow_infinity=False, width=width),
    )


@st.composite
def score_arrays(
    draw: st.DrawFn, shape: st.SearchStrategy = small_shapes
) -> np.ndarray:
    """Finite float16/32/64 arrays of small shapes, with many ties."""
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    return draw(hnp.arrays(dtype, draw(shape), elements=_elements(dtype)))


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
