"""The training recipe of the job (issue 17), on a tiny random BERT.

Learning-rate schedules, best-checkpoint selection and bucketed padding.
Oracles: Keras's own schedules and the closed forms, `evaluate` re-scoring
the shipped artifact alone, the fully padded path for the bucketed one,
and an uninterrupted run for a resumed one.
"""

from __future__ import annotations

import math
import os
import shutil

import keras
import numpy as np
import pytest
from job_test_utils import Interrupt, make_config, run_prune
from tiny_bert import FILLER, NEGATIVE, POSITIVE, write_csv

import smpcore
from smp_keras.pruning import checkpoint
from smp_keras.pruning import run_dir as rd
from smp_keras.pruning.data import (
    batch_indices,
    bucket_lengths,
    example_lengths,
    grouped_batch_indices,
    trim,
)
from smp_keras.pruning.evaluate import evaluate
from smp_keras.pruning.metrics import predict_split
from smp_keras.pruning.model import ScoreWeightAdam, learning_rate_schedule

# A run long enough to have a hold phase with several evaluations.
HOLD = {
    "select": "best",
    "steps": 8,
    "cooldown_steps": 4,
    "eval_every": 2,
    "hold_eval_every": 1,
    "checkpoint_every": 2,
}


# === Learning-rate schedules ===


@pytest.mark.parametrize(
    ("kind", "closed_form"),
    [
        ("linear", lambda t, T: 1 - t / T),
        ("cosine", lambda t, T: 0.5 * (1 + math.cos(math.pi * t / T))),
        ("constant", lambda t, T: 1.0),
    ],
)
def test_learning_rate_schedules_follow_their_closed_form(kind, closed_form):
    schedule = learning_rate_schedule(kind, 0.02, 40)
    for t in (0, 1, 13, 39, 40):
        value = schedule if kind == "constant" else schedule(t)
        value = float(keras.ops.convert_to_numpy(value))
        assert value == pytest.approx(0.02 * closed_form(t, 40), abs=1e-9)


def test_learning_rate_schedule_rejects_bad_input():
    with pytest.raises(ValueError, match="kind='step'"):
        learning_rate_schedule("step", 0.02, 10)
    with pytest.raises(ValueError, match="initial"):
        learning_rate_schedule("linear", 0.0, 10)
    with pytest.raises(ValueError, match="total_steps"):
        learning_rate_schedule("linear", 0.02, 0)


def test_weight_learning_rate_follows_the_score_schedule():
    """Under a schedule, the weights' rate keeps its ratio to the scores'."""
    schedule = learning_rate_schedule("linear", 0.1, 4)
    opt = ScoreWeightAdam(learning_rate=schedule, weight_learning_rate=0.01)
    w = keras.Variable(np.zeros(1), name="kernel")
    s = keras.Variable(np.zeros(1), name="scores")
    steps = []
    for _ in range(3):
        before = [float(keras.ops.convert_to_numpy(v)[0]) for v in (w, s)]
        opt.apply([np.ones(1), np.ones(1)], [w, s])
        after = [float(keras.ops.convert_to_numpy(v)[0]) for v in (w, s)]
        steps.append([b - a for a, b in zip(after, before, strict=True)])
    # Adam's first steps move by about the learning rate (unit gradients).
    for t, (dw, ds) in enumerate(steps):
        assert ds == pytest.approx(0.1 * (1 - t / 4), rel=1e-3)
        assert dw == pytest.approx(0.01 * (1 - t / 4), rel=1e-3)


def test_the_job_decays_the_learning_rate_to_zero(finished_run):
    assert finished_run.config.lr_schedule == "linear"  # the default
    optimizer = finished_run.model.optimizer
    assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == 4
    rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    assert rate == pytest.approx(0.0, abs=1e-12)


# === Best-checkpoint selection ===


@pytest.fixture(scope="module")
def hold_run(tiny_model, data_files, tmp_path_factory):
    """A finished SMP-S run with a hold phase of 4 evaluated steps."""
    folder = tmp_path_factory.mktemp("hold")
    return run_prune(
        make_config(tiny_model, data_files, folder, "single", **HOLD)
    )


def _eligible(result):
    return [p for p in result.curve if p["final_density"]]


def test_best_selection_ships_the_best_final_density_masks(hold_run):
    result = hold_run
    total, cooldown = 8, 4
    steps = [p["step"] for p in result.curve]
    assert steps == [2, 4, 5, 6, 7, 8]
    eligible = _eligible(result)
    assert [p["step"] for p in eligible] == [5, 6, 7, 8]
    assert all(p["step"] > total - cooldown for p in eligible)
    assert all(p["density"] == pytest.approx(0.5, abs=0.01) for p in eligible)
    values = [p["metrics"]["accuracy"] for p in eligible]
    best = eligible[values.index(max(values))]  # earliest of the best
    selected = result.selected
    assert selected["select"] == "best"
    assert selected["step"] == best["step"]
    assert selected["value"] == pytest.approx(max(values))
    # The shipped artifact alone reproduces the selected validation score
    # (the tiny validation split is smaller than eval_max_examples).
    again = evaluate(result.run_dir, split="validation", jit_compile=None)
    assert again["metrics"]["accuracy"] == pytest.approx(selected["value"])
    stored = rd.read_json(os.path.join(result.run_dir, rd.METRICS))
    assert stored["selected"] == selected


def test_last_selection_ships_the_last_step(tiny_config):
    result = run_prune(tiny_config(**{**HOLD, "select": "last"}))
    assert result.selected == {"select": "last", "step": 8}
    again = evaluate(result.run_dir, split="validation", jit_compile=None)
    last = result.curve[-1]
    assert again["metrics"]["accuracy"] == pytest.approx(
        last["metrics"]["accuracy"]
    )


def test_fine_tuning_selects_from_every_evaluation(tiny_config):
    result = run_prune(tiny_config(method="fine-tune", **HOLD))
    assert all(p["final_density"] for p in result.curve)
    values = [p["metrics"]["accuracy"] for p in result.curve]
    assert result.selected["value"] == pytest.approx(max(values))


def test_default_hold_evaluations_spread_over_the_hold_phase(tiny_config):
    config = tiny_config(steps=300, cooldown_steps=90)
    assert config.resolved_hold_eval_every(300) == 15
    assert tiny_config(steps=300, method="fine-tune").resolved_hold_eval_every(
        300
    ) == math.ceil(300 / 6)
    assert tiny_config(hold_eval_every=0).resolved_hold_eval_every(4) == 0


def test_a_resumed_run_keeps_its_best_checkpoint(
    hold_run, tiny_config, tmp_path
):
    config = tiny_config(output_dir=str(tmp_path / "parts"), **HOLD)
    with pytest.raises(KeyboardInterrupt):
        run_prune(config, callbacks=[Interrupt(7)])
    # A copy of the interrupted run whose checkpoint lost its best state
    # is refused, naming the missing array.
    forged = tmp_path / "forged"
    shutil.copytree(config.run_dir(), forged)
    path = os.path.join(forged, rd.CHECKPOINT)
    arrays, meta = checkpoint.read_file(path)
    assert meta["best"] is not None and meta["best"]["step"] <= 6
    del arrays["best_0"]
    checkpoint.write_file(path, arrays, meta)
    with pytest.raises(rd.RunDirectoryError, match="best_0"):
        run_prune(tiny_config(output_dir=str(forged), **HOLD))
    # The intact one resumes to the uninterrupted run's selection.
    resumed = run_prune(config)
    assert resumed.resumed_from == 6
    assert resumed.selected == hold_run.selected
    a = smpcore.load_masks_file(hold_run.artifact_path)
    b = smpcore.load_masks_file(resumed.artifact_path)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


# === Bucketed padding ===


@pytest.fixture
def varied_config(tiny_config, tmp_path):
    """`tiny_config` on sentences of 1 to 19 words (every bucket used)."""
    rng = np.random.default_rng(0)

    def rows(n: int) -> list[dict[str, object]]:
        out = []
        for i in range(n):
            words = list(rng.choice(FILLER, size=int(rng.integers(0, 19))))
            pool = POSITIVE if i % 2 else NEGATIVE
            words.insert(int(rng.integers(0, len(words) + 1)), pool[i % 5])
            out.append({"review": " ".join(words), "stars": i % 2})
        return out

    files = {
        split: write_csv(tmp_path / f"varied_{split}.csv", rows(n))
        for split, n in (("train", 48), ("validation", 40))
    }

    def make(**overrides: object) -> object:
        return tiny_config(data_files=files, **overrides)

    return make


def test_bucket_lengths_are_few_and_cover_max_length():
    for max_length in (8, 20, 24, 64, 128, 512):
        buckets = bucket_lengths(max_length)
        assert 1 <= len(buckets) <= 4
        assert buckets[-1] == max_length
        assert list(buckets) == sorted(set(buckets))
    with pytest.raises(ValueError, match="max_length=0"):
        bucket_lengths(0)


def test_bucketed_padding_computes_the_fully_padded_run(
    varied_config, tmp_path
):
    runs = {
        padding: run_prune(
            varied_config(
                padding=padding, output_dir=str(tmp_path / padding), **HOLD
            )
        )
        for padding in ("buckets", "max_length")
    }
    a, b = runs["buckets"], runs["max_length"]
    assert a.resolved["buckets"] == [8, 16, 24]
    assert b.resolved["buckets"] is None
    assert a.metrics == pytest.approx(b.metrics, abs=1e-6)
    assert a.zero_shot == pytest.approx(b.zero_shot, abs=1e-6)
    for p, q in zip(a.curve, b.curve, strict=True):
        assert p["metrics"] == pytest.approx(q["metrics"], abs=1e-6)
    scores_a = [v for v in a.model.trainable_variables if "scores" in v.path]
    scores_b = [v for v in b.model.trainable_variables if "scores" in v.path]
    for u, v in zip(scores_a, scores_b, strict=True):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(u),
            keras.ops.convert_to_numpy(v),
            rtol=1e-4,
            atol=1e-5,
        )


def test_bucketed_prediction_equals_padded_prediction(
    finished_run, varied_config
):
    from smp_keras.pruning.data import load_job_data, task_spec
    from smp_keras.pruning.model import load_tokenizer

    config = varied_config()
    spec = task_spec(config.task)
    data = load_job_data(config, spec, load_tokenizer(config.model))
    inputs = data.train.inputs
    lengths = example_lengths(inputs)
    buckets = bucket_lengths(config.max_length)
    assert lengths.min() <= buckets[0] < buckets[1] < lengths.max()
    assert lengths.max() <= config.max_length
    padded = predict_split(finished_run.model, inputs)
    bucketed = predict_split(finished_run.model, inputs, buckets=buckets)
    np.testing.assert_allclose(bucketed, padded, rtol=1e-5, atol=1e-5)
    cut = trim(inputs, int(lengths.max()))
    assert cut["token_ids"].shape[1] == lengths.max()


def test_grouped_batches_use_the_same_rows_in_similar_lengths():
    lengths = np.random.default_rng(0).integers(1, 60, size=500)
    plain = batch_indices(3, 500, 8, 0, 100)
    grouped = grouped_batch_indices(3, lengths, 8, 0, 100, group=10)
    assert grouped.shape == plain.shape
    for g in range(10):  # each group holds the same rows
        a = np.sort(plain[10 * g : 10 * (g + 1)].ravel())
        b = np.sort(grouped[10 * g : 10 * (g + 1)].ravel())
        np.testing.assert_array_equal(a, b)
    spread = lambda rows: np.mean(np.ptp(lengths[rows], axis=1))  # noqa: E731
    assert spread(grouped) < 0.5 * spread(plain)
    # A pure function of (seed, step): any window equals the full stream's.
    window = grouped_batch_indices(3, lengths, 8, 37, 71, group=10)
    np.testing.assert_array_equal(window, grouped[37:71])


def test_group_by_length_trains(tiny_config):
    result = run_prune(tiny_config(group_by_length=True, **HOLD))
    assert result.config.group_by_length
    assert result.density == pytest.approx(0.5, abs=0.01)
    assert 0.0 <= result.metrics["accuracy"] <= 1.0


# === The command line ===


def test_recipe_flags_reach_the_config():
    from smp_keras.cli.main import _prune_config, build_parser

    defaults = _prune_config(build_parser().parse_args(["prune"]))
    assert (defaults.lr_schedule, defaults.select, defaults.padding) == (
        "linear",
        "last",
        "buckets",
    )
    assert defaults.group_by_length is False
    args = build_parser().parse_args(
        [
            "prune",
            "--lr-schedule",
            "cosine",
            "--select",
            "best",
            "--hold-eval-every",
            "3",
            "--padding",
            "max_length",
            "--group-by-length",
        ]
    )
    config = _prune_config(args)
    assert (config.lr_schedule, config.select, config.padding) == (
        "cosine",
        "best",
        "max_length",
    )
    assert config.hold_eval_every == 3 and config.group_by_length is True
    with pytest.raises(SystemExit):
        build_parser().parse_args(["prune", "--select", "first"])
