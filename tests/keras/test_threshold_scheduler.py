"""`ThresholdScheduler`: the threshold methods' step schedule (issue 18).

It counts steps as `SparsityScheduler` does: from the optimizer's
`iterations`, by the steps each batch call covers.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from smp_keras import MaskedDense, SparsityScheduler, ThresholdScheduler


def _model(steps_per_execution: int = 1) -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input((8,)),
            MaskedDense(4, pruning_method="sigmoid_threshold", name="a"),
            MaskedDense(4, pruning_method="sigmoid_threshold", name="b"),
        ]
    )
    model.compile(
        keras.optimizers.Adam(0.01),
        "mse",
        steps_per_execution=steps_per_execution,
    )
    return model


class _Steps:
    """A schedule recording the steps it is asked for."""

    def __init__(self) -> None:
        self.asked: list[int] = []

    def __call__(self, step: int) -> float:
        self.asked.append(step)
        return 0.01 * (step + 1)


def _fit(model, callbacks, batches=4):
    x = np.ones((4 * batches, 8), "float32")
    y = np.ones((4 * batches, 4), "float32")
    model.fit(x, y, batch_size=4, verbose=0, callbacks=callbacks)


@pytest.mark.parametrize("steps_per_execution", [1, 2])
def test_it_counts_steps_as_the_sparsity_scheduler_does(steps_per_execution):
    if steps_per_execution > 1 and keras.backend.backend() == "torch":
        pytest.skip("Keras's PyTorch trainer has no steps_per_execution")
    model = _model(steps_per_execution)
    thresholds, densities = _Steps(), _Steps()
    threshold = ThresholdScheduler(thresholds)
    sparsity = SparsityScheduler(lambda s: 1.0 - densities(s) / 100)
    _fit(model, [threshold, sparsity])
    assert threshold.step == sparsity.step == 4
    assert thresholds.asked == list(range(0, 4, steps_per_execution))
    assert thresholds.asked == densities.asked


def test_it_sets_every_layer_and_logs_the_threshold():
    model = _model()
    schedule = _Steps()
    callback = ThresholdScheduler(schedule)
    history = model.fit(
        np.ones((16, 8)),
        np.ones((16, 4)),
        batch_size=4,
        verbose=0,
        callbacks=[callback],
    )
    assert callback.threshold == pytest.approx(0.04)
    for layer in model.layers:
        assert layer.threshold == pytest.approx(0.04)
    assert history.history["threshold"][-1] == pytest.approx(0.04)


def test_a_resumed_model_continues_its_schedule():
    model = _model()
    _fit(model, [ThresholdScheduler(_Steps())], batches=3)
    schedule = _Steps()
    _fit(model, [ThresholdScheduler(schedule)], batches=2)
    assert schedule.asked == [3, 4]
    explicit = _Steps()
    _fit(model, [ThresholdScheduler(explicit, initial_step=10)], batches=1)
    assert explicit.asked == [10]


def test_bad_input_is_named():
    with pytest.raises(TypeError, match="schedule"):
        ThresholdScheduler(0.1)
    with pytest.raises(ValueError, match="initial_step"):
        ThresholdScheduler(lambda s: 0.1, initial_step=-1)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])
    model.compile("adam", "mse")
    with pytest.raises(ValueError, match="no MaskedDense"):
        _fit(model, [ThresholdScheduler(lambda s: 0.1)], batches=1)
    with pytest.raises(ValueError, match="threshold"):
        _fit(_model(), [ThresholdScheduler(lambda s: 1.5)], batches=1)
