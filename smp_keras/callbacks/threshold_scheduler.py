"""`ThresholdScheduler`: a step schedule for the threshold mask methods."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smp_keras.callbacks.step_callback import StepCallback
from smp_keras.layers.masked_dense import MaskedDense
from smp_keras.model_utils import named_masked_layers

__all__ = ["ThresholdScheduler"]


class ThresholdScheduler(StepCallback):
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
    >>> import keras
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
        super().__init__(initial_step)
        if not callable(schedule):
            raise TypeError(
                "`schedule` must be a callable step -> threshold. "
                f"Received: schedule={schedule!r}"
            )
        self.schedule = schedule
        self.threshold: float | None = None
        self._layers: list[MaskedDense] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._layers = list(named_masked_layers(self.model).values())
        if not self._layers:
            raise ValueError(
                "ThresholdScheduler found no MaskedDense layer in the model."
            )
        super().on_train_begin(logs)

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        super().on_train_batch_begin(batch, logs)
        self.model  # noqa: B018  (on JAX, syncs the training state first)
        threshold = float(self.schedule(self.step))
        for layer in self._layers:
            layer.set_threshold(threshold)
        self.threshold = threshold

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        super().on_train_batch_end(batch, logs)
        self._write_logs(logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._write_logs(logs)

    def _write_logs(self, logs: dict | None) -> None:
        if logs is not None and self.threshold is not None:
            logs["threshold"] = self.threshold
