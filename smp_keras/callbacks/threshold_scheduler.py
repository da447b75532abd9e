"""`ThresholdScheduler`: a step schedule for the threshold mask methods."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from smp_keras.callbacks.sparsity_scheduler import _to_int
from smp_keras.layers.masked_dense import MaskedDense
from smp_keras.model_utils import named_masked_layers
from smpcore.validation import check_int

__all__ = ["ThresholdScheduler"]


class ThresholdScheduler(keras.callbacks.Callback):
    """Sets the threshold of every `MaskedDense` from a step schedule.

    The threshold methods (`"threshold"`, `"sigmoid_threshold"`: soft
    movement pruning) keep the weights whose scores pass a threshold; this
    callback sets it before each batch from `schedule(step)`, as
    `keras.callbacks.LearningRateScheduler` does for the learning rate.
    For soft movement pruning, use :func:`smpcore.threshold_schedule`.

    The step counter counts as :class:`SparsityScheduler`'s does: with
    `initial_step=None` it starts from the optimizer's `iterations` (a
    resumed model continues its schedule) and it advances by the number of
    steps each batch call covers (`steps_per_execution`). The value set is
    written into `logs` as `"threshold"`.

    Args:
        schedule: Callable `step -> threshold`; the layers check the value
            (in `(0, 1)` for `"sigmoid_threshold"`).
        initial_step: Step of the first batch; `None` reads the optimizer.

    Raises:
        TypeError: If `schedule` is not callable.
        ValueError: If the model has no `MaskedDense` layer (at the start
            of training), or the schedule returns an invalid threshold.

    Example:
    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((8,)), MaskedDense(
    ...     4, pruning_method="sigmoid_threshold")])
    >>> model.compile("adam", "mse")
    >>> callback = ThresholdScheduler(lambda step: 0.01 * (step + 1))
    >>> _ = model.fit(np.ones((16, 8)), np.ones((16, 4)), batch_size=4,
    ...               verbose=0, callbacks=[callback])
    >>> callback.step, round(callback.threshold, 4)  # set before step 3
    (4, 0.04)
    """

    def __init__(
        self,
        schedule: Callable[[int], float],
        initial_step: int | None = None,
    ) -> None:
        super().__init__()
        if not callable(schedule):
            raise TypeError(
                "`schedule` must be a callable step -> threshold. "
                f"Received: schedule={schedule!r}"
            )
        self.schedule = schedule
        self.initial_step = (
            None
            if initial_step is None
            else check_int(initial_step, "initial_step")
        )
        self.step = self.initial_step or 0
        self.threshold: float | None = None
        self._layers: list[MaskedDense] = []
        self._batch_begin = 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        model = self.model
        self._layers = list(named_masked_layers(model).values())
        if not self._layers:
            raise ValueError(
                "ThresholdScheduler found no MaskedDense layer in the model."
            )
        if self.initial_step is None:
            optimizer = getattr(model, "optimizer", None)
            iterations = getattr(optimizer, "iterations", None)
            self.step = 0 if iterations is None else _to_int(iterations)
        else:
            self.step = self.initial_step

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        self._batch_begin = batch
        self.model  # noqa: B018  (on JAX, syncs the training state first)
        threshold = float(self.schedule(self.step))
        for layer in self._layers:
            layer.set_threshold(threshold)
        self.threshold = threshold

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.step += max(1, batch - self._batch_begin + 1)
        self._write_logs(logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._write_logs(logs)

    def _write_logs(self, logs: dict | None) -> None:
        if logs is not None and self.threshold is not None:
            logs["threshold"] = self.threshold
