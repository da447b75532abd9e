"""Step schedules for the kept fraction and the regulariser weight.

Each function is a factory that validates its keyword-only hyper-parameters
and returns a ``Callable[[int], float]`` mapping a training step (an int
``>= 0``) to a value, in the manner of optax schedules. A Keras callback
(``smp_keras.callbacks.SparsityScheduler``) accepts any such callable, as
``keras.callbacks.LearningRateScheduler`` does.

References:
    Jiang et al., "Pruning Pre-trained Language Models Without Fine-Tuning",
    ACL 2023, arXiv:2210.06210, section 4 (cubic schedules, taken from
    Sanh et al., "Movement Pruning", NeurIPS 2020).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smpcore.validation import check_density, check_int, check_real

__all__ = [
    "constant_schedule",
    "cubic_density_schedule",
    "regularization_schedule",
    "threshold_schedule",
]

Schedule = Callable[[int], float]


def _check_step(step: Any) -> int:
    """Checks a training step: an int ``>= 0``."""
    return check_int(step, "step")


def cubic_density_schedule(
    *,
    final_density: float,
    total_steps: int,
    initial_density: float = 1.0,
    warmup_steps: int = 0,
    cooldown_steps: int = 0,
    power: float = 3,
) -> Schedule:
    """The cubic keep-ratio schedule of movement pruning and SMP.

    With ``v_0 = initial_density``, ``v_f = final_density``,
    ``T = total_steps``, ``t_w = warmup_steps`` and ``t_c = cooldown_steps``:

    .. math::

        v_t = \\begin{cases}
            v_0 & t < t_w \\\\
            v_f + (v_0 - v_f)
                \\left(1 - \\frac{t - t_w}{T - t_w - t_c}\\right)^{p}
                & t_w \\le t < T - t_c \\\\
            v_f & t \\ge T - t_c
        \\end{cases}

    The schedule is continuous and monotone between ``v_0`` and ``v_f``.

    Args:
        final_density: ``v_f``, in ``[0, 1]``.
        total_steps: ``T``, an int ``> warmup_steps + cooldown_steps``.
        initial_density: ``v_0``, in ``[0, 1]``.
        warmup_steps: ``t_w``, an int ``>= 0``; the density is held at ``v_0``.
        cooldown_steps: ``t_c``, an int ``>= 0``; the density is held at
            ``v_f`` for the last ``t_c`` steps (and after ``T``).
        power: ``p``, a finite real ``> 0`` (3 in the paper).

    Returns:
        A callable mapping a step (int ``>= 0``) to a Python float density.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If a density is out of ``[0, 1]``, a step count is
            negative, ``total_steps <= warmup_steps + cooldown_steps``, or
            ``power <= 0``.

    Example:
        >>> schedule = cubic_density_schedule(
        ...     final_density=0.1, total_steps=10, warmup_steps=2,
        ...     cooldown_steps=4,
        ... )
        >>> [round(schedule(t), 6) for t in (0, 1, 2, 3, 4, 5, 6, 10, 99)]
        [1.0, 1.0, 1.0, 0.479688, 0.2125, 0.114063, 0.1, 0.1, 0.1]
    """
    v_f = check_density(final_density, "final_density")
    v_0 = check_density(initial_density, "initial_density")
    total = check_int(total_steps, "total_steps", minimum=1)
    t_w = check_int(warmup_steps, "warmup_steps")
    t_c = check_int(cooldown_steps, "cooldown_steps")
    p = check_real(power, "power", low=0.0, low_open=True)
    if total <= t_w + t_c:
        raise ValueError(
            "`total_steps` must be greater than `warmup_steps + "
            f"cooldown_steps`. Received: total_steps={total_steps!r}, "
            f"warmup_steps={warmup_steps!r}, cooldown_steps={cooldown_steps!r}"
        )
    span = total - t_w - t_c
    low, high = min(v_0, v_f), max(v_0, v_f)

    def schedule(step: int) -> float:
        t = _check_step(step)
        if t <= t_w:  # the formula gives v_0 at t_w; return it exactly
            return v_0
        if t >= total - t_c:
            return v_f
        # (T - t_c - t) / span is 1 - (t - t_w) / span without cancellation
        value = v_f + (v_0 - v_f) * ((total - t_c - t) / span) ** p
        return min(max(value, low), high)  # float cancellation stays inside

    return schedule


def regularization_schedule(
    *, final_weight: float, total_steps: int, power: float = 3
) -> Schedule:
    """The regulariser weight schedule ``λ_t`` of SMP.

    .. math::

        \\lambda_t = \\lambda_f
            \\left(1 - \\left(1 - \\frac{\\min(t, T)}{T}\\right)^{p}\\right)

    It rises from 0 at step 0 to ``λ_f`` at step ``T`` and stays there. The
    paper uses ``λ_f = 400`` and ``p = 3``.

    Args:
        final_weight: ``λ_f``, a finite real ``>= 0``.
        total_steps: ``T``, an int ``>= 1``.
        power: ``p``, a finite real ``> 0``.

    Returns:
        A callable mapping a step (int ``>= 0``) to a Python float weight.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If `final_weight < 0`, `total_steps < 1` or
            ``power <= 0``.

    Example:
        >>> schedule = regularization_schedule(final_weight=400, total_steps=4)
        >>> [schedule(t) for t in (0, 1, 2, 4, 5)]
        [0.0, 231.25, 350.0, 400.0, 400.0]
    """
    lam = check_real(final_weight, "final_weight", low=0.0)
    total = check_int(total_steps, "total_steps", minimum=1)
    p = check_real(power, "power", low=0.0, low_open=True)

    def schedule(step: int) -> float:
        t = min(_check_step(step), total)
        # (T - t) / T is 1 - t / T without cancellation (exact int difference)
        return lam * (1.0 - ((total - t) / total) ** p)

    return schedule


def threshold_schedule(
    density_schedule: Schedule,
    *,
    final_density: float,
    final_threshold: float = 0.1,
    low: float = 1e-6,
    high: float = 0.999,
) -> Schedule:
    """The sigmoid-threshold schedule of soft movement pruning.

    ``τ_t = τ_f · (1 - v_t) / (1 - v_f)`` follows the density schedule
    ``v_t`` from (almost) 0, where every weight is kept, to ``τ_f`` at the
    final density ``v_f``, clipped to ``[low, high]`` (a threshold of 0 or
    1 would keep everything or nothing). The regulariser then pushes
    unimportant scores below it; the density reached is whatever the
    scores give. The reference's ``τ_f`` is 0.1.

    Args:
        density_schedule: A callable ``step -> v_t``, e.g.
            :func:`cubic_density_schedule`.
        final_density: ``v_f`` in ``[0, 1]``; with ``v_f = 1`` the
            threshold stays at `low`.
        final_threshold: ``τ_f`` in ``(0, 1)``.
        low: The smallest threshold, in ``(0, 1)``.
        high: The largest threshold, in ``[low, 1)``.

    Returns:
        A callable mapping a step (int ``>= 0``) to a Python float threshold.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If a number is out of range.

    Example:
        >>> density = cubic_density_schedule(final_density=0.1, total_steps=4)
        >>> schedule = threshold_schedule(density, final_density=0.1)
        >>> [round(schedule(t), 6) for t in (0, 2, 4)]
        [1e-06, 0.0875, 0.1]
    """
    if not callable(density_schedule):
        raise TypeError(
            "`density_schedule` must be a callable step -> density. "
            f"Received: density_schedule={density_schedule!r}"
        )
    v_f = check_density(final_density, "final_density")
    tau = check_real(
        final_threshold,
        "final_threshold",
        low=0.0,
        high=1.0,
        low_open=True,
        high_open=True,
    )
    lo = check_real(
        low, "low", low=0.0, high=1.0, low_open=True, high_open=True
    )
    hi = check_real(high, "high", low=lo, high=1.0, high_open=True)

    span = 1.0 - v_f

    def schedule(step: int) -> float:
        v_t = check_density(density_schedule(_check_step(step)), "density")
        progress = (1.0 - v_t) / span if span > 0 else 0.0
        return min(max(tau * progress, lo), hi)

    return schedule


def constant_schedule(value: float) -> Schedule:
    """A schedule that returns `value` at every step.

    Args:
        value: A finite real number.

    Returns:
        A callable mapping a step (int ``>= 0``) to ``float(value)``.

    Raises:
        TypeError: If `value` is not a real number.
        ValueError: If `value` is not finite.

    Example:
        >>> constant_schedule(0.1)(1000)
        0.1
    """
    constant = check_real(value, "value")

    def schedule(step: int) -> float:
        _check_step(step)
        return constant

    return schedule
