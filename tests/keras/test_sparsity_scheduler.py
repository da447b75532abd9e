"""`SparsityScheduler`: schedules, allocations, resuming and logs."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras_backend_utils import to_numpy

import smpcore
from smp_keras import MaskedDense, SparsityScheduler, matrix_group


def _model(rng, matrix_types=None, method="topk") -> keras.Model:
    """Two 'layers' of two matrices each (8x8 'query', 8x12 'ffn')."""
    inputs = keras.Input((8,))
    h = inputs
    layers = []
    for i in range(2):
        q = MaskedDense(8, name=f"layer_{i}_query", pruning_method=method)
        f = MaskedDense(8, name=f"layer_{i}_ffn", pruning_method=method)
        h = f(q(h))
        layers += [q, f]
    model = keras.Model(inputs, h)
    for layer in layers:
        if layer.scores is not None:
            layer.scores.assign(rng.normal(size=(8, 8)).astype("float32"))
    model.compile(keras.optimizers.Adam(0.01), "mse")
    return model


class _Recorder(keras.callbacks.Callback):
    """Records the density and kept count of every layer at each batch."""

    def __init__(self, layers):
        super().__init__()
        self.layers = layers
        self.densities, self.kept = [], []

    def on_train_batch_begin(self, batch, logs=None):
        _ = self.model  # On JAX, syncs the training state into the variables.
        self.densities.append([layer.density for layer in self.layers])
        self.kept.append([layer.kept for layer in self.layers])


def _data(rng, n=32):
    x = rng.normal(size=(n, 8)).astype("float32")
    return x, rng.normal(size=(n, 8)).astype("float32")


def test_uniform_schedule_sets_every_layer_each_step(rng):
    model = _model(rng)
    layers = [lay for lay in model.layers if isinstance(lay, MaskedDense)]
    schedule = smpcore.cubic_density_schedule(
        final_density=0.1, total_steps=6, cooldown_steps=1
    )
    recorder = _Recorder(layers)
    x, y = _data(rng)
    history = model.fit(
        x,
        y,
        batch_size=8,
        epochs=2,
        verbose=0,
        callbacks=[SparsityScheduler(schedule), recorder],
    )
    assert len(recorder.densities) == 8
    for step, (densities, kept) in enumerate(
        zip(recorder.densities, recorder.kept, strict=True)
    ):
        v = schedule(step)
        assert densities == pytest.approx([v] * 4)
        assert kept == [smpcore.topk_count(64, v)] * 4
    assert history.history["density"] == pytest.approx(
        [schedule(3), schedule(7)]
    )
    # After fit (on JAX: after the final state sync) the last values stay.
    assert [layer.kept for layer in layers] == [smpcore.topk_count(64, 0.1)] * 4
    assert all(int(layer.mask().sum()) == 6 for layer in layers)


def test_resumed_run_continues_the_schedule(rng):
    model = _model(rng)
    schedule = smpcore.cubic_density_schedule(final_density=0.2, total_steps=10)
    x, y = _data(rng)
    first = SparsityScheduler(schedule)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[first])
    assert first.step == 4
    resumed = SparsityScheduler(schedule)  # reads optimizer.iterations
    history = model.fit(
        x, y, batch_size=8, epochs=1, verbose=0, callbacks=[resumed]
    )
    assert resumed.step == 8
    assert history.history["density"] == pytest.approx([schedule(7)])
    explicit = SparsityScheduler(schedule, initial_step=2)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[explicit])
    assert explicit.step == 6


def test_update_every_updates_only_every_n_steps(rng):
    model = _model(rng)
    layers = [lay for lay in model.layers if isinstance(lay, MaskedDense)]
    recorder = _Recorder(layers[:1])
    x, y = _data(rng, 56)
    model.fit(
        x,
        y,
        batch_size=8,
        verbose=0,
        callbacks=[
            SparsityScheduler(lambda t: 1.0 - 0.1 * t, update_every=3),
            recorder,
        ],
    )
    got = [d[0] for d in recorder.densities]
    expected = [1.0, 1.0, 1.0, 0.7, 0.7, 0.7, 0.4]
    assert got == pytest.approx(expected)


def test_regularization_schedule_splits_lambda_over_layers(rng):
    model = _model(rng)
    layers = [lay for lay in model.layers if isinstance(lay, MaskedDense)]
    reg = smpcore.regularization_schedule(final_weight=40.0, total_steps=4)
    x, y = _data(rng)
    history = model.fit(
        x,
        y,
        batch_size=8,
        verbose=0,
        callbacks=[
            SparsityScheduler(lambda t: 0.5, regularization_schedule=reg)
        ],
    )
    assert history.history["regularization_weight"] == pytest.approx([reg(3)])
    for layer in layers:
        assert layer.regularization_weight == pytest.approx(reg(3) / 4)


@pytest.mark.parametrize("weight", [-1.0, 7e38, float("nan")])
def test_a_lambda_no_float32_layer_can_hold_is_rejected_by_name(rng, weight):
    # 7e38 is finite in float64; split over four layers each share still
    # overflows float32: the scheduler must name the schedule, not a layer.
    model = _model(rng)
    callback = SparsityScheduler(
        lambda t: 0.5, regularization_schedule=lambda t: weight
    )
    callback.set_model(model)
    callback.on_train_begin()
    with pytest.raises(ValueError, match=r"regularization_schedule\(step\)"):
        callback.update(0)


def _sigmoid_mean(layer, temperature=1.0):
    s = to_numpy(layer.scores).astype(np.float64) / temperature
    return float(np.mean(1.0 / (1.0 + np.exp(-s))))


def test_smp_s_allocation_meets_budget_per_matrix_type(rng):
    model = _model(rng)
    layers = [lay for lay in model.layers if isinstance(lay, MaskedDense)]
    for layer, shift in zip(layers, (-1.0, 0.0, 1.0, 0.5), strict=True):
        layer.scores.assign(to_numpy(layer.scores) + shift)
        layer.matrix_type = layer.name.split("_")[-1]
    callback = SparsityScheduler(
        lambda t: 0.25, allocation="smp_s", temperature=2.0
    )
    callback.set_model(model)
    callback.on_train_begin()
    densities = callback.update(0)
    for group in ("query", "ffn"):
        members = [lay for lay in layers if lay.matrix_type == group]
        kept = sum(int(lay.mask().sum()) for lay in members)
        assert kept == smpcore.topk_count(128, 0.25)
        # Paper's formula (equal sizes): v_l = a_l / sum(a) * v * L.
        a = [_sigmoid_mean(lay, 2.0) for lay in members]
        for lay, a_l in zip(members, a, strict=True):
            assert densities[lay.name] == pytest.approx(
                a_l / sum(a) * 0.25 * 2, abs=1 / 64
            )
    assert densities["layer_1_query"] > densities["layer_0_query"]


def test_global_allocation_is_one_topk_over_all_scores(rng):
    model = _model(rng)
    layers = [lay for lay in model.layers if isinstance(lay, MaskedDense)]
    callback = SparsityScheduler(lambda t: 0.3, allocation="global")
    callback.set_model(model)
    callback.on_train_begin()
    callback.update(0)
    scores = np.concatenate([to_numpy(lay.scores).ravel() for lay in layers])
    expected = smpcore.topk_mask(scores, 0.3)
    got = np.concatenate([lay.mask().ravel() for lay in layers])
    np.testing.assert_array_equal(got, expected)


def test_matrix_group_and_bad_arguments(rng):
    layer = MaskedDense(2, name="layer_11_output")
    assert matrix_group(layer) == "layer__output"
    layer.matrix_type = "output"
    assert matrix_group(layer) == "output"
    with pytest.raises(ValueError, match="allocation"):
        SparsityScheduler(lambda t: 0.5, allocation="local")
    with pytest.raises(TypeError, match="density_schedule"):
        SparsityScheduler(0.5)
    with pytest.raises(ValueError, match="update_every"):
        SparsityScheduler(lambda t: 0.5, update_every=0)
    model = _model(rng, method="magnitude")
    with pytest.raises(ValueError, match="smp_s"):
        callback = SparsityScheduler(lambda t: 0.5, allocation="smp_s")
        callback.set_model(model)
        callback.on_train_begin()


def test_matrix_type_is_saved_and_groups_after_reload(rng, tmp_path):
    inputs = keras.Input((8,))
    h = inputs
    for i in range(2):
        h = MaskedDense(8, matrix_type="attn", name=f"a{i}x")(h)
        h = MaskedDense(8, matrix_type="ffn", name=f"b{i}y")(h)
    model = keras.Model(inputs, h)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    layers = [lay for lay in loaded.layers if isinstance(lay, MaskedDense)]
    assert [lay.matrix_type for lay in layers] == ["attn", "ffn"] * 2
    assert [matrix_group(lay) for lay in layers] == ["attn", "ffn"] * 2
    with pytest.raises(TypeError, match="matrix_type"):
        MaskedDense(2, matrix_type=3)
    with pytest.raises(ValueError, match="matrix_type"):
        MaskedDense(2, matrix_type="")
    assert "matrix_type" not in MaskedDense(2).get_config()
