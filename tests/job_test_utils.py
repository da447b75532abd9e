"""Helpers for the pruning-job tests (imported by conftest and tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: PruneConfig keyword arguments of each task type for the tiny model.
TASKS: dict[str, dict[str, Any]] = {
    "single": {
        "task": "sst2",
        "columns": {"text": "review", "label": "stars"},
    },
    "pair": {"task": "snli"},
    "regression": {"task": "stsb"},
    "qa": {"task": "squad"},
}


def make_config(
    model: str,
    files: dict[str, dict[str, str]],
    folder: Path,
    kind: str,
    **overrides: Any,
) -> Any:
    """A fast PruneConfig for the tiny model and a task type."""
    from smp_keras.pruning.config import PruneConfig

    settings = {
        "model": model,
        "data_files": files[kind],
        "steps": 4,
        "batch_size": 8,
        "max_length": 24,
        "density": 0.5,
        "eval_every": 0,
        "checkpoint_every": 2,
        "output_dir": str(folder / f"run_{kind}"),
        **TASKS[kind],
    }
    settings.update(overrides)
    return PruneConfig(**settings)


def run_prune(config: Any, **kwargs: Any) -> Any:
    """`prune` run eagerly (no compile time: these runs are a few steps)."""
    from smp_keras.pruning.train import prune

    kwargs.setdefault("quiet", True)
    kwargs.setdefault("jit_compile", None)
    return prune(config, **kwargs)


def _interrupt_class() -> Any:
    import keras

    class Interrupt(keras.callbacks.Callback):
        """Raises after the batch that completes global step `at`."""

        def __init__(self, at: int) -> None:
            super().__init__()
            self.at = at

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            iterations = self.model.optimizer.iterations
            step = int(keras.ops.convert_to_numpy(iterations))
            if step >= self.at:
                raise KeyboardInterrupt(
                    f"simulated interruption at step {step}"
                )

    return Interrupt


def __getattr__(name: str) -> Any:
    # `Interrupt` is built on first use, so importing this module does not
    # import Keras (the backend is chosen per test session).
    if name == "Interrupt":
        return _interrupt_class()
    raise AttributeError(name)
