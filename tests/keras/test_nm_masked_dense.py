"""N:M structure: `smp_keras.ops.nm_mask` and `MaskedDense(structure=...)`."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from keras_backend_utils import (
    assert_straight_through,
    jit_compile_flag,
    to_numpy,
)

import smpcore
from smp_keras import (
    MaskedDense,
    SparsityScheduler,
    bake,
    load_masks,
    ops,
    override_masks,
    save_masks,
)

# Few distinct values, so that groups tie often; both zeros, subnormals.
_TIES = [0.0, -0.0, 1.0, -1.0, 0.5, 1e-45, -1e-45, 3e38, -3e38]
_GROUPS, _COLUMNS = 3, 4  # the padded shape: one compile per m on JAX


@st.composite
def _nm_cases(draw):
    m = draw(st.sampled_from([1, 2, 3, 4, 8]))
    n = draw(st.integers(1, m))
    elements = st.one_of(
        st.sampled_from(_TIES),
        st.floats(width=32, allow_nan=False, allow_infinity=False),
    )
    shape = st.tuples(
        st.integers(1, _GROUPS).map(lambda g: g * m),
        st.integers(1, _COLUMNS),
    )
    return draw(arrays(np.float32, shape, elements=elements)), n, m


def _padded_nm_mask(scores: np.ndarray, n: int, m: int) -> np.ndarray:
    """`ops.nm_mask` of `scores` inside a fixed `(3m, 4)` array.

    Whole extra groups and extra columns are separate groups, so the
    padding changes nothing in the real entries.
    """
    padded = np.zeros((_GROUPS * m, _COLUMNS), "float32")
    padded[: scores.shape[0], : scores.shape[1]] = scores
    mask = to_numpy(ops.nm_mask(padded, n, m))
    assert mask.dtype == np.float32
    return mask[: scores.shape[0], : scores.shape[1]]


# === ops.nm_mask ===


@given(case=_nm_cases())
def test_nm_mask_equals_smpcore_bit_for_bit(case):
    scores, n, m = case
    mask = _padded_nm_mask(scores, n, m)
    assert set(np.unique(mask)) <= {0.0, 1.0}
    np.testing.assert_array_equal(
        mask.astype(bool), smpcore.nm_mask(scores, n, m)
    )
    assert smpcore.is_nm_mask(mask.astype(bool), n, m)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_nm_mask_all_ties_keep_the_lowest_indices(n):
    scores = np.zeros((8, 3), "float32")
    scores[::2] = -0.0  # -0.0 ties +0.0
    expected = np.tile(np.arange(4) < n, 2)[:, None].repeat(3, axis=1)
    np.testing.assert_array_equal(to_numpy(ops.nm_mask(scores, n, 4)), expected)


def test_nm_mask_other_axis_dtypes_and_nan(rng):
    scores = rng.normal(size=(3, 8)).astype("float16")
    got = to_numpy(ops.nm_mask(scores, 2, 4, axis=-1)).astype(bool)
    np.testing.assert_array_equal(got, smpcore.nm_mask(scores, 2, 4, axis=1))
    # NaN ranks below every number, -inf included.
    nan = np.array([np.nan, -np.inf, 1e-45, np.nan], "float32")
    np.testing.assert_array_equal(
        to_numpy(ops.nm_mask(nan, 2, 4)), [0, 1, 1, 0]
    )
    np.testing.assert_array_equal(
        to_numpy(ops.nm_mask(nan, 3, 4)), [1, 1, 1, 0]
    )


def test_nm_mask_bad_arguments_raise():
    scores = np.zeros((6, 3), "float32")
    with pytest.raises(ValueError, match=r"multiple of m=4.*shape=\(6, 3\)"):
        ops.nm_mask(scores, 2, 4)
    with pytest.raises(ValueError, match="`n` must be <= `m`"):
        ops.nm_mask(scores, 3, 2)
    with pytest.raises(ValueError, match="n"):
        ops.nm_mask(scores, 0, 2)
    with pytest.raises(ValueError, match="at least one dimension"):
        ops.nm_mask(np.float32(1.0), 1, 1)
    with pytest.raises(TypeError, match="float dtype"):
        ops.nm_mask(np.zeros((4, 2), "int32"), 2, 4)


# === MaskedDense(structure=...) ===


def _layer(structure="2:4", **kwargs) -> MaskedDense:
    kwargs.setdefault("score_initializer", "random_normal")
    kwargs.setdefault("bias_initializer", "random_normal")
    return MaskedDense(6, structure=structure, **kwargs)


@pytest.mark.parametrize("structure", ["2:4", (1, 2), [4, 8]])
def test_forward_is_x_times_the_nm_masked_kernel(structure, rng):
    layer = _layer(structure, activation="relu")
    n, m = layer.structure
    x = rng.normal(size=(2, 3, 8)).astype("float32")
    y = to_numpy(layer(x))
    kernel, bias = to_numpy(layer.kernel), to_numpy(layer.bias)
    mask = smpcore.nm_mask(to_numpy(layer.scores), n, m)
    np.testing.assert_array_equal(layer.mask(), mask)
    assert layer.density == n / m and layer.kept == mask.sum() == 48 * n // m
    expected = np.maximum(x @ (kernel * mask) + bias, 0.0)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_magnitude_structure_keeps_largest_kernel_entries_per_group():
    layer = _layer(pruning_method="magnitude")
    layer.build((8,))
    kernel = to_numpy(layer.kernel)
    np.testing.assert_array_equal(
        layer.mask(), smpcore.nm_mask(np.abs(kernel), 2, 4)
    )


def test_scores_get_straight_through_gradients(rng):
    """dL/dS = (x^T delta) * W, as for top-k: non-zero where pruned too."""
    layer = _layer()
    grad = assert_straight_through(layer, rng)
    assert np.all(grad[~layer.mask()] != 0)


def test_fit_keeps_exact_nm_masks_and_learns_which_weights(rng):
    layer = _layer(name="nm", score_initializer="zeros")
    other = MaskedDense(6, name="free", score_initializer="random_normal")
    model = keras.Sequential([keras.Input((8,)), layer, other])
    model.compile(
        keras.optimizers.Adam(0.05), "mse", jit_compile=jit_compile_flag()
    )
    before = layer.mask()
    schedule = smpcore.cubic_density_schedule(final_density=0.25, total_steps=8)
    x = rng.normal(size=(64, 8)).astype("float32")
    y = x[:, ::-1][:, :6] * 2.0
    scheduler = SparsityScheduler(schedule)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[scheduler])
    after = layer.mask()
    assert smpcore.is_nm_mask(after, 2, 4)
    assert (after != before).any()
    assert layer.density == 0.5 and layer.kept == 24
    assert scheduler.densities == {
        "nm": 0.5,
        "free": pytest.approx(schedule(7)),
    }
    assert other.kept == smpcore.topk_count(36, schedule(7))


@pytest.mark.parametrize("allocation", ["smp_s", "global"])
def test_budget_sharing_allocations_refuse_nm_layers(allocation, rng):
    model = keras.Sequential(
        [keras.Input((8,)), _layer(name="nm"), MaskedDense(4, name="free")]
    )
    model.compile("adam", "mse")
    scheduler = SparsityScheduler(lambda step: 0.5, allocation=allocation)
    x = rng.normal(size=(8, 8)).astype("float32")
    with pytest.raises(ValueError, match=rf"{allocation}.*N:M.*\['nm'\]"):
        model.fit(x, x[:, :4], verbose=0, callbacks=[scheduler])


def test_set_density_accepts_only_n_over_m_or_dense():
    layer = _layer()
    layer.build((8,))
    nm = layer.mask()
    layer.set_density(1.0)
    assert layer.mask().all() and layer.kept == 48 and layer.density == 1.0
    layer.set_density(0.5)
    np.testing.assert_array_equal(layer.mask(), nm)
    with pytest.raises(ValueError, match=r"structure='2:4'.*n/m=0\.5.*0\.3"):
        layer.set_density(0.3)
    with pytest.raises(ValueError, match="density=0.25"):
        _layer(density=0.25)
    assert _layer("1:3", density=1 / 3).density == 1 / 3


def test_set_mask_takes_nm_or_all_ones_masks(rng):
    layer = _layer()
    layer.build((8,))
    target = smpcore.nm_mask(rng.normal(size=(8, 6)), 2, 4)
    layer.set_mask(target)
    np.testing.assert_array_equal(layer.mask(), target)
    assert layer.density == 0.5 and layer.kept == 24
    state = layer.mask_state()
    layer.set_mask(np.ones((8, 6), bool))
    assert layer.mask().all() and layer.density == 1.0
    layer.restore_mask_state(state)
    np.testing.assert_array_equal(layer.mask(), target)
    with pytest.raises(ValueError, match="not 2:4"):
        layer.set_mask(np.eye(8, 6, dtype=bool))


def test_override_masks_dense_and_mask_files(rng, tmp_path):
    model = keras.Sequential([keras.Input((8,)), _layer(name="nm")])
    layer = model.layers[0]
    mask = layer.mask()
    with override_masks(model, "dense") as kept:
        assert kept == 48 and layer.mask().all()
    np.testing.assert_array_equal(layer.mask(), mask)
    # The magnitude baseline of an N:M layer is its N:M magnitude mask.
    kernel = to_numpy(layer.kernel)
    with override_masks(model, 0.5) as kept:
        assert kept == 24
        np.testing.assert_array_equal(
            layer.mask(), smpcore.nm_mask(np.abs(kernel), 2, 4)
        )
    np.testing.assert_array_equal(layer.mask(), mask)
    with pytest.raises(
        ValueError, match=r"masks=0.3 for layers \['nm \(2:4\)'\]"
    ):
        with override_masks(model, 0.3):
            pass
    np.testing.assert_array_equal(layer.mask(), mask)
    save_masks(model, tmp_path / "masks.smpmask")
    layer.scores.assign(rng.normal(size=(8, 6)).astype("float32"))
    load_masks(model, tmp_path / "masks.smpmask")
    np.testing.assert_array_equal(layer.mask(), mask)


def test_mask_files_that_are_not_nm_are_refused_whole(rng, tmp_path):
    model = keras.Sequential(
        [keras.Input((8,)), _layer(name="nm"), MaskedDense(4, name="free")]
    )
    nm, free = model.layers
    before = nm.mask(), free.mask()
    unstructured = smpcore.topk_mask(rng.normal(size=(8, 6)), 0.5)
    assert not smpcore.is_nm_mask(unstructured, 2, 4)
    path = tmp_path / "bad.smpmask"
    smpcore.save_masks_file(
        path, {"nm": unstructured, "free": np.zeros((6, 4), bool)}
    )
    with pytest.raises(ValueError, match="'nm' has structure='2:4'"):
        load_masks(model, path)
    np.testing.assert_array_equal(nm.mask(), before[0])
    np.testing.assert_array_equal(free.mask(), before[1])
    # An all-ones mask is the dense model, which an N:M layer can take.
    smpcore.save_masks_file(
        path, {"nm": np.ones((8, 6), bool), "free": np.ones((6, 4), bool)}
    )
    load_masks(model, path)
    assert nm.mask().all() and nm.density == 1.0


def test_config_keras_file_and_bake_keep_the_structure(rng, tmp_path):
    inputs = keras.Input((8,))
    hidden = _layer((2, 4), name="nm", activation="relu")(inputs)
    outputs = MaskedDense(
        4, pruning_method="magnitude", structure="1:2", name="mag"
    )(hidden)
    model = keras.Model(inputs, outputs)
    config = model.layers[1].get_config()
    assert config["structure"] == "2:4" and config["density"] == 0.5
    clone = MaskedDense.from_config(config)
    assert clone.structure == (2, 4) and clone.get_config() == config

    x = rng.normal(size=(5, 8)).astype("float32")
    y = to_numpy(model(x))
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(to_numpy(loaded(x)), y)
    for name in ("nm", "mag"):
        old, new = model.get_layer(name), loaded.get_layer(name)
        assert new.structure == old.structure
        np.testing.assert_array_equal(new.mask(), old.mask())

    baked = bake(model)
    assert not [lay for lay in baked.layers if isinstance(lay, MaskedDense)]
    np.testing.assert_allclose(to_numpy(baked(x)), y, rtol=1e-6, atol=1e-6)
    kernel = to_numpy(baked.get_layer("nm").kernel)
    assert smpcore.is_nm_mask(kernel != 0, 2, 4)
    np.testing.assert_array_equal(kernel != 0, model.get_layer("nm").mask())


def test_bad_structures_raise():
    with pytest.raises(ValueError, match="structure.*'2-4'"):
        MaskedDense(4, structure="2-4")
    with pytest.raises(ValueError, match="1 <= N <= M.*'4:2'"):
        MaskedDense(4, structure="4:2")
    with pytest.raises(ValueError, match=r"`n` must be <= `m`.*\(4, 2\)"):
        MaskedDense(4, structure=(4, 2))
    with pytest.raises(TypeError, match="structure"):
        MaskedDense(4, structure=2)
    for method in ("threshold", "sigmoid_threshold"):
        with pytest.raises(
            ValueError, match=f"structure='2:4', pruning_method='{method}'"
        ):
            MaskedDense(4, pruning_method=method, structure="2:4")
    layer = MaskedDense(4, structure="2:4", name="q")
    with pytest.raises(ValueError, match=r"'q'.*m=4.*kernel shape \(6, 4\)"):
        layer.build((None, 6))
