"""`prune` end to end on a tiny random BERT: task types, methods, resume.

Oracles: the mask artifact re-read with `smpcore` and counted with NumPy,
the task metrics recomputed by `evaluate` from the artifact alone, the
trained weights re-read with `transformers`, and an uninterrupted run for
the resumed one.
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict

import numpy as np
import pytest
from job_test_utils import Interrupt, run_prune

import smpcore
from smp_keras.data import get_task
from smp_keras.pruning import run_dir as rd
from smp_keras.pruning.evaluate import evaluate
from smp_keras.pruning.result import load_result
from smp_keras.pruning.train import prune

KINDS = ("single", "pair", "regression", "qa")


def _by_type(masks: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    groups = defaultdict(list)
    for name, mask in masks.items():
        groups[name.rsplit("/", 1)[-1]].append(mask)
    return groups


def _check_run_dir(result) -> dict[str, np.ndarray]:
    folder = result.run_dir
    for name in (rd.CONFIG, rd.METRICS, rd.MASKS, rd.PLOT, rd.LOG):
        assert os.path.isfile(os.path.join(folder, name)), name
    assert not os.path.exists(os.path.join(folder, "checkpoint"))
    assert not [f for f in os.listdir(folder) if f.endswith(".tmp")]
    with open(os.path.join(folder, rd.PLOT), "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    masks = smpcore.load_masks_file(result.artifact_path)
    kept = sum(int(m.sum()) for m in masks.values())
    assert (result.kept, result.total) == (
        kept,
        sum(m.size for m in masks.values()),
    )
    assert result.artifact_bytes == os.path.getsize(result.artifact_path)
    stored = json.load(open(os.path.join(folder, rd.METRICS)))
    assert stored["kept"] == kept
    assert load_result(folder).metrics == pytest.approx(result.metrics)
    lines = open(os.path.join(folder, rd.LOG)).read().splitlines()
    steps = [json.loads(line)["step"] for line in lines]
    assert steps[0] == 0 and steps[-1] == result.config.steps
    return masks


@pytest.mark.parametrize("kind", KINDS)
def test_every_task_type_prunes_and_reports(kind, tiny_config, request):
    if kind == "single":  # shared with other tests
        result = request.getfixturevalue("finished_run")
    else:
        result = run_prune(tiny_config(kind, eval_every=2))
    config = result.config
    masks = _check_run_dir(result)
    spec = get_task(config.task)
    assert list(result.metrics) == list(spec.metrics)
    assert list(result.zero_shot) == list(spec.metrics)
    assert (result.majority is not None) == (spec.kind == "classification")
    # SMP-S: each matrix type keeps exactly round(0.5 * n) of its weights.
    for group in _by_type(masks).values():
        size = sum(m.size for m in group)
        assert sum(int(m.sum()) for m in group) == round(0.5 * size)
    assert [p["step"] for p in result.curve] == [2, 4]
    # The artifact alone reproduces the reported metrics.
    again = evaluate(result.run_dir, jit_compile=None)
    assert again["metrics"] == pytest.approx(result.metrics, abs=1e-6)
    assert again["kept"] == result.kept


def test_smp_l_keeps_the_same_fraction_of_every_matrix(tiny_config):
    result = run_prune(tiny_config(method="smp-l", density=0.25))
    for mask in smpcore.load_masks_file(result.artifact_path).values():
        assert int(mask.sum()) == round(0.25 * mask.size)
    assert result.model_dir is None


def _hf_kernels(folder: str) -> dict[str, np.ndarray]:
    import transformers

    model = transformers.AutoModel.from_pretrained(folder)
    pattern = re.compile(r"encoder\.layer\.(\d+)\.(.+)\.weight$")
    names = {
        "attention.self.query": "query",
        "attention.self.key": "key",
        "attention.self.value": "value",
        "attention.output.dense": "attention_output",
        "intermediate.dense": "intermediate",
        "output.dense": "output",
    }
    kernels = {}
    for name, value in model.state_dict().items():
        match = pattern.search(name)
        if match and match.group(2) in names:
            key = f"transformer_layer_{match.group(1)}/{names[match.group(2)]}"
            kernels[key] = value.numpy().T
    return kernels


def _match(masks: dict[str, np.ndarray], key: str) -> np.ndarray:
    (name,) = [n for n in masks if n.endswith(key)]
    return masks[name]


def test_magnitude_baseline_keeps_the_largest_trained_weights(tiny_config):
    result = run_prune(
        tiny_config(method="magnitude", weight_learning_rate=1e-2)
    )
    masks = smpcore.load_masks_file(result.artifact_path)
    for key, kernel in _hf_kernels(result.model_dir).items():
        mask = _match(masks, key)
        assert int(mask.sum()) == round(0.5 * mask.size)
        # transformers reads the baked kernel: zero exactly where pruned.
        np.testing.assert_array_equal(kernel != 0, mask)


def test_movement_trains_weights_and_scores(tiny_config, tiny_model):
    result = run_prune(
        tiny_config(method="movement", weight_learning_rate=1e-2)
    )
    original = _hf_kernels(tiny_model)
    trained = _hf_kernels(result.model_dir)
    masks = smpcore.load_masks_file(result.artifact_path)
    changed = 0
    for key, kernel in trained.items():
        mask = _match(masks, key)
        assert int(mask.sum()) == round(0.5 * mask.size)
        changed += int(np.sum(~np.isclose(kernel, original[key] * mask)))
    assert changed > 0


def test_soft_movement_reports_the_density_it_reaches(tiny_config):
    result = run_prune(
        tiny_config(
            method="soft-movement", regularization_weight=50.0, eval_every=4
        )
    )
    masks = smpcore.load_masks_file(result.artifact_path)
    kept = sum(int(m.sum()) for m in masks.values())
    assert result.density == kept / sum(m.size for m in masks.values())
    assert result.curve[-1]["density"] == pytest.approx(result.density)


def test_fine_tune_is_dense_and_changes_the_weights(finetune_run, tiny_model):
    assert finetune_run.density == 1.0 and finetune_run.magnitude is None
    original = _hf_kernels(tiny_model)
    trained = _hf_kernels(finetune_run.model_dir)
    assert any(not np.allclose(trained[k], original[k]) for k in original)


def test_distillation_from_a_fine_tuned_run(tiny_config, finetune_run):
    result = run_prune(tiny_config(teacher=finetune_run.run_dir))
    records = [
        json.loads(line)
        for line in open(os.path.join(result.run_dir, rd.LOG))
        if '"train"' in line
    ]
    assert all(np.isfinite(r["loss"]) for r in records)
    assert "packed_accuracy" in records[-1]


def test_distillation_needs_a_classification_task(tiny_config, finetune_run):
    with pytest.raises(ValueError, match="classification"):
        run_prune(tiny_config("regression", teacher=finetune_run.run_dir))


@pytest.mark.parametrize(
    ("method", "jit_compile"),
    [("smp-s", "auto"), ("movement", None)],
    ids=["smp-s-compiled", "movement-eager"],
)
def test_resumed_run_equals_uninterrupted_run(
    method, jit_compile, tiny_config, tmp_path
):
    settings = {"method": method, "weight_learning_rate": 1e-2, "eval_every": 2}
    whole = run_prune(
        tiny_config(output_dir=str(tmp_path / "whole"), **settings),
        jit_compile=jit_compile,
    )
    config = tiny_config(output_dir=str(tmp_path / "parts"), **settings)
    with pytest.raises(KeyboardInterrupt):
        run_prune(config, callbacks=[Interrupt(3)], jit_compile=jit_compile)
    checkpoint = os.path.join(config.run_dir(), rd.CHECKPOINT)
    assert os.path.isfile(checkpoint)
    assert not os.path.isfile(os.path.join(config.run_dir(), rd.METRICS))
    resumed = run_prune(config, jit_compile=jit_compile)
    assert resumed.resumed_from == 2
    a = smpcore.load_masks_file(whole.artifact_path)
    b = smpcore.load_masks_file(resumed.artifact_path)
    assert list(a) == list(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert resumed.metrics == pytest.approx(whole.metrics)
    assert [p["step"] for p in resumed.curve] == [2, 4]
    for p, q in zip(resumed.curve, whole.curve, strict=True):
        assert p["kept"] == q["kept"]
    assert resumed.zero_shot == whole.zero_shot  # kept from the checkpoint


def test_existing_run_directories_are_protected(finished_run, tiny_config):
    folder = finished_run.run_dir
    before = {
        name: os.path.getmtime(os.path.join(folder, name))
        for name in os.listdir(folder)
    }
    same = finished_run.config
    with pytest.raises(rd.RunDirectoryError, match="finished run"):
        prune(same)
    other = tiny_config(output_dir=folder, density=0.3)
    with pytest.raises(rd.RunDirectoryError, match=r"density: 0\.5 -> 0\.3"):
        prune(other)
    # Bad input with --overwrite: nothing is destroyed.
    broken = tiny_config(
        output_dir=folder,
        overwrite=True,
        data_files={"train": os.path.join(folder, "missing.csv")},
    )
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        prune(broken)
    after = {
        name: os.path.getmtime(os.path.join(folder, name))
        for name in os.listdir(folder)
    }
    assert after == before


def test_a_foreign_folder_is_not_used(tiny_config, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(rd.RunDirectoryError, match="holds no run"):
        prune(tiny_config(output_dir=str(folder)))
    assert (folder / "notes.txt").read_text() == "keep me"


def test_overwrite_replaces_a_run_and_keeps_foreign_files(
    tiny_config, tmp_path
):
    folder = tmp_path / "run"
    folder.mkdir()
    other = tiny_config(output_dir=str(folder), density=0.9)
    rd.write_json(str(folder / rd.CONFIG), {"config": other.to_dict()})
    rd.write_json(str(folder / rd.METRICS), {"old": True})
    (folder / "notes.txt").write_text("keep me")
    result = run_prune(
        tiny_config(output_dir=str(folder), steps=2, overwrite=True)
    )
    assert (folder / "notes.txt").read_text() == "keep me"
    assert "old" not in json.load(open(folder / rd.METRICS))
    assert result.resumed_from is None


def test_teacher_logits_are_the_teacher_runs_own_predictions(
    tiny_config, tmp_path
):
    # A prototype teacher pooled at [CLS]: the distillation targets must be
    # exactly what the fine-tuned run predicts (its prototypes pooled as in
    # its training), whatever the head settings of the student.
    from smp_keras.pruning.data import load_job_data, select, task_spec
    from smp_keras.pruning.distill import teacher_logits
    from smp_keras.pruning.evaluate import load_pruned_model
    from smp_keras.pruning.model import load_tokenizer

    teacher_run = run_prune(
        tiny_config(
            output_dir=str(tmp_path / "teacher"),
            method="fine-tune",
            weight_learning_rate=1e-2,
            head="prototype",
            pooling="token",
        )
    )
    student = tiny_config(teacher=teacher_run.run_dir)
    spec = task_spec(student.task)
    tokenizer = load_tokenizer(student.model)
    data = load_job_data(student, spec, tokenizer)
    total = student.total_steps(data.train.size)
    logits = teacher_logits(student, tokenizer, spec, data.train, total)
    visited = np.flatnonzero(np.isfinite(logits[:, 0]))
    assert visited.size > 0
    model, *_ = load_pruned_model(teacher_run.run_dir)
    inputs, _ = select(data.train, visited)
    expected = model.predict(inputs, batch_size=64, verbose=0)
    np.testing.assert_allclose(logits[visited], expected, rtol=1e-4, atol=1e-5)
