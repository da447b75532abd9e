"""`PruneConfig`: validation, JSON round trip, derived values (no Keras)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smp_keras.pruning import run_dir as rd
from smp_keras.pruning.config import (
    DEFAULTS,
    METHODS,
    PruneConfig,
    migrate_config,
)
from smp_keras.pruning.data import batch_indices


def test_defaults_come_from_the_defaults_block():
    config = PruneConfig()
    for name in ("model", "task", "density", "head", "pooling", "score_init"):
        assert getattr(config, name) == DEFAULTS[name]
    assert config.total_steps(10_000) == DEFAULTS["steps"]


def test_round_trip_through_json():
    config = PruneConfig(
        task="snli",
        data_files={"train": "a.csv", "validation": ["b.csv", "c.csv"]},
        columns={"text": "review"},
        label_words={"0": "Yes", "1": "Maybe", "2": "No"},
        method="movement",
        epochs=1.5,
        teacher="runs/teacher",
        logit_scale=5,
    )
    again = PruneConfig.from_json(config.to_json())
    assert again == config
    assert json.loads(config.to_json())["logit_scale"] == 5.0


def test_a_run_config_file_is_accepted():
    config = PruneConfig(density=0.3)
    text = json.dumps({"config": config.to_dict(), "resolved": {}})
    assert PruneConfig.from_json(text) == config


@pytest.mark.parametrize(
    ("changes", "error", "words"),
    [
        ({"density": 0.0}, ValueError, "`density` must be in (0, 1]"),
        ({"density": 1.5}, ValueError, "density=1.5"),
        ({"density": "0.1"}, TypeError, "`density` must be a real number"),
        ({"density": True}, TypeError, "density"),
        ({"method": "smp"}, ValueError, "`method` must be one of"),
        ({"steps": 0}, ValueError, "`steps` must be an int >= 1"),
        ({"steps": 2.0}, TypeError, "`steps` must be an int"),
        ({"steps": 5, "epochs": 1.0}, ValueError, "not both"),
        ({"batch_size": -1}, ValueError, "batch_size"),
        ({"head": "cls"}, ValueError, "`head` must be one of"),
        ({"pooling": "max"}, ValueError, "`pooling`"),
        ({"logit_scale": 0}, ValueError, "`logit_scale`"),
        ({"learning_rate": math.inf}, ValueError, "learning_rate"),
        ({"label_words": "great"}, TypeError, "label_words"),
        ({"label_words": ["good", ""]}, ValueError, "label_words"),
        ({"label_names": ["a", "b"]}, ValueError, "label_names"),
        ({"columns": {"text": 3}}, TypeError, "columns['text']"),
        ({"data_files": {"train": 3}}, TypeError, "data_files['train']"),
        ({"overwrite": "yes"}, TypeError, "`overwrite` must be a bool"),
        ({"dropout": 0.95}, ValueError, "`dropout`"),
        ({"structure": "2-4"}, ValueError, "structure='2-4'"),
        ({"structure": "5:4"}, ValueError, "structure='5:4'"),
        ({"structure": 24}, TypeError, "`structure`"),
        ({"calibration_examples": 0}, ValueError, "`calibration_examples`"),
        ({"calibration_examples": 1.5}, TypeError, "calibration_examples"),
        ({"score_init": "random"}, ValueError, "`score_init` must be one of"),
    ],
)
def test_invalid_fields_name_field_and_value(changes, error, words):
    with pytest.raises(error) as info:
        PruneConfig(**changes)
    assert words in str(info.value)


def test_from_dict_rejects_unknown_keys_and_wrong_types():
    with pytest.raises(ValueError, match=r"Unknown PruneConfig key\(s\)"):
        PruneConfig.from_dict({"densty": 0.1})
    with pytest.raises(TypeError, match="`seed` must be an int"):
        PruneConfig.from_dict({"seed": "0"})
    with pytest.raises(TypeError, match="must be a mapping"):
        PruneConfig.from_dict(["density", 0.1])
    with pytest.raises(ValueError, match="not valid JSON"):
        PruneConfig.from_json("{density: 0.1")


def test_derived_values():
    config = PruneConfig(epochs=2, batch_size=32, cooldown_fraction=0.25)
    assert config.total_steps(100) == math.ceil(2 * 100 / 32)
    assert config.schedule_steps(100) == (0, 25)
    assert PruneConfig(cooldown_steps=7).schedule_steps(100) == (0, 7)
    with pytest.raises(ValueError, match="warmup_steps"):
        PruneConfig(warmup_steps=60, cooldown_steps=40).schedule_steps(100)
    assert PruneConfig(method="fine-tune").final_density == 1.0
    assert PruneConfig(method="fine-tune").run_dir().endswith("-fine-tune-1")
    assert PruneConfig(head="prototype").resolved_logit_scale("prototype") == 20
    assert PruneConfig(logit_scale=3).resolved_logit_scale("mlm") == 3
    trains = {
        m: PruneConfig(method=m, regularization_weight=1.0).trains_weights
        for m in METHODS
    }
    assert trains == {
        "smp-s": False,
        "smp-l": False,
        "magnitude": True,
        "movement": True,
        "soft-movement": True,
        "wanda": False,
        "wanda-fine-tune": True,
        "fine-tune": True,
    }
    with pytest.raises(
        ValueError, match="regularization_weight.*soft-movement"
    ):
        PruneConfig(method="soft-movement")  # would prune nothing


def _old_run_dir(folder, **changes) -> dict:
    """A run directory as older versions wrote it: λ named `reg_weight`."""
    config = PruneConfig(output_dir=str(folder)).to_dict()
    config["reg_weight"] = config.pop("regularization_weight")
    config.update(changes)
    folder.mkdir()
    data = {"config": config, "resolved": {}, "smp_keras_version": "0.1.0"}
    (folder / rd.CONFIG).write_text(json.dumps(data))
    return config


def test_the_old_name_of_the_regularization_weight_is_read(tmp_path):
    old = {"method": "soft-movement", "reg_weight": 400}
    config = PruneConfig.from_dict(old)
    assert config.regularization_weight == 400.0
    assert "reg_weight" not in config.to_dict()
    assert PruneConfig.from_json(json.dumps({"config": old})) == config
    # The same value under both names is no conflict.
    both = {**old, "regularization_weight": 400.0}
    assert PruneConfig.from_dict(both) == config
    assert migrate_config(old) == {
        "method": "soft-movement",
        "regularization_weight": 400,
    }
    assert old == {"method": "soft-movement", "reg_weight": 400}  # a copy

    # A run directory of an older version: read, and resumable.
    folder = tmp_path / "run"
    _old_run_dir(folder, reg_weight=2.5)
    loaded = rd.run_config_of(str(folder))
    assert loaded == PruneConfig(
        output_dir=str(folder), regularization_weight=2.5
    )
    assert rd.read_run_config(str(folder / rd.CONFIG)) == loaded
    assert rd.check_run_dir(loaded) == (str(folder), True)  # resumes


def test_old_and_new_names_with_different_values_are_refused(tmp_path):
    both = {"reg_weight": 400.0, "regularization_weight": 1.0}
    for read in (PruneConfig.from_dict, migrate_config):
        with pytest.raises(ValueError) as info:
            read(both)
        message = str(info.value)
        assert "`reg_weight`" in message
        assert "`regularization_weight`" in message
        assert "reg_weight=400.0" in message
        assert "regularization_weight=1.0" in message
    folder = tmp_path / "run"
    _old_run_dir(folder, regularization_weight=1.0, reg_weight=400.0)
    with pytest.raises(rd.RunDirectoryError, match="`reg_weight`"):
        rd.run_config_of(str(folder))


def test_a_lambda_beyond_float32_is_refused_before_the_run():
    # Finite in float64, but the layers hold it in float32.
    largest = float(np.finfo(np.float32).max)
    assert PruneConfig(regularization_weight=largest).regularization_weight
    with pytest.raises(ValueError, match="regularization_weight=1e"):
        PruneConfig(regularization_weight=1e39)


def test_structure_fixes_the_density_at_n_over_m():
    config = PruneConfig(method="smp-l", structure="2:4")
    assert (config.structure, config.nm, config.density) == ("2:4", (2, 4), 0.5)
    assert config.final_density == 0.5
    assert config.run_dir() == "runs/rotten_tomatoes-smp-l-0.5-2of4"
    # Normalised; a pair is read too; the density n/m may be given.
    for text in (" 2 : 4", (2, 4), [2, 4]):
        again = PruneConfig(method="wanda", structure=text, density=0.5)
        assert again.structure == "2:4"
    assert PruneConfig(method="magnitude", structure="1:3").density == 1 / 3
    assert PruneConfig.from_json(config.to_json()) == config
    with pytest.raises(ValueError) as info:
        PruneConfig(method="smp-l", structure="2:4", density=0.1)
    message = str(info.value)
    assert "density=0.1" in message and "structure='2:4'" in message
    assert "n/m=0.5" in message
    assert PruneConfig().density == DEFAULTS["density"]  # unstructured


@pytest.mark.parametrize(
    ("method", "why"),
    [
        ("smp-s", "shares one budget between matrices"),
        ("soft-movement", "a threshold keeps no fixed count"),
        ("fine-tune", "keeps every weight"),
    ],
)
def test_structure_is_refused_where_it_cannot_apply(method, why):
    with pytest.raises(ValueError) as info:
        PruneConfig(method=method, structure="2:4", regularization_weight=1.0)
    message = str(info.value)
    assert f"method={method!r}" in message and "structure='2:4'" in message
    assert why in message
    assert (
        "'smp-l', 'magnitude', 'movement', 'wanda' or 'wanda-fine-tune'"
        in message
    )


def test_wanda_trains_nothing():
    config = PruneConfig(method="wanda", steps=50, calibration_examples=16)
    assert config.total_steps(1000) == 0
    assert config.schedule_steps(0) == (0, 0)
    assert config.resolved_hold_eval_every(0) == 0
    assert not config.trains_weights
    assert config.calibration_examples == 16
    assert PruneConfig().calibration_examples == 128
    with pytest.raises(ValueError, match="method='wanda', teacher='runs/t'"):
        PruneConfig(method="wanda", teacher="runs/t")


def test_wanda_fine_tune_holds_the_final_density_from_the_first_step():
    config = PruneConfig(method="wanda-fine-tune", steps=120, density=0.1)
    assert config.total_steps(1000) == 120
    # No decay: the whole run is the hold phase (cool-down = every step).
    assert config.schedule_steps(120) == (0, 120)
    assert config.resolved_hold_eval_every(120) == 20
    assert config.trains_weights and config.final_density == 0.1
    # It trains, so it takes a teacher and an N:M structure.
    assert PruneConfig(method="wanda-fine-tune", teacher="runs/t").teacher
    nm = PruneConfig(method="wanda-fine-tune", structure="2:4")
    assert nm.density == 0.5


def test_a_run_directory_without_the_issue_21_fields_loads(tmp_path):
    folder = tmp_path / "run"
    config = PruneConfig(output_dir=str(folder)).to_dict()
    del config["structure"], config["calibration_examples"]
    folder.mkdir()
    data = {"config": config, "resolved": {}, "smp_keras_version": "0.1.0"}
    (folder / rd.CONFIG).write_text(json.dumps(data))
    loaded = rd.run_config_of(str(folder))
    assert loaded == PruneConfig(output_dir=str(folder))
    assert loaded.structure is None
    assert rd.check_run_dir(loaded) == (str(folder), True)  # resumes
    assert "structure" not in migrate_config(config)  # only when complete
    assert migrate_config(config, complete=True)["structure"] is None


def test_same_run_ignores_output_dir_and_overwrite_only():
    a = PruneConfig(output_dir="x")
    assert a.same_run(PruneConfig(output_dir="y", overwrite=True))
    assert not a.same_run(PruneConfig(seed=1))


@given(
    seed=st.integers(0, 2**31),
    rows=st.integers(1, 50),
    batch=st.integers(1, 20),
    start=st.integers(0, 30),
    length=st.integers(1, 10),
)
def test_batches_are_a_pure_function_of_seed_and_step(
    seed, rows, batch, start, length
):
    whole = batch_indices(seed, rows, batch, 0, start + length)
    part = batch_indices(seed, rows, batch, start, start + length)
    assert part.shape == (length, batch)
    np.testing.assert_array_equal(whole[start:], part)
    # Every epoch is a permutation: each row once per `rows` consecutive.
    flat = batch_indices(seed, rows, 1, 0, 2 * rows).ravel()
    for epoch in range(2):
        chunk = flat[epoch * rows : (epoch + 1) * rows]
        assert sorted(chunk.tolist()) == list(range(rows))
