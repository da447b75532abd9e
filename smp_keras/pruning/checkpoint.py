"""Checkpoints of a pruning run: everything a resumed run needs.

A checkpoint (``checkpoint/state.npz`` in the run directory, see
``smp_keras.pruning.run_dir``) is one `.npz` file, written atomically and
read without pickle. Its arrays are the model's trainable variables plus
its small non-trainable state (scalars, seed generators: the large frozen
weights never change), the optimiser's variables, the teacher's logits
under distillation and, with ``select="best"``, the best model so far; a
JSON metadata entry holds the step and the job's bookkeeping
(:class:`JobState`). Everything read back is checked against the job
before anything is assigned: a forged or stale file is an error, never a
silently wrong resume.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
from keras import ops

from smp_keras.pruning import run_dir as rd

__all__ = [
    "JobState",
    "load_checkpoint",
    "read_file",
    "save_checkpoint",
    "saved_variables",
    "write_file",
]

_META = "__meta__"
_BASELINES = {"zero_shot", "magnitude", "majority"}


@dataclasses.dataclass
class JobState:
    """The bookkeeping of a run that a checkpoint carries.

    Attributes:
        baselines: `{"zero_shot", "magnitude", "majority"}` metrics.
        curve: The validation evaluations so far.
        log: The training log records so far.
        best: With ``select="best"``: `{step, metric, value}` of the best
            evaluation at the final density so far, else None.
        best_values: The values of :func:`saved_variables` at `best`.
        teacher_logits: The teacher's training-set logits under
            distillation, `(train examples, labels)`, else None.
    """

    baselines: dict[str, Any] = dataclasses.field(default_factory=dict)
    curve: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    log: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    best: dict[str, Any] | None = None
    best_values: list[np.ndarray] | None = None
    teacher_logits: np.ndarray | None = None


def saved_variables(model: keras.Model) -> list[Any]:
    """The variables a checkpoint holds: trainable plus small state.

    Small non-trainable variables (at most 64 elements: scalars such as a
    layer's threshold, seed generators) change during training; the large
    frozen weights never do, so they are not saved.
    """
    small = [
        v for v in model.non_trainable_variables if math.prod(v.shape) <= 64
    ]
    return list(model.trainable_variables) + small


# === The file ===


def write_file(
    path: str, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]
) -> None:
    """Writes arrays and JSON metadata into one `.npz`, atomically.

    Args:
        path: Destination (``checkpoint/state.npz``).
        arrays: Named NumPy arrays (no object arrays).
        meta: JSON-serialisable metadata (non-finite floats become null).
    """
    meta_bytes = json.dumps(rd.finite_json(dict(meta))).encode("utf-8")
    payload = dict(arrays)
    payload[_META] = np.frombuffer(meta_bytes, dtype=np.uint8)
    rd.atomic_write(path, lambda handle: np.savez(handle, **payload))


def read_file(path: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Reads a file written by :func:`write_file` (no pickle).

    Returns:
        `(arrays, meta)`.

    Raises:
        ValueError: If the file is not a valid checkpoint.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        meta = json.loads(arrays.pop(_META).tobytes().decode("utf-8"))
    except (OSError, KeyError, ValueError) as error:
        raise ValueError(
            f"The checkpoint {path!r} is unreadable ({error}). Pass "
            "--overwrite to start the run again."
        ) from None
    if not isinstance(meta, dict):
        raise ValueError(f"The checkpoint {path!r} has invalid metadata.")
    return arrays, meta


# === A job's checkpoint ===


def save_checkpoint(
    path: str, model: keras.Model, step: int, state: JobState
) -> None:
    """Writes the checkpoint of `model` (compiled) after `step` steps."""
    arrays = {}
    variables = saved_variables(model)
    for i, variable in enumerate(variables):
        arrays[f"var_{i}"] = ops.convert_to_numpy(variable)
    optimizer_variables = model.optimizer.variables
    for i, variable in enumerate(optimizer_variables):
        arrays[f"opt_{i}"] = ops.convert_to_numpy(variable)
    if state.teacher_logits is not None:
        arrays["teacher_logits"] = state.teacher_logits
    for i, value in enumerate(state.best_values or []):
        arrays[f"best_{i}"] = value
    meta = {
        "step": step,
        "best": state.best,
        "variables": [v.path for v in variables],
        "optimizer": len(optimizer_variables),
        "baselines": state.baselines,
        "curve": state.curve,
        "log": state.log,
        "backend": keras.backend.backend(),
    }
    write_file(path, arrays, meta)


def load_checkpoint(
    path: str,
    model: keras.Model,
    *,
    total_steps: int,
    teacher_shape: tuple[int, int] | None,
) -> tuple[int, JobState]:
    """Checks the checkpoint at `path`, assigns it to `model`.

    Args:
        path: The checkpoint file.
        model: The job's compiled model (its optimiser built).
        total_steps: The run's step count (a checkpoint's step is in
            `[1, total_steps)`).
        teacher_shape: The shape of the teacher's logits the job expects,
            None without distillation.

    Returns:
        `(step, state)`.

    Raises:
        RunDirectoryError: If the checkpoint does not match the model, the
            backend or the job (nothing is assigned then).
        ValueError: If the file is unreadable.
    """
    arrays, meta = read_file(path)
    variables = saved_variables(model)
    optimizer_variables = model.optimizer.variables
    if (
        meta.get("variables") != [v.path for v in variables]
        or meta.get("optimizer") != len(optimizer_variables)
        or meta.get("backend") != keras.backend.backend()
    ):
        raise rd.RunDirectoryError(
            f"The checkpoint {path!r} does not match this model and "
            f"backend (written with backend {meta.get('backend')!r}). "
            "Resume with the same backend, or pass --overwrite to start "
            "again."
        )
    best = meta.get("best")
    expected = _expected_arrays(model, best is not None, teacher_shape)
    problems = _array_problems(arrays, expected)
    problems += _meta_problems(meta, total_steps)
    if problems:
        raise rd.RunDirectoryError(
            f"The checkpoint {path!r} is invalid: {'; '.join(problems)}. "
            "Pass --overwrite to start the run again."
        )
    for i, variable in enumerate(variables):
        variable.assign(arrays[f"var_{i}"])
    for i, variable in enumerate(optimizer_variables):
        variable.assign(arrays[f"opt_{i}"])
    state = JobState(
        baselines=meta["baselines"],
        curve=list(meta["curve"]),
        log=list(meta["log"]),
        best=best,
        best_values=(
            None
            if best is None
            else [arrays[f"best_{i}"] for i in range(len(variables))]
        ),
        teacher_logits=arrays.get("teacher_logits"),
    )
    return int(meta["step"]), state


def _expected_arrays(
    model: keras.Model, best: bool, teacher_shape: tuple[int, int] | None
) -> dict[str, tuple[tuple[int, ...], str]]:
    """`{name: (shape, dtype)}` of every array a checkpoint holds."""
    expected = {}
    groups = [
        ("var", saved_variables(model)),
        ("opt", model.optimizer.variables),
    ]
    if best:
        groups.append(("best", saved_variables(model)))
    for prefix, variables in groups:
        for i, variable in enumerate(variables):
            dtype = keras.backend.standardize_dtype(variable.dtype)
            expected[f"{prefix}_{i}"] = (tuple(variable.shape), dtype)
    if teacher_shape is not None:
        expected["teacher_logits"] = (tuple(teacher_shape), "float32")
    return expected


def _array_problems(
    arrays: Mapping[str, np.ndarray],
    expected: Mapping[str, tuple[tuple[int, ...], str]],
) -> list[str]:
    """What is wrong with a checkpoint's arrays (empty if nothing)."""
    problems = [
        f"array {name!r} missing" for name in expected if name not in arrays
    ]
    problems += [
        f"unknown array {name!r}" for name in arrays if name not in expected
    ]
    for name, (shape, dtype) in expected.items():
        array = arrays.get(name)
        if array is not None and (
            array.shape != shape
            or not np.can_cast(array.dtype, dtype, casting="same_kind")
        ):
            problems.append(
                f"array {name!r} is {array.dtype}{list(array.shape)}, "
                f"expected {dtype}{list(shape)}"
            )
    return problems


def _meta_problems(meta: Mapping[str, Any], total: int) -> list[str]:
    """What is wrong with a checkpoint's metadata (empty if nothing)."""
    problems = []
    best = meta.get("best")
    if best is not None and (
        not isinstance(best, dict)
        or type(best.get("step")) is not int
        or not isinstance(best.get("value"), float)
        or not isinstance(best.get("metric"), str)
    ):
        problems.append("`best` must be null or {step, metric, value}")
    step = meta.get("step")
    if type(step) is not int or not 0 < step < total:
        problems.append(f"`step` must be an int in [1, {total}), got {step!r}")
    baselines = meta.get("baselines")
    if not isinstance(baselines, dict) or set(baselines) != _BASELINES:
        problems.append("`baselines` must be an object of the 3 baselines")
    for key in ("curve", "log"):
        value = meta.get(key)
        if not isinstance(value, list) or not all(
            isinstance(item, dict) for item in value
        ):
            problems.append(f"`{key}` must be a list of objects")
    return problems
