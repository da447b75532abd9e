"""Bad-input fuzzing of the cheap public boundaries of `smp_keras`.

Run once per Keras backend (``KERAS_BACKEND=tensorflow|jax|torch``). The
same contract as ``test_fuzz_core.py``: a documented `ValueError` or
`TypeError` whose message names the offending argument, or a correct
result checked against an oracle (NumPy sorts, `smpcore`). Boundaries:
the `MaskedDense` constructor and setters, `smp_keras.ops.topk_mask`
(any shape, NaN/inf scores, `k` of every kind), `PruneConfig` (every field,
`from_dict`/`from_json`) and the `SparsityScheduler` arguments and
schedule values.

Documented NaN behaviour of `ops.topk_mask` (checked here): NaN ranks below
every number, `-inf` included; the mask always keeps exactly `k` entries.
"""

from __future__ import annotations

import json
import math
import warnings
from typing import Any

import keras
import numpy as np
import pytest
from contract import (
    CHOICES,
    F32_MAX,
    FUZZ,
    as_float,
    attempt,
    expect,
    int_ok,
    real_ok,
)
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import smpcore
from smp_keras import SparsityScheduler, ops
from smp_keras.layers import MaskedDense
from smp_keras.layers.masked_dense import PRUNING_METHODS
from smp_keras.pruning.config import MAX_LENGTH, PruneConfig

pytestmark = pytest.mark.usefixtures("fresh_keras")

# === The contract (as in test_fuzz_core.py) ===


def to_numpy(x: Any) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x))


# === Validity oracles ===


REALS = st.one_of(
    st.floats(-1.0, 2.0),
    st.floats(),
    st.integers(-2, 2),
    st.sampled_from(
        [
            0,
            1,
            0.0,
            1.0,
            0.5,
            5e-324,
            1 - 2**-53,
            np.float32(0.25),
            np.float64(np.nan),
            True,
            None,
            "0.5",
            [0.5],
            10**400,
            1j,
        ]
    ),
)
INTS = st.one_of(
    st.integers(-2, 6),
    st.sampled_from([2**40, 2**70, np.int64(3), True, 2.0, "3", None]),
)

# === MaskedDense ===

BIG_SCORE = float(np.float32(1e30))


@FUZZ
@given(
    units=INTS,
    density=REALS,
    method=st.one_of(
        st.sampled_from(PRUNING_METHODS),
        st.sampled_from(["TopK", "", "movement", None, 3, ["topk"]]),
    ),
    threshold=st.one_of(st.none(), REALS),
    min_density=st.one_of(st.just(0.005), REALS),
    use_bias=st.one_of(st.booleans(), st.sampled_from([np.bool_(1), 1, "no"])),
    activation=st.sampled_from([None, "relu", "gelu", "nope", 3]),
    score_initializer=st.sampled_from(["zeros", "ones", "nope", 3]),
    input_dim=st.integers(1, 5),
)
def test_masked_dense_constructor(
    units,
    density,
    method,
    threshold,
    min_density,
    use_bias,
    activation,
    score_initializer,
    input_dim,
    reliability_counter,
):
    reliability_counter.add("cases")
    sigmoid = method == "sigmoid_threshold"
    if threshold is None:
        threshold_ok = True
    elif sigmoid:
        threshold_ok = real_ok(threshold, 0, 1, low_open=True, high_open=True)
    else:
        threshold_ok = real_ok(threshold, -F32_MAX, F32_MAX)
    checks = (
        ("units", int_ok(units, 1)),
        (
            "pruning_method",
            isinstance(method, str) and method in PRUNING_METHODS,
        ),
        ("density", real_ok(density, 0, 1)),
        ("threshold", threshold_ok),
        ("min_density", real_ok(min_density, 0, 1)),
        ("use_bias", isinstance(use_bias, bool | np.bool_)),
        ("activation", activation in (None, "relu", "gelu")),
        ("score_initializer", score_initializer in ("zeros", "ones")),
    )
    bad = [name for name, ok in checks if not ok]
    if "pruning_method" in bad:  # the threshold's range depends on it
        bad.append("threshold")
    layer = expect(
        attempt(
            MaskedDense,
            units,
            density=density,
            pruning_method=method,
            threshold=threshold,
            min_density=min_density,
            use_bias=use_bias,
            activation=activation,
            score_initializer=score_initializer,
        ),
        bad,
    )
    if bad:
        return
    assert layer.density == as_float(density)
    default = 0.5 if sigmoid else 0.0
    assert layer.threshold == (
        default if threshold is None else as_float(threshold)
    )
    if int(units) > 8:
        return  # valid; too big to build here
    layer.build((input_dim,))
    size = input_dim * int(units)
    mask = layer.mask()
    assert mask.shape == (input_dim, int(units))
    if method in ("topk", "magnitude"):
        k = smpcore.topk_count(size, as_float(density))
        assert layer.kept == k and int(mask.sum()) == k
    if sigmoid:
        assert int(mask.sum()) >= smpcore.topk_count(
            size, as_float(min_density)
        )
    again = MaskedDense.from_config(layer.get_config())
    assert again.density == layer.density and again.threshold == layer.threshold


@FUZZ
@given(
    method=st.sampled_from(PRUNING_METHODS),
    density=REALS,
    threshold=REALS,
    weight=REALS,
    scores=hnp.arrays(
        np.float32,
        (3, 4),
        elements=st.floats(-BIG_SCORE, BIG_SCORE, width=32)
        | st.sampled_from([0.0, -0.0]),
    ),
)
def test_masked_dense_setters(
    method, density, threshold, weight, scores, reliability_counter
):
    reliability_counter.add("cases")
    layer = MaskedDense(4, pruning_method=method)
    layer.build((3,))
    if layer.scores is not None:
        layer.scores.assign(scores)
    expect(
        attempt(layer.set_density, density),
        [] if real_ok(density, 0, 1) else ["density"],
    )
    sigmoid = method == "sigmoid_threshold"
    threshold_ok = (
        real_ok(threshold, 0, 1, low_open=True, high_open=True)
        if sigmoid
        else real_ok(threshold, -F32_MAX, F32_MAX)
    )
    expect(
        attempt(layer.set_threshold, threshold),
        [] if threshold_ok else ["threshold"],
    )
    expect(
        attempt(layer.set_regularization_weight, weight),
        [] if real_ok(weight, 0, F32_MAX) else ["regularization_weight"],
    )
    mask = layer.mask()
    kept = smpcore.topk_count(
        12, as_float(density) if real_ok(density, 0, 1) else 1.0
    )
    assert layer.kept == kept
    if method == "topk":  # topk_count(n, k / n) == k
        want = smpcore.topk_mask(scores, kept / 12)
        np.testing.assert_array_equal(mask, want)
    elif method == "magnitude":
        kernel = to_numpy(layer.kernel)
        np.testing.assert_array_equal(
            mask, smpcore.magnitude_mask(kernel, kept / 12)
        )
    elif method == "threshold":
        np.testing.assert_array_equal(
            mask, scores > np.float32(layer.threshold)
        )
    else:
        assert mask.sum() >= smpcore.topk_count(12, layer.min_density)
    if layer.scores is not None:
        loss = float(to_numpy(layer.regularization_loss()))
        assert math.isfinite(loss) and loss >= 0.0


# === ops.topk_mask ===


def topk_oracle(scores: np.ndarray, k: int) -> np.ndarray:
    """Top-k of float32 scores, NaN below everything, lowest-index ties."""
    flat = scores.astype(np.float32).ravel()
    nan = np.isnan(flat)
    values = np.where(nan, 0.0, -flat.astype(np.float64))
    order = np.lexsort((np.arange(flat.size), values, nan))
    mask = np.zeros(flat.size, dtype=bool)
    mask[order[:k]] = True
    return mask.reshape(scores.shape)


TINY = float(np.nextafter(np.float32(0), np.float32(1)))  # subnormal
BIG = float(np.finfo(np.float32).max)
SCORE_ELEMENTS = st.one_of(
    st.floats(width=32, allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            0.0,
            -0.0,
            TINY,
            -TINY,
            BIG,
            -BIG,
            np.nan,
            -np.nan,
            np.inf,
            -np.inf,
            1.0,
        ]
    ),
)


def as_dtype(pair: tuple[np.ndarray, Any]) -> np.ndarray:
    """Casts float32 scores to another float dtype (overflow gives inf)."""
    with np.errstate(over="ignore"):
        return pair[0].astype(pair[1])


@FUZZ
@given(
    scores=st.one_of(
        st.tuples(
            hnp.arrays(
                np.float32,
                hnp.array_shapes(
                    min_dims=0, max_dims=3, min_side=0, max_side=5
                ),
                elements=SCORE_ELEMENTS,
            ),
            st.sampled_from([np.float32, np.float16, np.float64]),
        ).map(as_dtype),
        hnp.arrays(
            st.sampled_from([np.int32, np.bool_, np.uint8]),
            hnp.array_shapes(max_dims=2, max_side=3),
        ),
    ),
    k=st.one_of(
        st.integers(-2, 130),
        st.sampled_from([1.0, np.float32(2), True, None, "1", 2**40]),
    ),
    k_kind=st.sampled_from(["python", "numpy", "tensor"]),
)
def test_ops_topk_mask(scores, k, k_kind, reliability_counter):
    reliability_counter.add("cases")
    if k_kind == "numpy" and isinstance(k, int) and not isinstance(k, bool):
        k = np.int64(k)
    tensor_k = (
        k_kind == "tensor"
        and isinstance(k, int)
        and not isinstance(k, bool)
        and abs(k) < 2**31
    )
    if tensor_k:
        k = keras.ops.convert_to_tensor(np.int32(k))
    n = scores.size
    bad = []
    if scores.dtype.kind != "f":
        bad.append("scores")
    if not tensor_k and not int_ok(k, 0, n):
        bad.append("k")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # float64 -> float32 overflow: inf
        mask = expect(attempt(ops.topk_mask, scores, k), bad)
    if bad:
        return
    count = min(max(int(to_numpy(k)) if tensor_k else int(k), 0), n)
    got = to_numpy(mask)
    assert got.shape == scores.shape and got.dtype == np.float32
    assert set(np.unique(got)) <= {0.0, 1.0}
    assert int(got.sum()) == count  # exact, NaN or not
    with np.errstate(over="ignore"):
        finite32 = scores.astype(np.float32)
    np.testing.assert_array_equal(
        got.astype(bool), topk_oracle(finite32, count)
    )
    if scores.dtype != np.float64 and not np.isnan(finite32).any() and n:
        if np.isfinite(finite32).all():
            want = smpcore.topk_mask(finite32, count / n)
            np.testing.assert_array_equal(got.astype(bool), want)


# === PruneConfig ===

FIELD_SPECS: dict[str, tuple[str, dict[str, Any]]] = {
    "density": ("real", {"low": 0, "high": 1, "low_open": True}),
    "steps": ("int", {"low": 1, "optional": True}),
    "epochs": ("real", {"low": 0, "low_open": True, "optional": True}),
    "batch_size": ("int", {"low": 1}),
    "max_length": ("int", {"low": 8, "high": MAX_LENGTH}),
    "learning_rate": ("real", {"low": 0, "low_open": True}),
    "weight_learning_rate": ("real", {"low": 0, "low_open": True}),
    "temperature": ("real", {"low": 0, "low_open": True}),
    "warmup_steps": ("int", {"low": 0}),
    "cooldown_fraction": ("real", {"low": 0, "high": 0.99}),
    "cooldown_steps": ("int", {"low": 0, "optional": True}),
    "regularization_weight": ("real", {"low": 0, "high": F32_MAX}),
    "logit_scale": ("real", {"low": 0, "low_open": True, "optional": True}),
    "score_init_scale": ("real", {"low": 0, "low_open": True}),
    "eval_every": ("int", {"low": 0, "optional": True}),
    "hold_eval_every": ("int", {"low": 0, "optional": True}),
    "eval_max_examples": ("int", {"low": 1, "optional": True}),
    "test_max_examples": ("int", {"low": 1, "optional": True}),
    "checkpoint_every": ("int", {"low": 1, "optional": True}),
    "seed": ("int", {"low": 0, "high": 2**32 - 1}),  # documented maximum
    "dropout": ("real", {"low": 0, "high": 0.9}),
    **{
        field: ("choice", {"choices": choices})
        for field, choices in CHOICES.items()
    },
    "distribute": ("choice", {"choices": ("data-parallel",), "optional": True}),
    "model": ("text", {}),
    # None: "custom" with data files, else the default preset.
    "task": ("text", {"optional": True}),
    "template": ("text", {"optional": True}),
    "teacher": ("text", {"optional": True}),
    "output_dir": ("text", {"optional": True}),
    "overwrite": ("bool", {}),
    "group_by_length": ("bool", {}),
}
OTHER_FIELDS = ("data_files", "columns", "label_words", "label_names")

FIELD_VALUES = st.one_of(
    REALS,
    INTS,
    st.text(max_size=5),
    st.sampled_from(
        [
            "smp-s",
            "mean",
            "zeros",
            "data-parallel",
            "auto",
            "  ",
            "x.csv",
            b"x",
            ("a", "b"),
            {"a": "b"},
            [],
            ["great", "bad"],
            {"train": ["a.csv"]},
            {"": "x"},
            {"text": 3},
            [""],
            False,
        ]
    ),
)


def field_ok(kind: str, value: Any, spec: dict[str, Any]) -> bool:
    """Validity of one `PruneConfig` field, from its documentation."""
    if value is None:
        return spec.get("optional", False)
    if kind in ("int", "real") and isinstance(value, np.generic):
        # Python numbers only (JSON round trip); np.float64 is a float.
        return (
            kind == "real"
            and isinstance(value, float)
            and real_ok(
                value,
                spec["low"],
                spec.get("high", math.inf),
                low_open=spec.get("low_open", False),
            )
        )
    if kind == "int":
        return int_ok(value, spec["low"], spec.get("high"))
    if kind == "real":
        return real_ok(
            value,
            spec["low"],
            spec.get("high", math.inf),
            low_open=spec.get("low_open", False),
        )
    if kind == "choice":
        return isinstance(value, str) and value in spec["choices"]
    if kind == "text":
        return isinstance(value, str) and bool(value.strip())
    return isinstance(value, bool)


@FUZZ
@given(
    field=st.sampled_from(sorted(FIELD_SPECS) + list(OTHER_FIELDS)),
    value=FIELD_VALUES,
)
def test_prune_config_fields(field, value, reliability_counter):
    reliability_counter.add("cases")
    outcome = attempt(PruneConfig, **{field: value})
    if field in FIELD_SPECS:
        kind, spec = FIELD_SPECS[field]
        ok = field_ok(kind, value, spec)
        if field == "label_names":
            ok = False
        if field == "method" and value == "soft-movement":
            # documented: soft movement needs regularization_weight > 0
            expect(outcome, ["regularization_weight"])
            return
        config = expect(outcome, [] if ok else [field])
    elif outcome.error is not None:
        expect(outcome, [field, "label_names"])  # names the field
        return
    else:
        config = outcome.value
    if config is None:
        return
    # A valid config survives JSON, and `from_dict` gives it back.
    again = PruneConfig.from_json(config.to_json())
    assert again == config
    if field in FIELD_SPECS and value is not None:
        stored = getattr(config, field)
        assert stored == value or stored == as_float(value)


@FUZZ
@given(
    data=st.one_of(
        st.dictionaries(
            st.one_of(
                st.sampled_from(sorted(FIELD_SPECS)),
                st.text(max_size=6),
                st.integers(),
            ),
            FIELD_VALUES,
            max_size=3,
        ),
        st.sampled_from([None, [], "density", 3]),
    ),
    as_json=st.booleans(),
)
def test_prune_config_from_dict_and_json(data, as_json, reliability_counter):
    reliability_counter.add("cases")
    text: Any = None
    if as_json:
        try:
            text = json.dumps(data)
        except (TypeError, ValueError):
            text = data  # not JSON-serialisable: pass the object itself
        outcome = attempt(PruneConfig.from_json, text)
    else:
        outcome = attempt(PruneConfig.from_dict, data)
    if outcome.error is None:
        assert isinstance(outcome.value, PruneConfig)
        return
    message = str(outcome.error)
    if as_json and not isinstance(text, str):
        assert "`text`" in message, message
        return
    unknown = isinstance(data, dict) and any(
        k not in FIELD_SPECS and k not in OTHER_FIELDS for k in data
    )
    if unknown:
        assert "Unknown PruneConfig key" in message
    elif not isinstance(data, dict):
        assert "`config`" in message or "`text`" in message, message
    else:
        soft = data.get("method") == "soft-movement"
        assert (
            any(f"`{k}" in message for k in data)
            or "`label_names" in message
            or (soft and "`regularization_weight" in message)
        )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        "[1, 2]",
        "null",
        '{"density": NaN}',
        '{"config": 3}',
        b"\xff\xfe{",
        3,
        None,
    ],
)
def test_prune_config_from_json_garbage(text, reliability_counter):
    reliability_counter.add("cases")
    outcome = attempt(PruneConfig.from_json, text)
    assert outcome.error is not None
    message = str(outcome.error)
    assert "Unknown PruneConfig key" in message or any(
        f"`{name}`" in message for name in ("text", "config", "density")
    ), message


# === SparsityScheduler ===


def _model() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((6,)),
            MaskedDense(5, name="dense_0"),
            MaskedDense(3, pruning_method="magnitude", name="dense_1"),
            MaskedDense(4, name="dense_2"),
        ]
    )


@FUZZ
@given(
    allocation=st.one_of(
        st.sampled_from(["uniform", "smp_s", "global"]),
        st.sampled_from(["local", "", None, 3]),
    ),
    temperature=st.one_of(st.just(1.0), REALS),
    update_every=st.one_of(st.just(1), INTS),
    initial_step=st.one_of(st.none(), INTS),
    value=st.one_of(st.floats(0, 1), REALS),
    reg=st.one_of(st.none(), REALS),
    schedule_kind=st.sampled_from(["callable", "value"]),
)
def test_sparsity_scheduler(
    allocation,
    temperature,
    update_every,
    initial_step,
    value,
    reg,
    schedule_kind,
    reliability_counter,
):
    reliability_counter.add("cases")
    schedule: Any = (
        (lambda step: value) if schedule_kind == "callable" else value
    )
    reg_schedule = None if reg is None else (lambda step: reg)
    checks = (
        ("density_schedule", schedule_kind == "callable"),
        ("allocation", allocation in ("uniform", "smp_s", "global")),
        ("temperature", real_ok(temperature, 0, low_open=True)),
        ("update_every", int_ok(update_every, 1)),
        ("initial_step", initial_step is None or int_ok(initial_step, 0)),
    )
    bad = [name for name, ok in checks if not ok]
    callback = expect(
        attempt(
            SparsityScheduler,
            schedule,
            allocation=allocation,
            temperature=temperature,
            regularization_schedule=reg_schedule,
            update_every=update_every,
            initial_step=initial_step,
        ),
        bad,
    )
    if bad:
        return
    model = _model()
    callback.set_model(model)
    begin = attempt(callback.on_train_begin)
    if allocation == "smp_s":  # dense_1 has no scores
        assert begin.error is not None and "allocation='smp_s'" in str(
            begin.error
        )
        return
    expect(begin, [])
    run_bad = [] if real_ok(value, 0, 1) else ["density_schedule"]
    if not run_bad and reg is not None and not real_ok(reg, 0, F32_MAX):
        run_bad = ["regularization_schedule"]
    densities = expect(attempt(callback.update, 0), run_bad)
    if run_bad:
        return
    layers = {layer.name: layer for layer in model.layers}
    for name, layer in layers.items():
        density = densities[name]
        assert 0.0 <= density <= 1.0
        assert int(layer.mask().sum()) == smpcore.topk_count(
            layer.kernel_size, density
        )
    sizes = {n: layer.kernel_size for n, layer in layers.items()}
    kept = sum(round(densities[n] * sizes[n]) for n in sizes)
    if allocation == "global":
        assert kept == smpcore.topk_count(sum(sizes.values()), as_float(value))
    else:
        assert all(d == as_float(value) for d in densities.values())
