"""The job with Wanda and N:M structure (issue 21): `method="wanda"`,
`structure="2:4"` and `score_init="wanda"` end to end on a tiny BERT.

Oracles: `smpcore.wanda_mask` on the job's calibration norms,
`smpcore.is_nm_mask` on the artifact, `smpcore.wanda_scores` for the
score initialisation, and the run re-read by `evaluate` / `load_result`.
"""

from __future__ import annotations

import json
import os

import keras
import numpy as np
import pytest
from job_test_utils import run_prune

import smpcore
from smp_keras.model_utils import named_masked_layers
from smp_keras.pruning import run_dir as rd
from smp_keras.pruning.evaluate import evaluate, load_pruned_model
from smp_keras.pruning.result import load_result
from smp_keras.pruning.train import PruneJob


def _job_norms(config):
    """The norms the job computes (its `load` runs the calibration)."""
    job = PruneJob(config, quiet=True, jit_compile=None)
    job.load()
    return job


def test_wanda_job_sets_wanda_masks_and_writes_a_run(tiny_config):
    config = tiny_config(method="wanda", calibration_examples=20, steps=7)
    job = _job_norms(config)
    assert job.calibration_examples == 20
    result = run_prune(config)
    folder = result.run_dir
    for name in (rd.CONFIG, rd.METRICS, rd.MASKS, rd.PLOT, rd.LOG):
        assert os.path.isfile(os.path.join(folder, name)), name
    assert result.model_dir is None  # trains no weight
    assert result.resolved["total_steps"] == 0  # `steps` ignored
    assert result.resolved["calibration_examples"] == 20
    masks = smpcore.load_masks_file(result.artifact_path)
    layers = named_masked_layers(job.model)
    assert set(masks) == set(layers)
    for name, layer in layers.items():
        kernel = keras.ops.convert_to_numpy(layer.kernel)
        expected = smpcore.wanda_mask(kernel, job.input_norms[name], 0.5)
        np.testing.assert_array_equal(masks[name], expected, err_msg=name)
    assert result.density == 0.5
    log = [json.loads(line) for line in open(os.path.join(folder, rd.LOG))]
    assert [r["event"] for r in log] == ["baselines", "one_shot"]
    assert log[-1]["density"] == 0.5
    # Loads back: the stored result and the masks in a rebuilt model.
    assert load_result(folder).metrics == pytest.approx(result.metrics)
    model, *_ = load_pruned_model(folder)
    for name, layer in named_masked_layers(model).items():
        np.testing.assert_array_equal(layer.mask(), masks[name])
    scored = evaluate(folder, jit_compile=None)
    assert scored["metrics"] == pytest.approx(result.metrics)


@pytest.mark.parametrize("method", ["smp-l", "magnitude", "wanda"])
def test_structure_2_4_jobs_ship_exact_2_4_masks(method, tiny_config):
    config = tiny_config(method=method, structure="2:4", density=None)
    assert config.density == 0.5
    result = run_prune(config)
    masks = smpcore.load_masks_file(result.artifact_path)
    for name, mask in masks.items():
        assert smpcore.is_nm_mask(mask, 2, 4), name
    assert result.density == 0.5
    stored = json.load(open(os.path.join(result.run_dir, rd.METRICS)))
    assert stored["config"]["structure"] == "2:4"
    assert load_result(result.run_dir).config.structure == "2:4"
    # The rebuilt model has the structure too, and takes the masks.
    model, *_ = load_pruned_model(result.run_dir)
    for name, layer in named_masked_layers(model).items():
        assert layer.structure == (2, 4)
        np.testing.assert_array_equal(layer.mask(), masks[name])


def test_wanda_score_init_starts_from_wanda_scores(tiny_config):
    config = tiny_config(
        method="smp-l", score_init="wanda", score_init_scale=3.0
    )
    job = _job_norms(config)
    assert job.calibration_examples == 48  # the whole (small) train split
    for name, layer in named_masked_layers(job.model).items():
        kernel = keras.ops.convert_to_numpy(layer.kernel).astype("float64")
        s = smpcore.wanda_scores(kernel, job.input_norms[name])
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(layer.scores),
            3.0 * s / np.std(s),
            rtol=1e-5,
            err_msg=name,
        )
    # Without the wanda init no calibration is run.
    assert _job_norms(tiny_config(method="smp-l")).input_norms is None


@pytest.mark.parametrize("structure", [None, "2:4"])
def test_wanda_fine_tune_trains_the_kept_weights_under_fixed_wanda_masks(
    structure, tiny_config
):
    settings = {"structure": structure, "density": None} if structure else {}
    config = tiny_config(
        method="wanda-fine-tune",
        calibration_examples=20,
        steps=6,
        eval_every=2,
        select="best",
        **settings,
    )
    job = _job_norms(config)  # the pre-trained model and its norms
    result = run_prune(config)
    masks = smpcore.load_masks_file(result.artifact_path)
    pretrained = named_masked_layers(job.model)
    assert set(masks) == set(pretrained)
    # The masks are Wanda's of the pre-trained weights, unchanged by the
    # six steps that trained the weights under them.
    for name, layer in pretrained.items():
        kernel = keras.ops.convert_to_numpy(layer.kernel)
        if structure:
            expected = smpcore.wanda_mask(
                kernel, job.input_norms[name], structure=(2, 4)
            )
        else:
            expected = smpcore.wanda_mask(kernel, job.input_norms[name], 0.5)
        np.testing.assert_array_equal(masks[name], expected, err_msg=name)
    assert result.density == 0.5
    log = [
        json.loads(line) for line in open(os.path.join(result.run_dir, rd.LOG))
    ]
    events = [r["event"] for r in log]
    assert events[:2] == ["baselines", "one_shot"]
    assert events.count("train") >= 3
    # Every evaluation is at the final density, so `best` may pick any.
    assert result.curve and all(
        p["density"] == pytest.approx(0.5) and p["final_density"]
        for p in result.curve
    )
    assert result.resolved["cooldown_steps"] == 6
    # The kept weights trained, the pruned ones are zero in the export.
    assert result.model_dir is not None
    model, *_ = load_pruned_model(result.run_dir)
    changed = 0
    for name, layer in named_masked_layers(model).items():
        np.testing.assert_array_equal(layer.mask(), masks[name])
        before = keras.ops.convert_to_numpy(pretrained[name].kernel)
        after = keras.ops.convert_to_numpy(layer.kernel)
        np.testing.assert_array_equal(after[~masks[name]], 0.0)
        changed += int(np.sum(after[masks[name]] != before[masks[name]]))
    assert changed > 0
    scored = evaluate(result.run_dir, jit_compile=None)
    assert scored["metrics"] == pytest.approx(result.metrics)
