"""Shared pytest configuration: hypothesis profiles.

Select one with the ``HYPOTHESIS_PROFILE`` environment variable:

* ``dev`` (default): more examples, randomised, for local runs;
* ``ci``: fewer examples, no deadline, derandomised (the same examples on
  every run), for CI and the shared 2-core machines.

And the fixtures of every test of the pruning job (``tests/pruning``, the
``smp`` command in ``tests/cli``, ``tests/reliability``,
``tests/distribute``): a tiny random `BertForMaskedLM` with a
`BertTokenizerFast`, small local data files for every task type (single
sentence, sentence pair, regression, extractive QA; built by
``tests/tiny_bert.py``) and fast configs (``tests/job_test_utils.py``). The
labels follow simple word rules, so the data are learnable but nothing is
hard-coded about the model. Keras is imported only by the fixtures that
need it, so ``tests/core`` stays Keras-free.
"""

from __future__ import annotations

import os
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from job_test_utils import make_config, run_prune
from tiny_bert import (
    pair_rows,
    qa_rows,
    regression_rows,
    save_tiny_bert,
    single_rows,
    write_csv,
    write_jsonl,
)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

settings.register_profile(
    "dev",
    max_examples=100,
    deadline=None,
)
settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture
def single_torch_thread():
    """Runs torch on one intra-op thread during a test (other backends: no-op).

    Keras tests use small tensors and many small ops; on a shared machine a
    second intra-op thread makes every op wait for the scheduler (3-10x
    slower here). The previous setting is restored after the test.
    """
    import keras

    if keras.backend.backend() != "torch":
        yield
        return
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# === The pruning job's fixtures ===


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """Folder of a tiny random BertForMaskedLM with its fast tokenizer."""
    return save_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="session")
def data_files(tmp_path_factory) -> dict[str, dict[str, str]]:
    """Local files per task type: `{kind: {split: path}}`."""
    folder = tmp_path_factory.mktemp("data")
    rng = random.Random(0)
    files: dict[str, dict[str, str]] = {}
    makers = {
        "single": (single_rows, write_csv, "csv"),
        "pair": (pair_rows, write_jsonl, "jsonl"),
        "regression": (regression_rows, write_jsonl, "jsonl"),
        "qa": (qa_rows, write_jsonl, "jsonl"),
    }
    for kind, (make, write, ext) in makers.items():
        files[kind] = {
            split: write(folder / f"{kind}_{split}.{ext}", make(rng, n))
            for split, n in (("train", 48), ("validation", 24))
        }
    return files


@pytest.fixture
def tiny_config(tiny_model, data_files, tmp_path):
    """`make(kind="single", **overrides)` -> a fast PruneConfig."""

    def make(kind: str = "single", **overrides: Any) -> Any:
        return make_config(tiny_model, data_files, tmp_path, kind, **overrides)

    return make


@pytest.fixture(scope="session")
def finished_run(tiny_model, data_files, tmp_path_factory):
    """A finished SMP-S run on the single-sentence data (PruneResult)."""
    folder = tmp_path_factory.mktemp("finished")
    config = make_config(tiny_model, data_files, folder, "single", eval_every=2)
    return run_prune(config)


@pytest.fixture(scope="session")
def finetune_run(tiny_model, data_files, tmp_path_factory):
    """A finished dense fine-tuning run (a distillation teacher)."""
    folder = tmp_path_factory.mktemp("finetune")
    config = make_config(
        tiny_model,
        data_files,
        folder,
        "single",
        method="fine-tune",
        weight_learning_rate=1e-2,
    )
    return run_prune(config)
