"""Your own data without a task preset: task ``custom`` (issue 18).

Local files with the generic columns ``text`` (``text_b``) and ``label``
and your label words need no preset and no column mapping, and the run is
recorded and reported as task ``custom``, not as the default preset.
"""

from __future__ import annotations

import json
import os
import random

import pytest
from job_test_utils import run_prune
from tiny_bert import pair_rows, single_rows, write_csv

from smp_keras.pruning import run_dir as rd


def _own_files(folder, make, rename):
    rng = random.Random(1)
    files = {}
    for split, n in (("train", 48), ("test", 24)):
        rows = [
            {rename.get(k, k): v for k, v in row.items()}
            for row in make(rng, n)
        ]
        files[split] = write_csv(folder / f"{split}.csv", rows)
    return files


@pytest.fixture
def own_single(tmp_path):
    return _own_files(
        tmp_path, single_rows, {"review": "text", "stars": "label"}
    )


@pytest.fixture
def own_pairs(tmp_path):
    return _own_files(
        tmp_path, pair_rows, {"premise": "text", "hypothesis": "text_b"}
    )


def _config(tiny_model, files, folder, **overrides):
    from smp_keras.pruning.config import PruneConfig

    settings = {
        "model": tiny_model,
        "data_files": files,
        "steps": 4,
        "batch_size": 8,
        "max_length": 24,
        "density": 0.5,
        "eval_every": 0,
        "output_dir": str(folder),
        **overrides,
    }
    return PruneConfig(**settings)


def test_own_files_are_task_custom_and_recorded_so(
    tiny_model, own_single, tmp_path
):
    config = _config(
        tiny_model,
        own_single,
        tmp_path / "run",
        label_words=["terrible", "great"],
    )
    assert config.task == "custom"
    result = run_prune(config)
    with open(os.path.join(result.run_dir, rd.CONFIG)) as f:
        assert json.load(f)["config"]["task"] == "custom"
    assert result.summary().startswith("custom: accuracy on the test split")
    assert "rotten_tomatoes" not in result.summary()


def test_own_sentence_pairs_need_no_column_mapping(
    tiny_model, own_pairs, tmp_path
):
    from smp_keras.pruning.data import task_spec
    from smp_keras.pruning.evaluate import evaluate

    words = {"entailment": "Yes", "neutral": "Maybe", "contradiction": "No"}
    config = _config(tiny_model, own_pairs, tmp_path / "run", label_words=words)
    spec = task_spec(
        config.task, label_words=config.label_words, data_files=own_pairs
    )
    assert spec.text_columns == ("text", "text_b")
    # The name is read as `get_task` reads names: case and hyphens ignored.
    again = task_spec("Custom", label_words=words, data_files=own_pairs)
    assert again == spec
    assert spec.label_names == ("entailment", "neutral", "contradiction")
    result = run_prune(config)
    assert set(result.metrics) == {"accuracy"}
    # `evaluate` rebuilds the same pair task from the run directory.
    scored = evaluate(result.run_dir, split="test", jit_compile=None)
    assert scored["task"] == "custom"
    assert scored["examples"] == 24
    assert scored["metrics"]["accuracy"] == pytest.approx(
        result.metrics["accuracy"], abs=1e-6
    )


def test_own_data_errors_name_the_parameter(tiny_model, own_single):
    from smp_keras.pruning.config import PruneConfig

    with pytest.raises(ValueError, match="needs `label_words`"):
        PruneConfig(model=tiny_model, data_files=own_single)
    with pytest.raises(ValueError, match="data_files=None"):
        PruneConfig(task="custom", label_words=["bad", "good"])
    # A preset with the same files keeps its own columns and words.
    config = PruneConfig(task="sst2", data_files=own_single)
    assert config.task == "sst2"


def test_the_cli_reads_own_files_as_task_custom(own_single):
    from smp_keras.cli.main import _prune_config, build_parser

    args = build_parser().parse_args(
        [
            "prune",
            "--data-files",
            f"train={own_single['train']}",
            f"test={own_single['test']}",
            "--label-words",
            "terrible,great",
        ]
    )
    config = _prune_config(args)
    assert config.task == "custom"
    assert config.run_dir() == os.path.join("runs", "custom-smp-s-0.1")
