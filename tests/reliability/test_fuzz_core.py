"""Bad-input fuzzing of every public function of `smpcore` (issue 9, item 3).

The contract under test: a call either returns a correct result, checked
against an independent oracle (NumPy sorts, SciPy's `expit`, closed forms),
or raises `ValueError`/`TypeError` whose message names one of the arguments
that broke the documented preconditions. Any other exception (IndexError,
ZeroDivisionError, OverflowError, NumPy's AxisError...), any warning
(warnings are errors here: an overflow warning next to a result is a silent
wrong answer waiting to happen) and any result that differs from the oracle
fails the test.

Inputs: arrays of every shape (0-d, empty, empty with a huge declared
axis) and dtype (floats, ints, bool, complex, object, strings, datetimes)
with NaN and infinities, ragged nested lists, scalars of every kind,
densities of the wrong type or outside [0, 1], and mappings with missing
or extra keys and wrong value types. Validity is decided by a small oracle
written from the docstrings, not from the implementation.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from contract import (
    FUZZ,
    Outcome,
    as_float,
    density_ok,
    expect,
    int_ok,
    real_ok,
)
from contract import attempt as _attempt
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.special import expit

import smpcore

MAX_SIZE = 2**63 - 1


def attempt(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Outcome:
    """`contract.attempt`, with warnings as errors (NumPy code only)."""
    return _attempt(fn, *args, warnings_are_errors=True, **kwargs)


# === Strategies ===

SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
FLOAT_DTYPES = (np.float16, np.float32, np.float64)
OTHER_DTYPES = (
    np.int8,
    np.int64,
    np.uint8,
    np.bool_,
    np.complex64,
    np.complex128,
    np.dtype("U3"),
    np.dtype("S2"),
    np.dtype("M8[s]"),
)


def float_arrays(finite: bool = False) -> st.SearchStrategy[np.ndarray]:
    """Float arrays of any shape; NaN and ±inf unless `finite`."""
    return st.sampled_from(FLOAT_DTYPES).flatmap(
        lambda dtype: hnp.arrays(
            dtype,
            SHAPES,
            elements=hnp.from_dtype(
                np.dtype(dtype), allow_nan=not finite, allow_infinity=not finite
            ),
        )
    )


def huge_empty() -> st.SearchStrategy[np.ndarray]:
    """Empty arrays with a huge declared axis: (0, 2**40) costs nothing."""
    return st.tuples(
        st.sampled_from(FLOAT_DTYPES + (np.bool_,)),
        st.integers(2**20, 2**40),
        st.booleans(),
    ).map(lambda t: np.empty((0, t[1]) if t[2] else (t[1], 0), t[0]))


def odd_values() -> st.SearchStrategy[Any]:
    """Things that are not arrays of numbers, or not rectangular."""
    return st.one_of(
        st.none(),
        st.text(max_size=4),
        st.binary(max_size=4),
        st.just([[1.0], [1.0, 2.0]]),  # ragged
        st.just([[1.0, 2.0], 3.0]),
        st.lists(st.floats(), max_size=4).map(
            lambda xs: np.array(xs, dtype=object)
        ),
        st.just({"a": 1.0}),
        st.just(object()),
        st.just(1 + 2j),
        st.just(10**400),
    )


def any_arrays() -> st.SearchStrategy[Any]:
    """Anything a caller might pass where an array is expected."""
    return st.one_of(
        float_arrays(),
        float_arrays(finite=True),
        st.sampled_from(OTHER_DTYPES).flatmap(lambda d: hnp.arrays(d, SHAPES)),
        huge_empty(),
        st.lists(st.floats(), max_size=5),
        st.floats(),
        odd_values(),
    )


def any_reals() -> st.SearchStrategy[Any]:
    """Numbers of every type and range, and non-numbers."""
    return st.one_of(
        st.floats(-2.0, 3.0),
        st.floats(),
        st.integers(-3, 3),
        st.sampled_from(
            [
                0.0,
                1.0,
                -0.0,
                5e-324,
                1.0 - 2**-53,
                1.0 + 2**-52,
                np.float32(0.25),
                np.float16(1.0),
                np.float64(np.nan),
                np.int64(1),
                np.uint8(0),
                True,
                np.bool_(False),
                Fraction(1, 3),
                Fraction(10**400, 3),
                Decimal("0.5"),
                10**400,
                -(10**400),
                1j,
                "0.5",
                None,
                [0.5],
                np.array(0.5),
            ]
        ),
    )


def any_ints() -> st.SearchStrategy[Any]:
    """Integers of every size and type, and non-integers."""
    return st.one_of(
        st.integers(-3, 40),
        st.integers(),
        st.sampled_from(
            [
                MAX_SIZE,
                MAX_SIZE + 1,
                2**100,
                np.int64(7),
                np.uint64(2**64 - 1),
                np.int8(-1),
                True,
                3.0,
                np.float64(2.0),
                "3",
                None,
                Fraction(4, 1),
            ]
        ),
    )


NAMES = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
    min_size=1,
    max_size=6,
)
ANY_KEYS = st.one_of(
    NAMES, st.just(""), st.integers(-2, 2), st.none(), st.just(("a",))
)


def mappings(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mappings of names to `values` (some keys bad), or non-mappings."""
    return st.one_of(
        st.dictionaries(NAMES, values, max_size=4),
        st.dictionaries(ANY_KEYS, values, max_size=3),
        st.lists(st.tuples(NAMES, values), max_size=2),
        st.none(),
        st.text(max_size=3),
    )


# === Validity oracles, written from the docstrings ===


def name_ok(key: Any) -> bool:
    return isinstance(key, str) and key != ""


def mapping_ok(value: Any) -> bool:
    return isinstance(value, Mapping) and all(name_ok(k) for k in value)


def array_or_none(value: Any) -> np.ndarray | None:
    """`np.asarray(value)`, or None where NumPy cannot make an array."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(value)
    except (ValueError, TypeError, OverflowError):
        return None


def float_array(
    value: Any, finite: bool = True, nonempty: bool = False
) -> np.ndarray | None:
    """The value as a float array if it meets the documented contract."""
    array = array_or_none(value)
    if array is None or array.dtype.kind != "f":
        return None
    if finite and not np.isfinite(array).all():
        return None
    if nonempty and array.size == 0:
        return None
    return array


# === Result oracles ===


def topk_oracle(flat: np.ndarray, k: int) -> np.ndarray:
    """Top-k by a stable full sort: ties go to the lowest index."""
    order = np.argsort(-flat.astype(np.float64), kind="stable")
    mask = np.zeros(flat.size, dtype=bool)
    mask[order[:k]] = True
    return mask


def count_oracle(size: int, density: Any) -> int:
    """`round(density * size)` in float64, half to even (documented)."""
    return round(as_float(density) * size)


def close(a: float, b: float, rel: float = 1e-9) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-300)


# === Masks ===


@FUZZ
@given(size=any_ints(), density=any_reals())
def test_topk_count(size, density, reliability_counter):
    reliability_counter.add("cases")
    bad = [
        n
        for n, ok in (
            ("size", int_ok(size, 0, MAX_SIZE)),
            ("density", density_ok(density)),
        )
        if not ok
    ]
    k = expect(attempt(smpcore.topk_count, size, density), bad)
    if not bad:
        assert type(k) is int and 0 <= k <= int(size)
        assert abs(k - as_float(density) * int(size)) <= 0.5 + 1e-6 * int(size)
        if int(size) < 2**50:
            assert k == count_oracle(int(size), density)


@FUZZ
@given(scores=any_arrays(), density=any_reals())
def test_topk_mask(scores, density, reliability_counter):
    reliability_counter.add("cases")
    array = float_array(scores)
    bad = [
        n
        for n, ok in (
            ("scores", array is not None),
            ("density", density_ok(density)),
        )
        if not ok
    ]
    mask = expect(attempt(smpcore.topk_mask, scores, density), bad)
    if not bad:
        k = count_oracle(array.size, density)
        assert mask.dtype == np.bool_ and mask.shape == array.shape
        assert int(mask.sum()) == k
        assert np.array_equal(mask.ravel(), topk_oracle(array.ravel(), k))


@FUZZ
@given(weights=any_arrays(), density=any_reals())
def test_magnitude_mask(weights, density, reliability_counter):
    reliability_counter.add("cases")
    array = float_array(weights)
    bad = [
        n
        for n, ok in (
            ("weights", array is not None),
            ("density", density_ok(density)),
        )
        if not ok
    ]
    mask = expect(attempt(smpcore.magnitude_mask, weights, density), bad)
    if not bad:
        k = count_oracle(array.size, density)
        expected = topk_oracle(np.abs(array).ravel(), k)
        assert np.array_equal(mask.ravel(), expected)


@FUZZ
@given(
    scores=st.one_of(float_arrays(finite=True), any_arrays()),
    threshold=any_reals(),
    sigmoid=st.one_of(
        st.booleans(), st.sampled_from([np.bool_(True), 1, "yes", None])
    ),
    min_density=st.one_of(st.sampled_from([0.0, 0.005, 0.5]), any_reals()),
)
def test_threshold_mask(
    scores, threshold, sigmoid, min_density, reliability_counter
):
    reliability_counter.add("cases")
    array = float_array(scores)
    use_sigmoid = isinstance(sigmoid, bool | np.bool_) and bool(sigmoid)
    threshold_ok = (
        real_ok(threshold, 0, 1, low_open=True, high_open=True)
        if use_sigmoid
        else real_ok(threshold)
    )
    checks = (
        ("scores", array is not None),
        ("sigmoid", isinstance(sigmoid, bool | np.bool_)),
        ("threshold", threshold_ok),
        ("min_density", density_ok(min_density)),
    )
    bad = [n for n, ok in checks if not ok]
    outcome = attempt(
        smpcore.threshold_mask,
        scores,
        threshold,
        sigmoid=sigmoid,
        min_density=min_density,
    )
    mask = expect(outcome, bad)
    if bad:
        return
    t = as_float(threshold)
    exact = array.astype(np.float64)  # float16/32 -> float64 is exact
    values = expit(exact) if use_sigmoid else exact
    expected = values > t
    k = count_oracle(array.size, min_density)
    if expected.sum() < k:
        expected = topk_oracle(array.ravel(), k).reshape(array.shape)
    with np.errstate(over="ignore", invalid="ignore"):
        near = np.abs(values - t) <= 1e-12 * max(1.0, abs(t))
    if not (use_sigmoid and near.any()):  # sigmoid ulps may decide these
        assert np.array_equal(mask, expected)
    assert mask.sum() >= k


# === Score regulariser ===


@FUZZ
@given(x=any_arrays())
def test_sigmoid(x, reliability_counter):
    reliability_counter.add("cases")
    array = float_array(x, finite=False)
    result = expect(
        attempt(smpcore.sigmoid, x), [] if array is not None else ["x"]
    )
    if array is not None:
        assert result.dtype == np.float64 and result.shape == array.shape
        np.testing.assert_allclose(
            result, expit(array.astype(np.float64)), rtol=1e-12, atol=0
        )


@FUZZ
@given(scores=any_arrays())
def test_sigmoid_l1_and_grad(scores, reliability_counter):
    reliability_counter.add("cases")
    array = float_array(scores, nonempty=True)
    bad = [] if array is not None else ["scores"]
    value = expect(attempt(smpcore.sigmoid_l1, scores), bad)
    grad = expect(attempt(smpcore.sigmoid_l1_grad, scores), bad)
    if array is None:
        return
    x = array.astype(np.float64)
    assert close(value, float(np.mean(expit(x))), 1e-12)
    np.testing.assert_allclose(
        grad, expit(x) * expit(-x) / x.size, rtol=1e-9, atol=1e-300
    )


@FUZZ
@given(
    scores=mappings(st.one_of(float_arrays(finite=True), any_arrays())),
    temperature=st.one_of(st.sampled_from([1.0, 4.0]), any_reals()),
)
def test_score_mapping_statistics(scores, temperature, reliability_counter):
    reliability_counter.add("cases")
    arrays = {}
    scores_ok = mapping_ok(scores) and len(scores) > 0
    if scores_ok:
        arrays = {k: float_array(v, nonempty=True) for k, v in scores.items()}
        scores_ok = all(a is not None for a in arrays.values())
    bad = [] if scores_ok else ["scores"]
    total = expect(attempt(smpcore.sigmoid_l1_total, scores), bad)
    p_ok = real_ok(temperature, 0.0, low_open=True)
    outcome = attempt(
        smpcore.mean_sigmoid_scores, scores, temperature=temperature
    )
    means = expect(outcome, bad + ([] if p_ok else ["temperature"]))
    if not scores_ok:
        return
    per = [float(np.mean(expit(a.astype(np.float64)))) for a in arrays.values()]
    assert close(total, float(np.mean(per)), 1e-12)
    if p_ok:
        p = as_float(temperature)
        with np.errstate(over="ignore", under="ignore"):
            want = {
                k: float(np.mean(expit(a.astype(np.float64) / p)))
                for k, a in arrays.items()
            }
        assert list(means) == list(want)
        assert all(close(means[k], want[k], 1e-12) for k in want)


# === Allocation ===


@FUZZ
@given(
    sizes=mappings(st.one_of(st.integers(0, 10**6), any_ints())),
    density=any_reals(),
)
def test_uniform_densities(sizes, density, reliability_counter):
    reliability_counter.add("cases")
    sizes_ok = mapping_ok(sizes) and all(
        int_ok(v, 0, MAX_SIZE) for v in sizes.values()
    )
    checks = (("sizes", sizes_ok), ("density", density_ok(density)))
    bad = [n for n, ok in checks if not ok]
    result = expect(attempt(smpcore.uniform_densities, sizes, density), bad)
    if not bad:
        assert result == {k: as_float(density) for k in sizes}
        assert list(result) == list(sizes)


@st.composite
def smp_s_problems(draw):
    """A valid SMP-S problem, then zero or more corruptions of it."""
    names = draw(st.lists(NAMES, min_size=1, max_size=5, unique=True))
    scores = {
        n: draw(
            st.one_of(
                st.floats(1e-6, 1.0),
                st.sampled_from([5e-324, 1e-300, 1e300, 1.7e308]),
            )
        )
        for n in names
    }
    sizes = {
        n: draw(st.one_of(st.integers(1, 50), st.sampled_from([MAX_SIZE])))
        for n in names
    }
    groups = {n: draw(st.sampled_from(["q", "k", "v"])) for n in names}
    density = draw(st.one_of(st.floats(0.0, 1.0), any_reals()))
    problem = {"scores": scores, "sizes": sizes, "groups": groups}
    for _ in range(draw(st.integers(0, 2))):
        which = draw(st.sampled_from(sorted(problem)))
        target = problem[which]
        action = draw(st.sampled_from(["drop", "extra", "value", "replace"]))
        if not isinstance(target, dict):
            continue
        if action == "drop" and target:
            del target[draw(st.sampled_from(sorted(target)))]
        elif action == "extra":
            target[draw(NAMES)] = draw(st.floats(0.1, 1.0) | st.integers(1, 9))
        elif action == "value" and target:
            key = draw(st.sampled_from(sorted(target)))
            target[key] = draw(st.one_of(any_reals(), any_ints()))
        elif action == "replace":
            problem[which] = draw(st.one_of(st.none(), st.text(max_size=2)))
    return problem, density, draw(st.booleans())


def smp_s_bad(problem: dict, density: Any) -> list[str]:
    """The broken preconditions of `smp_s_densities`."""
    values_ok = {
        "scores": lambda a: real_ok(a, 0.0, low_open=True),
        "sizes": lambda n: int_ok(n, 1, MAX_SIZE),
        "groups": lambda g: isinstance(g, str),
    }
    names = {"scores": "mean_scores", "sizes": "sizes", "groups": "groups"}
    bad = [
        names[key]
        for key, ok in values_ok.items()
        if not mapping_ok(problem[key])
        or not all(ok(v) for v in problem[key].values())
    ]
    mappings_ok = all(mapping_ok(problem[key]) for key in names)
    if mappings_ok and len({frozenset(problem[key]) for key in names}) > 1:
        bad = list(names.values())
    if not density_ok(density):
        bad.append("density")
    return bad


@FUZZ
@given(case=smp_s_problems())
def test_smp_s_densities(case, reliability_counter):
    reliability_counter.add("cases")
    problem, density, exact = case
    bad = smp_s_bad(problem, density)
    outcome = attempt(
        smpcore.smp_s_densities,
        problem["scores"],
        problem["sizes"],
        problem["groups"],
        density,
        exact=exact,
    )
    result = expect(outcome, bad)
    if bad:
        return
    scores, sizes, groups = (
        problem["scores"],
        problem["sizes"],
        problem["groups"],
    )
    assert list(result) == list(scores)
    v = as_float(density)
    for group in set(groups.values()):
        members = [n for n in scores if groups[n] == group]
        assert all(0.0 <= result[n] <= 1.0 for n in members)
        total = sum(sizes[n] for n in members)
        if exact and total <= 2**53:  # documented: float64 counts are exact
            kept = [result[n] * sizes[n] for n in members]
            counts = [round(x) for x in kept]
            for n, count in zip(members, counts, strict=True):
                assert smpcore.topk_count(sizes[n], result[n]) == count
            assert sum(counts) == count_oracle(total, v)
        else:
            kept = sum(result[n] * sizes[n] for n in members)
            assert math.isclose(kept, v * total, rel_tol=1e-9, abs_tol=1)
            if exact:  # beyond 2**53 weights: rounded shares, see above
                continue
            # Unclipped members share in proportion to their scores.
            free = [n for n in members if result[n] < 1.0]
            ratios = [result[n] / scores[n] for n in free if result[n] > 0]
            normal = all(
                scores[n] > 1e-290 and result[n] > 1e-290 for n in free
            )
            if ratios and normal:  # subnormal shares lose relative precision
                assert max(ratios) <= min(ratios) * (1 + 1e-9)


@FUZZ
@given(
    scores=mappings(st.one_of(float_arrays(finite=True), any_arrays())),
    density=any_reals(),
)
def test_global_densities(scores, density, reliability_counter):
    reliability_counter.add("cases")
    arrays: dict[str, Any] = {}
    scores_ok = mapping_ok(scores)
    if scores_ok:
        arrays = {k: float_array(v) for k, v in scores.items()}
        scores_ok = all(a is not None for a in arrays.values())
    checks = (("scores", scores_ok), ("density", density_ok(density)))
    bad = [n for n, ok in checks if not ok]
    result = expect(attempt(smpcore.global_densities, scores, density), bad)
    if bad:
        return
    assert list(result) == list(arrays)
    if not arrays:
        return
    flat = np.concatenate(
        [a.ravel().astype(np.float64) for a in arrays.values()]
    )
    kept = topk_oracle(flat, count_oracle(flat.size, density))
    start = 0
    for name, a in arrays.items():
        count = int(kept[start : start + a.size].sum())
        start += a.size
        want = count / a.size if a.size else as_float(density)
        assert result[name] == want
        if a.size:  # applying the densities per matrix gives the global mask
            mask = smpcore.topk_mask(a, result[name])
            assert int(mask.sum()) == count


# === Schedules ===

STEPS = st.one_of(st.integers(0, 100), any_ints())


@FUZZ
@given(
    final_density=any_reals(),
    initial_density=st.one_of(st.just(1.0), any_reals()),
    total_steps=st.one_of(st.integers(1, 50), any_ints()),
    warmup_steps=st.one_of(st.integers(0, 10), any_ints()),
    cooldown_steps=st.one_of(st.integers(0, 10), any_ints()),
    power=st.one_of(st.sampled_from([3, 1.0, 0.5]), any_reals()),
    steps=st.lists(STEPS, min_size=1, max_size=4),
)
def test_cubic_density_schedule(
    final_density,
    initial_density,
    total_steps,
    warmup_steps,
    cooldown_steps,
    power,
    steps,
    reliability_counter,
):
    reliability_counter.add("cases")
    checks = (
        ("final_density", density_ok(final_density)),
        ("initial_density", density_ok(initial_density)),
        ("total_steps", int_ok(total_steps, 1)),
        ("warmup_steps", int_ok(warmup_steps)),
        ("cooldown_steps", int_ok(cooldown_steps)),
        ("power", real_ok(power, 0.0, low_open=True)),
    )
    bad = [n for n, ok in checks if not ok]
    if not bad and int(total_steps) <= int(warmup_steps) + int(cooldown_steps):
        bad = ["total_steps"]
    schedule = expect(
        attempt(
            smpcore.cubic_density_schedule,
            final_density=final_density,
            initial_density=initial_density,
            total_steps=total_steps,
            warmup_steps=warmup_steps,
            cooldown_steps=cooldown_steps,
            power=power,
        ),
        bad,
    )
    if bad:
        return
    v0, vf, p = (
        as_float(initial_density),
        as_float(final_density),
        as_float(power),
    )
    t_w, t_c, total = int(warmup_steps), int(cooldown_steps), int(total_steps)
    for step in steps:
        value = expect(
            attempt(schedule, step), [] if int_ok(step) else ["step"]
        )
        if not int_ok(step):
            continue
        t = int(step)
        if t <= t_w:
            want = v0
        elif t >= total - t_c:
            want = vf
        else:
            frac = 1.0 - Fraction(t - t_w, total - t_w - t_c)
            want = vf + (v0 - vf) * float(frac) ** p
        assert min(v0, vf) <= value <= max(v0, vf)
        assert abs(value - want) <= 1e-9 * max(abs(v0 - vf), abs(want))


@FUZZ
@given(
    final_weight=st.one_of(st.sampled_from([400, 0.0]), any_reals()),
    total_steps=st.one_of(st.integers(1, 50), any_ints()),
    power=st.one_of(st.just(3), any_reals()),
    steps=st.lists(STEPS, min_size=1, max_size=4),
)
def test_regularization_schedule(
    final_weight, total_steps, power, steps, reliability_counter
):
    reliability_counter.add("cases")
    checks = (
        ("final_weight", real_ok(final_weight, 0.0)),
        ("total_steps", int_ok(total_steps, 1)),
        ("power", real_ok(power, 0.0, low_open=True)),
    )
    bad = [n for n, ok in checks if not ok]
    schedule = expect(
        attempt(
            smpcore.regularization_schedule,
            final_weight=final_weight,
            total_steps=total_steps,
            power=power,
        ),
        bad,
    )
    if bad:
        return
    lam, total, p = as_float(final_weight), int(total_steps), as_float(power)
    for step in steps:
        value = expect(
            attempt(schedule, step), [] if int_ok(step) else ["step"]
        )
        if int_ok(step):
            t = min(int(step), total)
            want = lam * (1.0 - float(1 - Fraction(t, total)) ** p)
            assert 0.0 <= value <= lam * (1 + 1e-12)
            assert close(value, want, 1e-9) or abs(value - want) <= 1e-9 * lam


@FUZZ
@given(value=any_reals(), step=STEPS)
def test_constant_schedule(value, step, reliability_counter):
    reliability_counter.add("cases")
    bad = [] if real_ok(value) else ["value"]
    schedule = expect(attempt(smpcore.constant_schedule, value), bad)
    if not bad:
        out = expect(attempt(schedule, step), [] if int_ok(step) else ["step"])
        if int_ok(step):
            assert out == as_float(value) and type(out) is float


# === Label-word heads ===


@FUZZ
@given(
    vocab=st.one_of(
        st.dictionaries(
            st.sampled_from(["great", "Great", "bad", "ok", ""]),
            st.one_of(st.integers(-1, 9), any_ints()),
            max_size=5,
        ),
        st.sampled_from([None, 3, "vocab", object()]),
    ),
    words=st.one_of(
        st.lists(
            st.sampled_from(["great", "Great", "bad", "ok", " ", ""]),
            max_size=3,
        ),
        st.lists(
            st.one_of(st.none(), st.integers(), st.binary(max_size=2)),
            min_size=1,
            max_size=2,
        ),
        st.sampled_from(["great", b"great", None, 7, ("great", "bad")]),
    ),
)
def test_label_word_ids(vocab, words, reliability_counter):
    reliability_counter.add("cases")
    words_ok = (
        isinstance(words, Sequence)
        and not isinstance(words, str | bytes)
        and len(words) > 0
        and all(isinstance(w, str) and w.strip() for w in words)
    )
    outcome = attempt(smpcore.label_word_ids, vocab, words)
    if not words_ok:
        expect(outcome, ["words"])
        return
    if not isinstance(vocab, Mapping):
        expect(outcome, ["tokenizer_or_vocab"])
        return
    ids, bad = [], []
    for word in words:
        form = word if word in vocab else word.lower()
        if form not in vocab:
            bad = ["words"]
            break
        if not int_ok(vocab[form]):
            bad = ["vocab"]
            break
        ids.append(int(vocab[form]))
    if not bad and len(set(ids)) != len(ids):
        bad = ["words"]
    result = expect(outcome, bad)
    if not bad:
        assert result == ids


LABEL_IDS = st.one_of(
    st.lists(st.integers(-2, 6), max_size=4),
    hnp.arrays(
        st.sampled_from([np.int32, np.uint64, np.int8]),
        (3,),
        elements=st.integers(0, 5),
    ),
    any_arrays(),
)


def head_oracle(matrix: Any, label_ids: Any, name: str) -> list[str]:
    """Broken preconditions of a `(vocab, hidden)` matrix and the ids."""
    bad = []
    array = array_or_none(matrix)
    if array is None or array.dtype.kind != "f" or array.ndim != 2:
        bad.append(name)
    ids = array_or_none(label_ids)
    ids_ok = ids is not None and ids.ndim == 1 and ids.dtype.kind in "iu"
    if ids_ok and not bad:
        vocab = array.shape[0]
        ids_ok = ids.size > 0 and all(0 <= int(i) < vocab for i in ids)
    if not ids_ok:
        bad.append("label_ids")
    return bad


@FUZZ
@given(
    kernel=st.one_of(float_arrays(), any_arrays()),
    bias=st.one_of(st.none(), float_arrays(), any_arrays()),
    label_ids=LABEL_IDS,
    bias_matches=st.booleans(),
)
def test_mlm_label_head(
    kernel, bias, label_ids, bias_matches, reliability_counter
):
    reliability_counter.add("cases")
    array = array_or_none(kernel)
    if (
        bias_matches
        and array is not None
        and array.ndim == 2
        and (array.shape[0] < 1000)
    ):
        bias = np.linspace(-1, 1, array.shape[0]).astype(np.float32)
    bad = head_oracle(kernel, label_ids, "decoder_kernel")
    b = array_or_none(bias)
    if "decoder_kernel" not in bad and (
        b is None or b.dtype.kind != "f" or b.shape != array.shape[:1]
    ):
        bad.append("decoder_bias")
    result = expect(
        attempt(smpcore.mlm_label_head, kernel, bias, label_ids), bad
    )
    if not bad:
        ids = np.asarray(label_ids)
        new_kernel, new_bias = result
        np.testing.assert_array_equal(new_kernel, array[ids].T)
        np.testing.assert_array_equal(new_bias, b[ids])


@FUZZ
@given(embeddings=st.one_of(float_arrays(), any_arrays()), label_ids=LABEL_IDS)
def test_embedding_label_head(embeddings, label_ids, reliability_counter):
    reliability_counter.add("cases")
    bad = head_oracle(embeddings, label_ids, "word_embeddings")
    outcome = attempt(
        smpcore.embedding_label_head, embeddings, label_ids, warn=False
    )
    result = expect(outcome, bad)
    if not bad:
        array, ids = np.asarray(embeddings), np.asarray(label_ids)
        np.testing.assert_array_equal(result[0], array[ids].T)
        assert result[1].shape == (ids.size,) and not result[1].any()


# === Reports and artifacts ===

MASKS = st.one_of(
    hnp.arrays(np.bool_, SHAPES),
    huge_empty().map(lambda a: a.astype(bool)),
    st.just(np.bool_(True)),
    any_arrays(),
)


def masks_ok(masks: Any) -> bool:
    return mapping_ok(masks) and all(
        isinstance(m, np.bool_)
        or (isinstance(m, np.ndarray) and m.dtype == bool)
        for m in masks.values()
    )


@FUZZ
@given(masks=mappings(MASKS))
def test_sparsity_report(masks, reliability_counter):
    reliability_counter.add("cases")
    ok = masks_ok(masks)
    report = expect(
        attempt(smpcore.sparsity_report, masks), [] if ok else ["masks"]
    )
    if not ok:
        return
    for name, mask in masks.items():
        row = report["matrices"][name]
        assert row["kept"] == int(np.sum(mask)) and row["size"] == np.size(mask)
    total = sum(int(np.sum(m)) for m in masks.values())
    assert report["total"]["kept"] == total
    table = smpcore.format_sparsity_report(report)
    assert table.splitlines()[-1].split()[:2] == ["total", str(total)]


ROWS = st.fixed_dictionaries(
    {
        "kept": st.one_of(st.integers(0, 9), any_reals(), st.just(10**400)),
        "size": st.one_of(st.integers(0, 9), st.none()),
        "density": st.one_of(
            st.floats(), st.just(10**400), st.text(max_size=2)
        ),
    }
)


@FUZZ
@given(
    report=st.one_of(
        st.fixed_dictionaries(
            {
                "matrices": st.dictionaries(NAMES, ROWS, max_size=3),
                "total": ROWS,
            }
        ),
        st.dictionaries(
            st.sampled_from(["matrices", "total"]),
            st.one_of(ROWS, st.none(), st.lists(st.integers())),
        ),
        st.none(),
        st.text(max_size=3),
        st.lists(st.integers(), max_size=2),
    )
)
def test_format_sparsity_report(report, reliability_counter):
    reliability_counter.add("cases")
    outcome = attempt(smpcore.format_sparsity_report, report)
    if outcome.error is not None:
        expect(outcome, ["report"])
        return
    lines = outcome.value.splitlines()
    assert lines[0].split() == ["matrix", "kept", "size", "density"]
    assert lines[-1].startswith("total")


@FUZZ
@given(masks=mappings(MASKS))
def test_pack_masks_round_trip(masks, reliability_counter):
    reliability_counter.add("cases")
    ok = masks_ok(masks)
    data = expect(attempt(smpcore.pack_masks, masks), [] if ok else ["masks"])
    packed = expect(
        attempt(smpcore.pack_reference_masks, masks), [] if ok else ["masks"]
    )
    if not ok:
        return
    restored = smpcore.unpack_masks(data)
    assert list(restored) == list(masks)
    for name, mask in masks.items():
        assert np.array_equal(restored[name], mask)
        assert restored[name].shape == np.shape(mask)
    shapes = {name: np.shape(mask) for name, mask in masks.items()}
    again = smpcore.unpack_reference_masks(packed, shapes)
    assert all(np.array_equal(again[n], m) for n, m in masks.items())


EYE_ARTIFACT = smpcore.pack_masks({"q": np.eye(3, dtype=bool)})


def flip_bit(bit: int) -> bytes:
    """The artifact of a 3x3 identity mask with one bit flipped."""
    data = bytearray(EYE_ARTIFACT)
    data[bit // 8] ^= 1 << (bit % 8)
    return bytes(data)


@FUZZ
@given(
    data=st.one_of(
        st.binary(max_size=64),
        st.binary(max_size=40).map(lambda b: smpcore.MAGIC + b),
        st.sampled_from([None, "text", 3, [1, 2]]),
        st.integers(0, len(EYE_ARTIFACT) * 8 - 1).map(flip_bit),
    )
)
def test_unpack_masks_rejects_garbage(data, reliability_counter):
    reliability_counter.add("cases")
    outcome = attempt(smpcore.unpack_masks, data)
    expect(outcome, ["data"])


@FUZZ
@given(
    packed=st.one_of(
        hnp.arrays(np.uint8, st.integers(0, 4)),
        any_arrays(),
    ),
    shapes=mappings(
        st.one_of(
            st.tuples(st.integers(0, 5), st.integers(0, 5)),
            st.lists(any_ints(), max_size=2),
            st.sampled_from([{3: 1}, {2}, "ab", 4, None, np.array([2, 2])]),
        )
    ),
)
def test_unpack_reference_masks(packed, shapes, reliability_counter):
    reliability_counter.add("cases")
    outcome = attempt(smpcore.unpack_reference_masks, packed, shapes)
    shapes_ok = mapping_ok(shapes) and all(
        isinstance(s, tuple | list | np.ndarray)
        and np.ndim(s) == 1
        and all(int_ok(d) for d in s)
        for s in shapes.values()
    )
    if not shapes_ok:
        expect(outcome, ["shapes"])
        return
    array = array_or_none(packed)
    sizes = [math.prod(int(d) for d in s) for s in shapes.values()]
    total = sum(sizes)
    ok = (
        array is not None
        and array.dtype == np.uint8
        and array.ndim == 1
        and array.size == (total + 7) // 8
        and not np.unpackbits(array)[total:].any()
    )
    masks = expect(outcome, [] if ok else ["packed"])
    if ok:
        bits = np.unpackbits(array)
        start = 0
        for name in sorted(shapes):
            size = math.prod(int(d) for d in shapes[name])
            flat = bits[start : start + size].astype(bool)
            assert np.array_equal(masks[name].ravel(), flat)
            start += size


@pytest.mark.parametrize(
    "content",
    [b"", b"\x93NUMPY", b"garbage", b"\x93NUMPY\x01\x00\x04\x00{}  \n"],
    ids=["empty", "magic-only", "garbage", "bad-header"],
)
def test_mask_files_reject_garbage(
    tmp_path: Path, content, reliability_counter
):
    reliability_counter.add("cases", 2)
    path = tmp_path / "masks.bin"
    path.write_bytes(content)
    expect(attempt(smpcore.load_masks_file, path), ["data"])
    expect(attempt(smpcore.load_reference_masks, path, {"a": (3,)}), ["path"])


def test_mask_files_round_trip_and_atomic_failure(
    tmp_path: Path, reliability_counter
):
    reliability_counter.add("cases", 3)
    masks = {"q": np.eye(3, dtype=bool), "e": np.zeros((0, 2**40), bool)}
    smpcore.save_masks_file(tmp_path / "m.smpmask", masks)
    restored = smpcore.load_masks_file(tmp_path / "m.smpmask")
    assert all(np.array_equal(restored[k], v) for k, v in masks.items())
    smpcore.save_reference_masks(tmp_path / "r.npy", masks)
    shapes = {k: v.shape for k, v in masks.items()}
    again = smpcore.load_reference_masks(tmp_path / "r.npy", shapes)
    assert all(np.array_equal(again[k], v) for k, v in masks.items())

    def failing(file: io.BufferedWriter) -> None:
        file.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        smpcore.atomic_write(tmp_path / "x.bin", failing)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.smpmask", "r.npy"]
