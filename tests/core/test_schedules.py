"""Tests for smpcore.schedules against independent closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smpcore import (
    constant_schedule,
    cubic_density_schedule,
    regularization_schedule,
    threshold_schedule,
)

from .strategies import densities

powers = st.sampled_from([1, 2, 3, 0.5, 4.5])


def cubic_oracle(
    t: int, v0: float, vf: float, T: int, tw: int, tc: int, p: float
) -> float:
    """The piecewise definition of SMP section 4, written out directly."""
    if t < tw:
        return v0
    if t >= T - tc:
        return vf
    progress = (t - tw) / (T - tw - tc)
    return vf + (v0 - vf) * (1 - progress) ** p


@st.composite
def cubic_params(draw: st.DrawFn) -> dict:
    total = draw(st.integers(1, 200))
    warmup = draw(st.integers(0, total - 1))
    cooldown = draw(st.integers(0, total - 1 - warmup))
    return {
        "final_density": draw(densities),
        "initial_density": draw(densities),
        "total_steps": total,
        "warmup_steps": warmup,
        "cooldown_steps": cooldown,
        "power": draw(powers),
    }


@given(cubic_params(), st.integers(0, 300))
def test_cubic_matches_closed_form(params: dict, step: int) -> None:
    schedule = cubic_density_schedule(**params)
    expected = cubic_oracle(
        step,
        params["initial_density"],
        params["final_density"],
        params["total_steps"],
        params["warmup_steps"],
        params["cooldown_steps"],
        params["power"],
    )
    value = schedule(step)
    assert isinstance(value, float)
    assert value == pytest.approx(expected, rel=1e-12, abs=1e-15)


@given(cubic_params())
def test_cubic_endpoints_and_monotone(params: dict) -> None:
    schedule = cubic_density_schedule(**params)
    v0, vf = params["initial_density"], params["final_density"]
    total, tw = params["total_steps"], params["warmup_steps"]
    tc = params["cooldown_steps"]
    values = np.array([schedule(t) for t in range(total + 5)])
    assert np.all(values[: tw + 1] == v0)
    assert np.all(values[total - tc :] == vf)
    lo, hi = min(v0, vf), max(v0, vf)
    assert np.all((values >= lo) & (values <= hi))
    steps = np.diff(values)
    assert np.all(steps <= 0) if v0 >= vf else np.all(steps >= 0)


def test_cubic_reference_glue_setting() -> None:
    # t_w = 0, t_c = 6 x 5000 as in the reference GLUE runs.
    schedule = cubic_density_schedule(
        final_density=0.1, total_steps=60_000, cooldown_steps=30_000
    )
    assert schedule(0) == 1.0
    assert schedule(15_000) == pytest.approx(0.1 + 0.9 * 0.5**3)
    assert schedule(30_000) == 0.1
    assert schedule(10**9) == 0.1


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"final_density": 1.5, "total_steps": 10},
            ValueError,
            "final_density",
        ),
        (
            {"final_density": 0.1, "total_steps": 10, "initial_density": -1},
            ValueError,
            "initial_density",
        ),
        ({"final_density": 0.1, "total_steps": 0}, ValueError, "total_steps"),
        ({"final_density": 0.1, "total_steps": 10.0}, TypeError, "total_steps"),
        (
            {
                "final_density": 0.1,
                "total_steps": 10,
                "warmup_steps": 5,
                "cooldown_steps": 5,
            },
            ValueError,
            "greater than `warmup_steps",
        ),
        (
            {"final_density": 0.1, "total_steps": 10, "warmup_steps": -1},
            ValueError,
            "warmup_steps",
        ),
        (
            {"final_density": 0.1, "total_steps": 10, "power": 0},
            ValueError,
            "power",
        ),
        (
            {"final_density": 0.1, "total_steps": 10, "power": math.inf},
            ValueError,
            "power",
        ),
    ],
)
def test_cubic_rejects_bad_arguments(
    kwargs: dict, error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        cubic_density_schedule(**kwargs)


def test_cubic_arguments_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        cubic_density_schedule(0.1, 10)  # type: ignore[misc]


@given(st.floats(0, 1000), st.integers(1, 500), powers, st.integers(0, 1000))
def test_regularization_matches_closed_form(
    lam: float, total: int, power: float, step: int
) -> None:
    schedule = regularization_schedule(
        final_weight=lam, total_steps=total, power=power
    )
    expected = lam * (1 - (1 - min(step, total) / total) ** power)
    assert schedule(step) == pytest.approx(expected, rel=1e-12, abs=1e-12)


@given(st.floats(0, 1000), st.integers(1, 100), powers)
def test_regularization_endpoints_and_monotone(
    lam: float, total: int, power: float
) -> None:
    schedule = regularization_schedule(
        final_weight=lam, total_steps=total, power=power
    )
    values = np.array([schedule(t) for t in range(total + 3)])
    assert values[0] == 0.0
    assert np.all(values[total:] == lam)
    assert np.all(np.diff(values) >= 0)


def test_regularization_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="final_weight"):
        regularization_schedule(final_weight=-1, total_steps=10)
    with pytest.raises(ValueError, match="total_steps"):
        regularization_schedule(final_weight=1, total_steps=0)
    with pytest.raises(ValueError, match="power"):
        regularization_schedule(final_weight=1, total_steps=5, power=-2)


@given(st.floats(allow_nan=False, allow_infinity=False), st.integers(0, 10**9))
def test_constant_schedule(value: float, step: int) -> None:
    assert constant_schedule(value)(step) == value


def test_constant_schedule_rejects_non_finite() -> None:
    with pytest.raises(ValueError, match="value"):
        constant_schedule(math.nan)
    with pytest.raises(TypeError, match="value"):
        constant_schedule(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "schedule",
    [
        cubic_density_schedule(final_density=0.1, total_steps=10),
        regularization_schedule(final_weight=400, total_steps=10),
        constant_schedule(1.0),
        threshold_schedule(
            cubic_density_schedule(final_density=0.1, total_steps=10),
            final_density=0.1,
        ),
    ],
)
@pytest.mark.parametrize(
    ("step", "error"),
    [(-1, ValueError), (1.5, TypeError), (True, TypeError), ("3", TypeError)],
)
def test_schedules_validate_the_step(
    schedule: object, step: object, error: type
) -> None:
    with pytest.raises(error, match="step"):
        schedule(step)  # type: ignore[operator]


def test_numpy_integer_steps_are_accepted() -> None:
    schedule = cubic_density_schedule(final_density=0.5, total_steps=4)
    assert schedule(np.int64(4)) == 0.5


@given(
    cubic_params(),
    st.floats(0.01, 0.9),
    st.integers(0, 300),
)
def test_threshold_matches_closed_form(
    params: dict, tau: float, step: int
) -> None:
    density = cubic_density_schedule(**{**params, "initial_density": 1.0})
    vf = params["final_density"]
    schedule = threshold_schedule(
        density, final_density=vf, final_threshold=tau
    )
    v = density(step)
    expected = tau * (1 - v) / (1 - vf) if vf < 1 else 0.0
    value = schedule(step)
    assert isinstance(value, float)
    assert value == pytest.approx(min(max(expected, 1e-6), 0.999), rel=1e-9)


@given(cubic_params(), st.floats(0.01, 0.9))
def test_threshold_rises_to_its_final_value(params: dict, tau: float) -> None:
    # Kept fractions fall, so the threshold rises, to τ_f at v_f.
    params = {**params, "initial_density": 1.0}
    vf = params["final_density"]
    schedule = threshold_schedule(
        cubic_density_schedule(**params), final_density=vf, final_threshold=tau
    )
    values = np.array([schedule(t) for t in range(params["total_steps"] + 3)])
    assert np.all(np.diff(values) >= 0)
    assert np.all((values >= 1e-6) & (values <= 0.999))
    if vf < 1:
        assert values[-1] == pytest.approx(tau)


def test_threshold_rejects_bad_arguments() -> None:
    density = constant_schedule(0.5)
    with pytest.raises(TypeError, match="density_schedule"):
        threshold_schedule(0.5, final_density=0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="final_threshold"):
        threshold_schedule(density, final_density=0.1, final_threshold=1.0)
    with pytest.raises(ValueError, match="final_density"):
        threshold_schedule(density, final_density=1.5)
    with pytest.raises(ValueError, match="high"):
        threshold_schedule(density, final_density=0.1, low=0.5, high=0.4)
    bad = threshold_schedule(constant_schedule(2.0), final_density=0.1)
    with pytest.raises(ValueError, match="density"):
        bad(0)
