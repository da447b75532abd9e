"""`StepCallback`: the one step counter of the schedule callbacks.

A schedule is a function of the training step. Both schedulers of
`smp_keras` (:class:`~smp_keras.callbacks.SparsityScheduler`,
:class:`~smp_keras.callbacks.ThresholdScheduler`) count steps here, the
same way: they start from the optimiser's `iterations` (so a run resumed
from a checkpoint continues its schedule) unless an `initial_step` is
given, and advance by the batches each `train_batch_end` covers, which
honours `steps_per_execution` (Keras then calls the batch hooks once per
execution, with the last batch's index).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from smpcore.validation import check_int

__all__ = ["StepCallback", "optimizer_step"]


def optimizer_step(model: Any) -> int:
    """The optimiser's `iterations` of `model` (0 when not compiled)."""
    optimizer = getattr(model, "optimizer", None)
    iterations = getattr(optimizer, "iterations", None)
    if iterations is None:
        return 0
    return int(np.asarray(ops.convert_to_numpy(iterations)).item())


class StepCallback(keras.callbacks.Callback):
    """A callback that knows the training step (base of the schedulers).

    Subclasses read `self.step` (the step about to run in
    `on_train_batch_begin`, the steps done so far in `on_train_batch_end`)
    and call `super()` from the hooks they override.

    Args:
        initial_step: The step training starts at; None (default) reads
            the optimiser's `iterations` when training begins.
    """

    def __init__(self, initial_step: int | None = None) -> None:
        super().__init__()
        self.initial_step = (
            None
            if initial_step is None
            else check_int(initial_step, "initial_step")
        )
        self.step = self.initial_step or 0
        self._batch_begin = 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self.initial_step is None:
            self.step = optimizer_step(self.model)
        else:
            self.step = self.initial_step

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        self._batch_begin = batch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.step += max(1, batch - self._batch_begin + 1)
