"""Tests for smpcore.allocation: SMP-L, SMP-S and global densities."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smpcore import (
    global_densities,
    smp_s_densities,
    topk_count,
    topk_mask,
    uniform_densities,
)

from .strategies import densities, score_arrays, stable_topk_oracle

# --- SMP-L ------------------------------------------------------------------


@given(st.dictionaries(st.text(min_size=1), st.integers(0, 10**6)), densities)
def test_uniform_densities(sizes: dict, density: float) -> None:
    result = uniform_densities(sizes, density)
    assert list(result) == list(sizes)
    assert all(v == density for v in result.values())


def test_uniform_densities_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match=r"sizes\['a'\]"):
        uniform_densities({"a": -1}, 0.5)
    with pytest.raises(TypeError, match="sizes"):
        uniform_densities([("a", 1)], 0.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-empty"):
        uniform_densities({"": 1}, 0.5)


# --- SMP-S ------------------------------------------------------------------


@st.composite
def smp_s_problems(draw: st.DrawFn, equal_sizes: bool = False) -> tuple:
    """(mean_scores, sizes, groups, density) for 1-3 groups of 1-6 layers."""
    scores, sizes, groups = {}, {}, {}
    for g in range(draw(st.integers(1, 3))):
        layers = draw(st.integers(1, 6))
        common = draw(st.integers(1, 2000))
        for layer in range(layers):
            name = f"layer_{layer}/type_{g}"
            scores[name] = draw(st.floats(1e-3, 1.0))
            sizes[name] = common if equal_sizes else draw(st.integers(1, 2000))
            groups[name] = f"type_{g}"
    return scores, sizes, groups, draw(densities)


def water_fill_oracle(a: list, n: list, density: float) -> list:
    """Independent oracle: bisection for c with Σ min(1, c a) n = v Σ n."""
    target = density * sum(n)
    lo, hi = 0.0, 1.0 / min(a)
    for _ in range(200):
        mid = (lo + hi) / 2
        kept = sum(min(1.0, mid * x) * m for x, m in zip(a, n, strict=True))
        lo, hi = (mid, hi) if kept < target else (lo, mid)
    return [min(1.0, hi * x) for x in a]


def by_group(groups: dict) -> dict:
    members: dict = {}
    for name, group in groups.items():
        members.setdefault(group, []).append(name)
    return members


@given(smp_s_problems())
def test_smp_s_continuous_is_water_filling(problem: tuple) -> None:
    scores, sizes, groups, density = problem
    result = smp_s_densities(scores, sizes, groups, density, exact=False)
    assert list(result) == list(scores)
    for names in by_group(groups).values():
        a, n = [scores[m] for m in names], [sizes[m] for m in names]
        expected = water_fill_oracle(a, n, density)
        got = [result[m] for m in names]
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
        kept = sum(v * m for v, m in zip(got, n, strict=True))
        assert kept == pytest.approx(density * sum(n), rel=1e-9, abs=1e-9)
        assert all(0.0 <= v <= 1.0 for v in got)


@given(smp_s_problems())
def test_smp_s_exact_meets_the_budget(problem: tuple) -> None:
    scores, sizes, groups, density = problem
    exact = smp_s_densities(scores, sizes, groups, density)
    shares = smp_s_densities(scores, sizes, groups, density, exact=False)
    for names in by_group(groups).values():
        counts = [topk_count(sizes[m], exact[m]) for m in names]
        total = sum(sizes[m] for m in names)
        assert sum(counts) == topk_count(total, density)
        for m, count in zip(names, counts, strict=True):
            assert 0.0 <= exact[m] <= 1.0
            assert exact[m] == count / sizes[m]
            assert abs(count - shares[m] * sizes[m]) < 1 + 1e-6


@given(smp_s_problems(equal_sizes=True))
def test_smp_s_equals_paper_formula_when_nothing_clips(problem: tuple) -> None:
    scores, sizes, groups, density = problem
    result = smp_s_densities(scores, sizes, groups, density, exact=False)
    for names in by_group(groups).values():
        a = np.array([scores[m] for m in names])
        paper = a / a.sum() * density * len(names)  # v_l = a_l/Σa · v · L
        if np.all(paper <= 1.0):
            got = [result[m] for m in names]
            np.testing.assert_allclose(got, paper, rtol=1e-12, atol=1e-15)


def test_smp_s_redistributes_the_excess() -> None:
    names = ["l0", "l1", "l2"]
    scores = dict(zip(names, [0.9, 0.05, 0.05], strict=True))
    sizes = dict.fromkeys(names, 100)
    groups = dict.fromkeys(names, "q")
    # The paper's formula gives l0: 0.9 / 1.0 * 0.5 * 3 = 1.35 > 1.
    result = smp_s_densities(scores, sizes, groups, 0.5)
    assert result == {"l0": 1.0, "l1": 0.25, "l2": 0.25}


def test_smp_s_rejects_mismatched_keys() -> None:
    with pytest.raises(ValueError, match=r"missing from `sizes`: \['b'\]"):
        smp_s_densities(
            {"a": 0.5, "b": 0.5}, {"a": 1}, {"a": "g", "b": "g"}, 0.5
        )
    with pytest.raises(ValueError, match=r"missing from `mean_scores`: \['c'"):
        smp_s_densities({"a": 0.5}, {"a": 1, "c": 1}, {"a": "g", "c": "g"}, 0.5)


@pytest.mark.parametrize(
    ("scores", "sizes", "groups", "error", "match"),
    [
        ({"a": 0.0}, {"a": 1}, {"a": "g"}, ValueError, "mean_scores"),
        ({"a": -1.0}, {"a": 1}, {"a": "g"}, ValueError, "mean_scores"),
        ({"a": math.nan}, {"a": 1}, {"a": "g"}, ValueError, "mean_scores"),
        ({"a": math.inf}, {"a": 1}, {"a": "g"}, ValueError, "mean_scores"),
        ({"a": 0.5}, {"a": 0}, {"a": "g"}, ValueError, "sizes"),
        ({"a": 0.5}, {"a": 1}, {"a": 3}, TypeError, "groups"),
        ({"a": 0.5}, {"a": 1}, ["a"], TypeError, "groups"),
        ({"a": "x"}, {"a": 1}, {"a": "g"}, TypeError, "mean_scores"),
    ],
)
def test_smp_s_rejects_bad_inputs(
    scores: object, sizes: object, groups: object, error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        smp_s_densities(scores, sizes, groups, 0.5)  # type: ignore[arg-type]


def test_smp_s_rejects_bad_density() -> None:
    with pytest.raises(ValueError, match="density"):
        smp_s_densities({"a": 0.5}, {"a": 1}, {"a": "g"}, 1.01)


# --- global -----------------------------------------------------------------


@st.composite
def score_dicts(draw: st.DrawFn) -> dict:
    names = draw(
        st.lists(st.text(min_size=1, max_size=5), max_size=4, unique=True)
    )
    return {name: draw(score_arrays()) for name in names}


@given(score_dicts(), densities)
def test_global_densities_reproduce_the_global_mask(
    scores: dict, density: float
) -> None:
    result = global_densities(scores, density)
    assert list(result) == list(scores)
    if not scores:
        return
    flat = np.concatenate(
        [np.asarray(s, dtype=np.float64).ravel() for s in scores.values()]
    )
    k = topk_count(flat.size, density)
    global_mask = stable_topk_oracle(flat, k)
    start = 0
    for name, s in scores.items():
        expected = global_mask[start : start + s.size].reshape(s.shape)
        start += s.size
        np.testing.assert_array_equal(topk_mask(s, result[name]), expected)
        kept = int(np.count_nonzero(expected))
        if s.size:
            assert result[name] == kept / s.size
            assert topk_count(s.size, result[name]) == kept
        else:
            assert result[name] == density


def test_global_ties_follow_mapping_order() -> None:
    scores = {"z": np.zeros(3), "a": np.zeros(3)}
    assert global_densities(scores, 0.5) == {"z": 1.0, "a": 0.0}


def test_global_densities_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match=r"scores\['a'\]"):
        global_densities({"a": np.array([np.nan])}, 0.5)
    with pytest.raises(TypeError, match=r"scores\['a'\]"):
        global_densities({"a": np.array([1, 2])}, 0.5)
    with pytest.raises(ValueError, match="density"):
        global_densities({"a": np.zeros(2)}, -0.5)


@pytest.mark.parametrize("density", [0.0, 1.0])
def test_smp_s_extreme_densities(density: float) -> None:
    # Equal scores where float rounding pushes c·a just above 1.
    names = ["a", "b", "c"]
    scores = dict.fromkeys(names, 0.2)
    sizes = dict(zip(names, [26, 20, 31], strict=True))
    groups = dict.fromkeys(names, "g")
    for exact in (True, False):
        result = smp_s_densities(scores, sizes, groups, density, exact=exact)
        assert result == dict.fromkeys(names, density)


@given(
    st.lists(
        st.tuples(st.floats(0, 50), st.integers(0, 50)), min_size=1, max_size=6
    ),
    st.data(),
)
def test_apportion_meets_any_feasible_total(
    pairs: list, data: st.DataObject
) -> None:
    # The private rounding step, also for totals far from sum(quotas).
    from smpcore.allocation import _apportion

    quotas = [q for q, _ in pairs]
    caps = [c for _, c in pairs]
    total = data.draw(st.integers(0, sum(caps)))
    counts = _apportion(quotas, caps, total)
    assert sum(counts) == total
    assert all(0 <= k <= c for k, c in zip(counts, caps, strict=True))
