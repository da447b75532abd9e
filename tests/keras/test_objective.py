"""The SMP regulariser wiring and knowledge distillation."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras_backend_utils import to_numpy

from smp_keras import (
    MaskedDense,
    make_distiller,
    regularization_term,
    set_regularization_weight,
)


def _mean_sigmoid(layer) -> float:
    s = to_numpy(layer.scores).astype(np.float64)
    return float(np.mean(1.0 / (1.0 + np.exp(-s))))


def _functional(kernel_initializer="glorot_uniform") -> keras.Model:
    inputs = keras.Input((6,))
    h = MaskedDense(
        5,
        density=0.5,
        score_initializer="random_normal",
        kernel_initializer=kernel_initializer,
        name="a",
    )(inputs)
    outputs = MaskedDense(
        3,
        pruning_method="sigmoid_threshold",
        threshold=0.5,
        score_initializer="random_normal",
        kernel_initializer=kernel_initializer,
        name="b",
    )(h)
    extra = MaskedDense(3, pruning_method="magnitude", name="c")(h)
    return keras.Model(inputs, [outputs, extra])


def test_regulariser_in_model_losses_only_in_training_and_scales(rng):
    model = _functional()
    x = rng.normal(size=(4, 6)).astype("float32")
    model(x, training=True)
    assert len(model.losses) == 2  # the magnitude layer has no scores
    assert all(float(to_numpy(loss)) == 0.0 for loss in model.losses)

    assert set_regularization_weight(model, 8.0) == 2
    a, b = model.get_layer("a"), model.get_layer("b")
    assert a.regularization_weight == b.regularization_weight == 4.0
    model(x, training=True)
    got = sorted(float(to_numpy(loss)) for loss in model.losses)
    expected = sorted(4.0 * _mean_sigmoid(layer) for layer in (a, b))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    total = sum(got)
    r = float(to_numpy(regularization_term(model)))
    assert r == pytest.approx((_mean_sigmoid(a) + _mean_sigmoid(b)) / 2)
    assert total == pytest.approx(8.0 * r, rel=1e-5)

    set_regularization_weight(model, 16.0)
    model(x, training=True)
    doubled = sum(float(to_numpy(loss)) for loss in model.losses)
    assert doubled == pytest.approx(2 * total, rel=1e-5)

    model(x, training=False)
    assert not model.losses
    with pytest.raises(ValueError, match="value"):
        set_regularization_weight(model, -1.0)


@pytest.mark.parametrize("weight", [0.0, 50.0])
def test_fit_minimises_the_regulariser(weight, rng):
    """With a zero kernel the task loss has no score gradient: only λ acts."""
    model = _functional(kernel_initializer="zeros")
    model.compile(keras.optimizers.Adam(0.05), ["mse", "mse"])
    x = rng.normal(size=(32, 6)).astype("float32")
    ys = [rng.normal(size=(32, 3)).astype("float32")] * 2
    model(x)
    set_regularization_weight(model, weight)
    before = float(to_numpy(regularization_term(model)))
    model.fit(x, ys, batch_size=8, epochs=2, verbose=0)
    after = float(to_numpy(regularization_term(model)))
    if weight:
        assert after < before - 0.05
    else:
        assert after == pytest.approx(before, abs=1e-7)


def test_distillation_trains_masked_student(rng):
    x = rng.normal(size=(64, 6)).astype("float32")
    y = rng.integers(0, 3, size=64)
    teacher = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(3, name="teacher_head")]
    )
    student = keras.Sequential(
        [
            keras.Input((6,)),
            MaskedDense(3, density=0.5, name="student_head"),
        ]
    )
    distiller = make_distiller(student, teacher, temperature=2.0, alpha=0.5)
    distiller.compile(
        keras.optimizers.Adam(0.02),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    head = student.get_layer("student_head")
    head.set_regularization_weight(3.0)

    # The regulariser is added to the distillation loss.
    y_pred = distiller(x, training=True)
    total = float(to_numpy(distiller.compute_loss(x, y, y_pred)))
    base = float(
        to_numpy(
            keras.distillation.Distiller.compute_loss(distiller, x, y, y_pred)
        )
    )
    assert total - base == pytest.approx(3.0 * _mean_sigmoid(head), rel=1e-4)

    scores = to_numpy(head.scores).copy()
    teacher_kernel = to_numpy(teacher.layers[0].kernel).copy()
    kernel = to_numpy(head.kernel).copy()
    history = distiller.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert not np.allclose(to_numpy(head.scores), scores)
    np.testing.assert_array_equal(to_numpy(head.kernel), kernel)
    np.testing.assert_array_equal(
        to_numpy(teacher.layers[0].kernel), teacher_kernel
    )
    with pytest.raises(ValueError, match="alpha"):
        make_distiller(student, teacher, alpha=1.5)
